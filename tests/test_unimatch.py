"""train.method=unimatch (Yang et al. 2023): pseudo-labels and their confidence mask, the strong views' batch
contract, learning on synthetic data, every registry segmenter, exact resume, export, and its refusals."""

import json

import pytest
import torch

import semicycle
from semicycle.cli import main
from semicycle.config import list_presets, load_preset
from semicycle.data import load_data
from semicycle.data.pairing import training_sets
from semicycle import checkpoints
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import ConfigError
from semicycle.losses import masked_cross_entropy
from semicycle.methods import create_method, method_class
from semicycle.methods.unimatch import pseudo_labels
from semicycle.models import create_generator, list_generators
from semicycle.runtime import Runtime
from test_training import assert_states_equal
from tiny_runs import tiny_config

UNIMATCH = ("train.method=unimatch", "data.palette=synthetic", "pairs.count=4", "data.max_images=12", "log.sample_every=0",
            "log.log_every=1", "log.checkpoint_every=0")


def logged(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]


def test_the_pseudo_label_mask_obeys_the_threshold():
    margin = torch.linspace(-6, 6, 97).view(1, 1, 97)  # two classes: p(class 1) = sigmoid(margin)
    logits = torch.cat([torch.zeros_like(margin), margin]).unsqueeze(0)  # (1, 2, 1, 97)
    top = torch.sigmoid(margin.abs())  # the top softmax probability, (1, 1, 97) like the mask
    for threshold in (0.0, 0.6, 0.95, 1.0):
        classes, confident = pseudo_labels(logits, threshold)
        assert torch.equal(classes, (margin > 0).long()) and torch.equal(confident, top >= threshold)
    assert pseudo_labels(logits, 0.95)[1].sum() == (top >= 0.95).sum() > 0  # some kept, not all
    assert not pseudo_labels(logits, 0.95)[1].all()


def test_unconfident_pixels_give_no_gradient_and_count_in_the_mean():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.randint(0, 3, (2, 4, 4))
    confident = torch.rand(2, 4, 4) > 0.5
    loss = masked_cross_entropy(logits, labels, confident)
    loss.backward()
    assert (logits.grad.abs().sum(1)[~confident] == 0).all() and (logits.grad.abs().sum(1)[confident] > 0).all()
    per_pixel = torch.nn.functional.cross_entropy(logits.detach(), labels, reduction="none")
    assert torch.allclose(loss, per_pixel[confident].sum() / confident.numel())


def test_strong_views_recolour_the_weak_view_and_keep_the_batch_contract(synthetic_root, tmp_path):
    cfg = tiny_config(tmp_path, synthetic_root, *UNIMATCH, "train.batch_size=4", "unimatch.cutmix_prob=1")
    data = load_data(cfg.data, "train", tmp_path, progress=False)
    sets = training_sets(data, cfg.pairs, cfg.train.seed)
    make = method_class("unimatch").make_batches
    one = make(cfg, sets).batch(1, 2)
    assert len(one.strong) == len(one.boxes) == 2 and one.strong[0].shape == one.images.A.shape
    assert not torch.equal(one.strong[0], one.strong[1]) and all(box.any() for box in one.boxes[0])
    weak_edges = (one.images.A[:, :, :, 1:] - one.images.A[:, :, :, :-1]).abs().mean(1) > 0.3  # where the photo has edges
    strong_edges = (one.strong[0][:, :, :, 1:] - one.strong[0][:, :, :, :-1]).abs().mean(1) > 0.02
    assert (strong_edges[weak_edges]).float().mean() > 0.9  # the same geometry, other colours
    cfg2 = tiny_config(tmp_path, synthetic_root, *UNIMATCH, "train.batch_size=2", "unimatch.cutmix_prob=1")
    halves = [make(cfg2, sets, rank, 2).batch(1, 2) for rank in (0, 1)]  # two processes of two: one process of four
    for part in ("strong", "boxes"):
        for view in range(2):
            assert torch.equal(torch.cat([getattr(h, part)[view] for h in halves]), getattr(one, part)[view])
    assert torch.equal(make(cfg, sets).batch(1, 2).strong[1], one.strong[1])  # a function of (seed, epoch, step)


def test_a_short_unimatch_run_on_synthetic_data_learns(synthetic_root, tmp_path):
    cfg = tiny_config(tmp_path / "run", synthetic_root, *UNIMATCH, "train.epochs=6", "train.lr=1e-3", "unimatch.threshold=0.5")
    trainer = Trainer(cfg)
    segmenter = trainer.method.networks["G_IS"]
    photos, labels = trainer.sets.data.A[:12], trainer.sets.data.labels_B[:12].long()

    def accuracy() -> float:
        with torch.no_grad():
            segmenter.eval()
            predicted = segmenter(photos.float() / 127.5 - 1).argmax(1)
            segmenter.train()
        return float((predicted == labels).float().mean())

    before = accuracy()
    trainer.fit()
    records = logged(tmp_path / "run")
    assert len(records) == 36
    assert sum(r["ce"] for r in records[-6:]) < 0.7 * sum(r["ce"] for r in records[:6])
    assert accuracy() > before + 0.15, (before, accuracy())
    active = [r for r in records if r["confident"] > 0]  # the unlabelled terms took part
    assert active and all(r["strong1"] > 0 and r["strong2"] > 0 and r["fp"] > 0 for r in active[-5:])


