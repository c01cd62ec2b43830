"""train.method=cut (Park et al. 2020, CUT and FastCUT): the PatchNCE loss and what it learns, every registry generator's
encoder features, few-pair supervision (L1 and cross-entropy), exact resume, export and translation, presets, refusals."""

import json
import math

import pytest
import torch
from torch import nn

import semicycle
from semicycle import checkpoints
from semicycle.cli import main
from semicycle.config import list_presets, load_preset
from semicycle.data import load_data
from semicycle.data.pairing import training_sets
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import ConfigError
from semicycle.losses import patch_nce
from semicycle.methods import create_method
from semicycle.models import create_generator, list_generators, registry
from semicycle.models.patch_heads import sample_locations
from semicycle.runtime import Runtime
from test_training import assert_states_equal
from tiny_runs import tiny_config

CUT = ("train.method=cut", "data.max_images=12", "log.sample_every=0", "log.log_every=1", "log.checkpoint_every=0")


def logged(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]


def method_for(cfg):
    data = load_data(cfg.data, "train", cfg.run_dir, progress=False)
    torch.manual_seed(0)
    return create_method(cfg, training_sets(data, cfg.pairs, cfg.train.seed), Runtime.create("cpu"))


def test_patch_nce_is_low_where_each_query_matches_its_own_location_and_trains_only_the_queries():
    keys = torch.nn.functional.normalize(torch.randn(2, 16, 8), dim=-1)
    query = keys.clone().requires_grad_(True)
    matched = patch_nce(query, keys, temperature=0.07)
    shuffled = patch_nce(keys[:, torch.randperm(16)], keys, temperature=0.07)
    assert float(matched.detach()) < 0.5 < math.log(16) < float(shuffled)
    keys.requires_grad_(True)
    patch_nce(query, keys).backward()
    assert keys.grad is None and query.grad.abs().sum() > 0
    # the negatives are the other locations of the same image only: another image's patches change nothing
    other = keys.detach().clone()
    other[1] = torch.nn.functional.normalize(torch.randn(16, 8), dim=-1)
    assert torch.allclose(patch_nce(query[:1], keys[:1]), patch_nce(query[:1], other[:1]))


def positive_rank_accuracy(method, images: torch.Tensor) -> tuple[float, float]:
    """Over the sampled locations of every layer: how often a query's best key is its own location's, and the mean
    cosine of positives minus that of negatives."""
    G, H = method.networks["G"], method.networks["H"]
    with torch.no_grad():
        keys = G(images, encoder_features=True)
        queries = G(method.translate(images), encoder_features=True)
        where = sample_locations(keys, 64, torch.Generator().manual_seed(5))
        hits, gaps = [], []
        for q, k in zip(H(queries, where)[1:], H(keys, where)[1:]):  # the RGB layer compares pixels, not features
            scores = torch.bmm(q, k.transpose(1, 2))
            eye = torch.eye(scores.shape[-1], dtype=torch.bool).expand_as(scores)
            hits.append((scores.argmax(-1) == torch.arange(scores.shape[-1])).float().mean())
            gaps.append(scores[eye].mean() - scores[~eye].mean())
    return float(torch.stack(hits).mean()), float(torch.stack(gaps).mean())


def test_patchnce_makes_matching_patches_score_above_the_others_after_a_few_steps(synthetic_root, tmp_path):
    cfg = tiny_config(tmp_path, synthetic_root, *CUT, "data.direction=BtoA", "cut.lambda_gan=0", "cut.lambda_nce_identity=0",
                      "cut.patches=64", "train.lr=1e-3")
    method = method_for(cfg)
    held_out = method.batches.batch(1, 5).images.B  # label maps, the source of BtoA
    before = positive_rank_accuracy(method, held_out)
    for step in range(25):
        method.train_step(method.batches.batch(0, step % method.batches.steps_per_epoch))
    after = positive_rank_accuracy(method, held_out)
    assert after[0] > before[0] + 0.2 and after[0] > 0.5, (before, after)
    assert after[1] > 0.3 and after[1] > before[1] + 0.2, (before, after)


@pytest.mark.parametrize("name", list_generators())
def test_every_registry_generator_gives_its_encoder_features_and_trains_under_cut(name, synthetic_root, tmp_path):
    net = create_generator(name, ngf=8, norm="batch" if name.startswith("unet") else "instance")
    size = net.size_multiple if name.startswith("unet") else 32
    features = net(torch.rand(2, 3, size, size) * 2 - 1, encoder_features=True)
    assert [f.shape[1] for f in features] == list(net.encoder_feature_channels) and len(features) >= 4
    assert features[0].shape[-1] == size and all(a.shape[-1] >= b.shape[-1] for a, b in zip(features, features[1:]))
    extra = ["model.norm=batch"] if name.startswith("unet") else []
    cfg = tiny_config(tmp_path / name, synthetic_root, *CUT, "data.direction=BtoA", f"model.generator={name}", f"data.load_size={size + 4}",
                      f"data.crop_size={size}", "train.max_steps=2", "data.max_images=4", "pairs.count=2", *extra)
    train(cfg)
    state = checkpoints.load(tmp_path / name)
    assert state["progress"]["iteration"] == 2 and state["arch"]["G"]["name"] == name and state["translators"] == {"BtoA": "G"}
    assert all(torch.isfinite(t).all() for net in state["models"].values() for t in net.values() if t.is_floating_point())
    assert all(r["nce"] > 0 and r["nce_identity"] > 0 for r in logged(tmp_path / name)) and "sv" in logged(tmp_path / name)[0]


