"""ONNX export and the onnxruntime backend: parity with PyTorch's eval-mode translation for every registry
generator and both output heads, and the round trip of a demo checkpoint through the CLI."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

import semicycle
from semicycle.api import Translator
from semicycle.cli import main
from semicycle.data.io import list_images, save_image
from semicycle.data.synthetic import VAL_INDEX_OFFSET, make_pair
from semicycle.data.palettes import get_palette
from semicycle.data.transforms import to_float
from semicycle.errors import SemicycleError
from semicycle.export import export_network
from semicycle.models import create_generator, list_generators
from semicycle.data.labels import label_channels, network_input

from conftest import RGB_INPUT_ONLY, read_halves
from tiny_runs import TINY

REPO = Path(__file__).resolve().parents[1]
PALETTE = get_palette("facades")
FAST_PARITY_GENERATOR = "resnet_6blocks"  # the ONNX parity of `make test-fast`; every generator in `make test`
HEADS = {  # the image head takes one-hot label maps (void channel included); the label head outputs class logits
    "image": dict(in_channels=label_channels(PALETTE), out_channels=3),
    "label": dict(in_channels=3, out_channels=label_channels(PALETTE), output="logits"),
}


def parity_sizes(multiple: int) -> list[tuple[int, int]]:
    """A square and a non-square size the network takes without padding."""
    side = max(multiple, 64)
    return [(side, side), (side, 2 * side)]


def real_inputs(data_root, head: str, height: int, width: int) -> torch.Tensor:
    """Two facades val images (photos, or label maps for the image head) resized to height x width, in [-1, 1]."""
    pairs = read_halves(data_root / "facades" / "val", count=2)
    side = 1 if head == "image" else 0
    resample = Image.NEAREST if head == "image" else Image.BICUBIC
    arrays = [np.asarray(Image.fromarray(pair[side]).resize((width, height), resample)) for pair in pairs]
    return to_float(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))


@pytest.mark.parametrize("name,head", [  # the smallest network in the fast set; the larger ones are slow
    pytest.param(name, head, marks=() if name == FAST_PARITY_GENERATOR else pytest.mark.slow)
    for name in list_generators() for head in sorted(HEADS) if not (head == "image" and name in RGB_INPUT_ONLY)])
def test_onnxruntime_translates_as_pytorch_eval_mode(name, head, data_root, tmp_path):
    torch.manual_seed(0)
    net = create_generator(name, ngf=8, **HEADS[head])
    pytorch = Translator({"AtoB": net}, torch.device("cpu"), {}, PALETTE)
    with torch.no_grad():  # batch norm's running statistics from real images, as after training
        net.train()
        for height, width in parity_sizes(net.size_multiple):
            net(network_input(real_inputs(data_root, head, height, width), net.arch["kwargs"]["in_channels"], PALETTE))
    path = export_network(net, tmp_path / f"{name}_{head}.onnx", direction="AtoB", palette=PALETTE)
    assert net.training  # the export left the network's mode alone
    exported = semicycle.load(path)
    for height, width in parity_sizes(net.size_multiple):
        inputs = real_inputs(data_root, head, height, width)
        expected = pytorch.translate_tensor(inputs)  # translate: eval mode (running statistics, no dropout)
        got = exported.translate_tensor(inputs)
        assert got.shape == expected.shape == inputs.shape
        if head == "image":
            assert (got - expected).abs().max() < 1e-4, (height, width)
        else:
            assert torch.equal(got, expected), f"{(got != expected).any(1).float().mean():.2%} of the pixels decode differently"


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def test_a_demo_checkpoint_exports_and_translates_as_semicycle_translate(tmp_path, capsys):
    run, val = tmp_path / "demo", tmp_path / "val"
    assert main(["demo", "--out", str(run), "train.max_steps=2", "log.progress=false", "runtime.precision=fp32"]) == 0
    for index in range(4):  # val photos of the demo's embedded data set
        save_image(Image.fromarray(make_pair(VAL_INDEX_OFFSET + index, size=64)[0]), val / f"{index}.png")
    for direction in ("AtoB", "BtoA"):
        exported = tmp_path / f"demo_{direction}.onnx"
        assert main(["export", "--checkpoint", str(run), "--direction", direction, "--output", str(exported)]) == 0
        props = {prop.key: prop.value for prop in onnx.load(str(exported)).metadata_props}
        assert props["direction"] == direction and json.loads(props["semicycle.arch"])["name"] == "resnet_6blocks"
        assert props["size_multiple"] == "4" and "[-1, 1]" in props["input"] and "tanh" in props["output"]
        outputs = {}
        for backend, source in (("pytorch", run), ("onnxruntime", exported)):
            outputs[backend] = tmp_path / f"{direction}_{backend}"
            assert main(["translate", "--backend", backend, "--checkpoint", str(source), "--direction", direction,
                         "--input", str(val), "--output", str(outputs[backend])]) == 0
        for path in list_images(outputs["pytorch"]):
            expected, got = read_png(path), read_png(outputs["onnxruntime"] / path.name)
            assert got.shape == expected.shape == (64, 64, 3)
            # the same PNG, but for outputs within ~1e-6 of a rounding boundary (a few in 100,000 values)
            assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3, path.name
            if direction == "AtoB" and path.name == "0.png":
                assert_consumer_snippet_translates(exported, val / path.name, expected, tmp_path / "consumer")
    assert "semicycle translate --backend onnxruntime" in capsys.readouterr().out


def assert_consumer_snippet_translates(exported, photo, expected, folder) -> None:
    """docs/export.md's consumer code (numpy, onnxruntime and Pillow only; semicycle made unimportable) on an
    exported file: the PNG of semicycle translate, up to the rounding of outputs within ~1e-6 of a boundary."""
    text = (REPO / "docs" / "export.md").read_text()
    snippet = next(block.split("\n", 1)[1] for block in text.split("```")[1:] if block.startswith("python")
                   and "InferenceSession" in block)
    folder.mkdir()
    shutil.copy(exported, folder / "model.onnx")
    shutil.copy(photo, folder / "photo.png")
    done = subprocess.run([sys.executable, "-c", "import sys; sys.modules['semicycle'] = None\n" + snippet],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = read_png(folder / "translated.png")
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3


def test_a_label_map_exports_with_its_palette(tmp_path):
    net = create_generator("resnet_6blocks", ngf=4, **HEADS["image"])
    exported = semicycle.load(export_network(net, tmp_path / "labels_to_photo.onnx", direction="BtoA", palette=PALETTE))
    assert exported.directions == ["BtoA"] and exported.palette == PALETTE
    props = {prop.key: prop.value for prop in onnx.load(str(tmp_path / "labels_to_photo.onnx")).metadata_props}
    assert json.loads(props["palette"])["colors"] == [list(c) for c in PALETTE.colors]
    assert f"channel {PALETTE.num_classes} = void" in props["input"]


@pytest.mark.parametrize("argv, message", [
    (["--direction", "AtoB", "--output", "model.onx"], "must end in .onnx"),
    (["--direction", "BtoA", "--output", "model.onnx"], "direction 'BtoA' is not in"),
])
def test_export_refuses_in_one_line(tmp_path, synthetic_root, capsys, argv, message):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), f"data.root={synthetic_root}", *TINY, "train.max_steps=1",
                 "train.method=paired", "paired.task=translate"]) == 0
    capsys.readouterr()
    argv = [item if not item.startswith("model.") else str(tmp_path / item) for item in argv]
    assert main(["export", "--checkpoint", str(run), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_packages_and_wrong_files_are_one_line_errors(tmp_path, monkeypatch):
    net = create_generator("resnet_6blocks", ngf=4)
    with pytest.raises(SemicycleError, match=r"need the onnx package: pip install 'semicycle\[export\]'"):
        with monkeypatch.context() as patched:
            patched.setitem(sys.modules, "onnx", None)
            export_network(net, tmp_path / "a.onnx", direction="AtoB", palette=None)
    with pytest.raises(SemicycleError, match="onnxruntime package"):
        with monkeypatch.context() as patched:
            patched.setitem(sys.modules, "onnxruntime", None)
            semicycle.load(tmp_path / "a.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not a model")
    with pytest.raises(SemicycleError, match="broken.onnx: onnxruntime cannot load this file"):
        semicycle.load(tmp_path / "broken.onnx")
    foreign = tmp_path / "foreign.onnx"
    onnx.save(onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])), str(foreign))
    with pytest.raises(SemicycleError, match="not exported by 'semicycle export'"):
        semicycle.load(foreign)
    with pytest.raises(SemicycleError, match="backend pytorch runs a run folder or a .pt checkpoint"):
        semicycle.load(foreign, backend="pytorch")
    with pytest.raises(SemicycleError, match="backend onnxruntime runs a .onnx file"):
        semicycle.load(tmp_path / "run", backend="onnxruntime")
