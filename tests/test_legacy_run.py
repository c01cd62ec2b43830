"""A run folder written by an earlier version (tests/fixtures/run_46892f9, before the architecture step)
still loads, evaluates and resumes: exactly (bitwise) across a stop, and to the weights that version
reached (to rounding: the fixture may have been written on another CPU kind)."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

import semicycle
from semicycle.cli import main
from semicycle import checkpoints
from semicycle.evaluation.runner import evaluate
from semicycle.models import build_from_arch

FIXTURE = Path(__file__).parent / "fixtures" / "run_46892f9"


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run, ignore=shutil.ignore_patterns("final_models.pt", "metrics_val.json", "*.md", "*.py"))
    return run


def resume(run: Path, *overrides: str) -> dict:
    assert main(["train", "--resume", str(run), *overrides]) == 0
    return checkpoints.load(run / "ckpt")


def test_an_old_run_resumes_bitwise_across_a_stop_and_reaches_that_versions_weights(old_run, tmp_path):
    straight = tmp_path / "straight"
    shutil.copytree(old_run, straight)
    assert checkpoints.load(old_run / "ckpt")["progress"]["iteration"] == 3
    resume(old_run, "train.max_steps=5")
    stopped_and_resumed = resume(old_run, "train.max_steps=0")
    uninterrupted = resume(straight, "train.max_steps=0")
    assert stopped_and_resumed["progress"]["iteration"] == uninterrupted["progress"]["iteration"] == 8
    for name, weights in uninterrupted["models"].items():
        for key, value in weights.items():
            assert torch.equal(stopped_and_resumed["models"][name][key], value), f"{name}.{key}"
    # weights can differ much more than what the networks compute (a bias before instance norm has no
    # gradient but noise, which Adam scales up), so the networks' outputs are compared
    reference = torch.load(FIXTURE / "final_models.pt", weights_only=True)
    assert reference["iteration"] == 8
    inputs = {3: torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1}
    for name, arch in uninterrupted["arch"].items():
        kind = "generator" if name.startswith("G") else "discriminator"
        outputs = []
        for weights in (uninterrupted["models"][name], reference["models"][name]):
            net = build_from_arch(arch, kind).eval()
            net.load_state_dict(weights)
            with torch.no_grad():
                outputs.append(net(inputs[arch["kwargs"]["in_channels"]]))
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-3, msg=name)

def test_an_old_run_loads_for_inference_and_evaluates_as_that_version_did(old_run, tmp_path):
    translator = semicycle.load(old_run)
    label_map = translator.translate(Image.new("RGB", (48, 40), (90, 120, 200)), direction="AtoB")
    assert label_map.size == (48, 40)
    metrics = evaluate(str(old_run), split="val", out_dir=tmp_path / "eval")
    before = json.loads((FIXTURE / "metrics_val.json").read_text())
    assert set(metrics) == set(before)
    for direction in ("photo_to_label", "label_to_photo"):
        assert set(metrics[direction]) == set(before[direction])
    # pixel decisions may flip on another CPU kind: one pixel of 8 x 32 x 32 is 1.2e-4
    new, old = metrics["photo_to_label"], before["photo_to_label"]
    for key in ("pixel_accuracy", "mean_class_accuracy", "mean_iou"):
        assert new[key] == pytest.approx(old[key], abs=2e-3), key