class NoEncoderFeatures(nn.Module):
    """A generator that says nothing of its encoder."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 8, norm: str = "instance", output: str = "tanh"):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


def test_cut_refuses_what_it_cannot_do_in_one_line(synthetic_root, data_root, tmp_path, monkeypatch):
    monkeypatch.setitem(registry._REGISTRIES["generator"], "plain_conv", registry._Entry(NoEncoderFeatures, {}))
    cases = [
        (["model.generator=plain_conv"], r"train.method=cut compares encoder features, which model.generator=plain_conv"),
        (["data.dataset=unaligned", f"data.root={data_root / 'horse2zebra'}", "pairs.count=2"], "paired dataset"),
        (["data.palette=synthetic", "model.generator_AtoB=plain_conv"], "which model.generator_AtoB=plain_conv does not expose"),
    ]
    for changes, message in cases:
        with pytest.raises(ConfigError, match=message) as err:
            method_for(tiny_config(tmp_path, synthetic_root, *CUT, *changes))
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"^cut.temperature=0"):
        tiny_config(tmp_path, synthetic_root, *CUT, "cut.temperature=0")


def test_a_cut_photo_to_label_run_with_pairs_resumes_bitwise_exports_and_translates(synthetic_root, tmp_path):
    common = (*CUT, "data.palette=synthetic", "pairs.count=3", "pairs.batch_size=2", "train.epochs=2")
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    train(tiny_config(straight, synthetic_root, *common))
    train(tiny_config(stopped, synthetic_root, *common, "train.max_steps=5"))
    train(tiny_config(stopped, synthetic_root, *common), resume=True)
    reference, resumed = checkpoints.load(straight), checkpoints.load(stopped)
    assert reference["progress"]["iteration"] == 12 and reference["arch"]["G"]["kwargs"]["output"] == "logits"
    for key in ("models", "optimizers", "schedulers", "method_state", "rng"):
        assert_states_equal(reference[key], resumed[key], key)
    records = logged(straight)  # Okada's schedule: ceil(3 / 2) = 2 paired steps opening each epoch, cross-entropy on them
    assert [r["iter"] for r in records if "sv" in r] == [1, 2, 7, 8] and all(r["sv"] > 0 for r in records if "sv" in r)
    onnx_file = tmp_path / "cut.onnx"
    assert main(["export", "--checkpoint", str(straight), "--direction", "AtoB", "--output", str(onnx_file)]) == 0
    cfg = tiny_config(tmp_path, synthetic_root, *common)
    photos = load_data(cfg.data, "val", tmp_path, progress=False).A[:2, :, :32, :32].float() / 127.5 - 1
    expected = semicycle.load(straight).translate_tensor(photos)
    assert torch.equal(semicycle.load(onnx_file).translate_tensor(photos), expected) and expected.shape == photos.shape
    palette = semicycle.load(straight).palette
    assert set(palette.to_index(((expected + 1) * 127.5).round().to(torch.uint8)).unique().tolist()) <= set(range(palette.num_classes))
    assert main(["translate", "--checkpoint", str(straight), "--direction", "AtoB", "--input", str(cfg.data.root) + "/val",
                 "--output", str(tmp_path / "translated")]) == 0
    assert len(list((tmp_path / "translated").iterdir())) > 0


def test_fastcut_flips_half_its_steps_and_an_image_run_learns_the_pairs_by_l1(synthetic_root, tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path / "run", synthetic_root, *CUT, "data.direction=BtoA", "pairs.count=12", "pairs.batch_size=2",
                      "cut.lambda_nce=10", "cut.lambda_nce_identity=0", "cut.flip_equivariance=true", "train.epochs=3")
    trainer = Trainer(cfg)
    flips, real = [], trainer.method.patch_nce
    monkeypatch.setattr(trainer.method, "patch_nce", lambda source, output, flipped=False: flips.append(flipped) or real(source, output, flipped))
    trainer.fit()
    records = logged(tmp_path / "run")
    assert 0.25 < sum(flips) / len(flips) < 0.75 and len(flips) == len(records) == 18
    assert all("nce_identity" not in r and "nce" in r for r in records) and trainer.method.translators == {"BtoA": "G"}
    sv = [r["sv"] for r in records]  # every step carries pairs (12 pairs, 2 per step, 6 steps an epoch): L1 of label -> photo
    assert sv[-1] < sv[0]


def test_the_cut_presets_are_listed_with_the_papers_settings(capsys):
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out
    cut, fast = load_preset("park2020-cut-horse2zebra"), load_preset("park2020-fastcut-horse2zebra")
    for name in ("park2020-cut-horse2zebra", "park2020-fastcut-horse2zebra"):
        assert name in listed and "Park et al., ECCV 2020" in list_presets()[name]
    assert cut.train.method == fast.train.method == "cut" and cut.model.generator == "resnet_9blocks"
    assert (cut.cut.lambda_nce, cut.cut.lambda_nce_identity, cut.cut.flip_equivariance) == (1, 1, False)
    assert (fast.cut.lambda_nce, fast.cut.lambda_nce_identity, fast.cut.flip_equivariance) == (10, 0, True)
    assert cut.cut.temperature == 0.07 and cut.cut.patches == cut.cut.head_units == 256 and cut.cut.gan_loss == "lsgan"