@pytest.mark.parametrize("name", list_generators())
def test_unimatch_trains_every_registry_segmenter(name, synthetic_root, tmp_path):
    size = create_generator(name, ngf=8).size_multiple if name.startswith("unet") else 32
    extra = ["model.norm=batch"] if name.startswith("unet") else []
    cfg = tiny_config(tmp_path / name, synthetic_root, *UNIMATCH, f"model.generator_AtoB={name}", f"data.load_size={size + 4}",
                      f"data.crop_size={size}", "train.max_steps=2", "data.max_images=4", "pairs.count=2", *extra)
    train(cfg)
    state = checkpoints.load(tmp_path / name)
    assert state["progress"]["iteration"] == 2 and state["arch"]["G_IS"]["name"] == name
    assert all(torch.isfinite(t).all() for t in state["models"]["G_IS"].values() if t.is_floating_point())
    separable = getattr(create_generator(name, ngf=8), "separable_encoder", False)
    assert all(("fp" in r) == separable and "strong2" in r for r in logged(tmp_path / name))
    if not separable:
        with pytest.raises(ConfigError, match="feature_perturbation=on needs an encoder that splits"):
            train(tiny_config(tmp_path / "on", synthetic_root, *cfg_overrides(cfg), "unimatch.feature_perturbation=on"))


def cfg_overrides(cfg) -> list[str]:
    d, m = cfg.data, cfg.model
    return [*UNIMATCH, f"model.generator_AtoB={m.generator_AtoB}", f"model.norm={m.norm}", f"data.load_size={d.load_size}",
            f"data.crop_size={d.crop_size}", "train.max_steps=1", "data.max_images=4", "pairs.count=2"]


def test_a_unimatch_run_resumes_bitwise_exports_and_translates(synthetic_root, tmp_path):
    common = (*UNIMATCH, "train.epochs=2", "unimatch.threshold=0.3")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(tiny_config(straight, synthetic_root, *common))
    train(tiny_config(stopped, synthetic_root, *common, "train.max_steps=4"))
    train(tiny_config(stopped, synthetic_root, *common), resume=True)
    reference, resumed = checkpoints.load(straight), checkpoints.load(stopped)
    assert reference["progress"]["iteration"] == 12 and any(r["fp"] > 0 for r in logged(straight))
    for key in ("models", "optimizers", "schedulers", "method_state", "rng"):
        assert_states_equal(reference[key], resumed[key], key)
    onnx_file = tmp_path / "segmenter.onnx"
    assert main(["export", "--checkpoint", str(straight), "--direction", "AtoB", "--output", str(onnx_file)]) == 0
    photos = load_data(tiny_config(tmp_path, synthetic_root, *common).data, "val", tmp_path, progress=False).A[:2, :, :32, :32]
    photos = photos.float() / 127.5 - 1
    expected = semicycle.load(straight).translate_tensor(photos)
    assert torch.equal(semicycle.load(onnx_file).translate_tensor(photos), expected)
    assert expected.shape == photos.shape


def test_unimatch_refuses_what_it_cannot_do_in_one_line(synthetic_root, data_root, tmp_path):
    cases = [
        (["data.dataset=aligned", f"data.root={data_root / 'facades'}", "data.palette=", "data.max_images=4"], "needs class labels|class labels"),
        (["data.direction=BtoA"], "set data.direction=AtoB"),
        (["pairs.count=0"], "unimatch needs paired samples"),
    ]
    for changes, message in cases:
        cfg = tiny_config(tmp_path, synthetic_root, *UNIMATCH, *changes)
        with pytest.raises(ConfigError, match=message) as err:
            data = load_data(cfg.data, "train", tmp_path, progress=False)
            create_method(cfg, training_sets(data, cfg.pairs, cfg.train.seed), Runtime.create("cpu"))
        assert "\n" not in str(err.value)


def test_the_unimatch_presets_are_listed_and_cite_the_paper(capsys):
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    for name in ("yang2023-unimatch-facades", "yang2023-unimatch-cityscapes"):
        assert name in listed and "UniMatch (Yang et al., CVPR 2023)" in list_presets()[name]
        cfg = load_preset(name)
        assert cfg.train.method == "unimatch" and cfg.unimatch.threshold == 0.95 and cfg.pairs.rate == 0.1
