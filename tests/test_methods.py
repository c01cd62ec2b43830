"""Semi-supervised training: pair budgets, batch schedules, gradient paths of each method, presets."""

import json
import math

import pytest
import torch

import semicycle
from semicycle.cli import main
from semicycle.config import Config, apply_overrides, list_presets, load_preset
from semicycle.data import load_data
from semicycle.data.batches import MixedBatches, PairedBatches, Stream, UnpairedBatches
from semicycle.data.pairing import choose_pairs, training_sets
from semicycle.data.synthetic import write_aligned_dataset
from semicycle.data.transforms import to_float, to_uint8
from semicycle.runtime import Runtime
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import ConfigError, DataError
from semicycle.losses import pixel_cross_entropy
from semicycle.methods import create_method
from semicycle.data.labels import output_image, void_as_class
from tiny_runs import TINY, tiny_config
from conftest import synthetic_dataset

SMALL_RUN = ("data.max_images=12", "cyclegan.pool_size=3", "log.sample_every=0", "log.log_every=1", "log.checkpoint_every=0")


@pytest.fixture(scope="module")
def small_synthetic_root(tmp_path_factory):
    """24 train and 4 val pairs, the sizes this module's tests are written for."""
    return synthetic_dataset(tmp_path_factory, n_train=24, n_val=4)


def method_for(cfg):
    data = load_data(cfg.data, "train", cfg.run_dir, progress=False)
    sets = training_sets(data, cfg.pairs, cfg.train.seed)
    torch.manual_seed(0)
    return create_method(cfg, sets, Runtime.create("cpu"))


# ---------------------------------------------------------------- pair budget


def test_pair_budget_count_rate_and_list(small_synthetic_root, tmp_path):
    data = load_data(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN).data, "train", tmp_path, progress=False)
    by_count = choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=3").pairs, seed=1)
    assert len(by_count) == 3 == len(set(by_count)) and by_count == sorted(by_count)
    assert by_count == choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=3").pairs, seed=1)
    assert by_count != choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=3").pairs, seed=2)
    assert len(choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.rate=0.25").pairs, seed=1)) == 3  # 25% of 12
    listing = tmp_path / "pairs.txt"
    listing.write_text("# chosen by hand\n2.png\n\n10.png\n")
    rows = choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, f"pairs.list={listing}").pairs, seed=0)
    assert [data.paths_A[r].split("/")[-1] for r in rows] == ["2.png", "10.png"]


def test_pair_budget_errors(small_synthetic_root, tmp_path, data_root):
    data = load_data(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN).data, "train", tmp_path, progress=False)
    with pytest.raises(ConfigError, match="exceeds the 12 training samples"):
        choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=50").pairs, 0)
    listing = tmp_path / "bad.txt"
    listing.write_text("2.png\nnot_there.jpg\n")
    with pytest.raises(DataError, match=r"bad\.txt.*not_there\.jpg"):
        choose_pairs(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, f"pairs.list={listing}").pairs, 0)
    with pytest.raises(ConfigError, match="only one of"):
        tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=2", "pairs.rate=0.1")
    unpaired = load_data(apply_overrides(Config(), ["data.dataset=unaligned", f"data.root={data_root / 'horse2zebra'}",
                                                    "data.max_images=3", "data.load_size=32", "data.crop_size=32"]).data, "train", progress=False)
    with pytest.raises(ConfigError, match="paired dataset"):
        choose_pairs(unpaired, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=1").pairs, 0)


def test_exclude_paired_from_unpaired_streams(small_synthetic_root, tmp_path):
    cfg = tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=4", "pairs.exclude_from_unpaired=true")
    data = load_data(cfg.data, "train", tmp_path, progress=False)
    sets = training_sets(data, cfg.pairs, 0)
    assert len(sets.unpaired_A) == len(sets.unpaired_B) == 8
    assert not set(sets.paired_rows) & set(sets.unpaired_A.indices)
    included = training_sets(data, tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "pairs.count=4").pairs, 0)
    assert len(included.unpaired_A) == 12


def test_unpaired_b_from_another_folder(small_synthetic_root, tmp_path):
    other = write_aligned_dataset(tmp_path / "other", n_train=5, n_val=1, size=32)
    # a folder of plain label images: the right halves of another synthetic set
    from PIL import Image
    labels = tmp_path / "labels"
    labels.mkdir()
    for path in sorted((other / "train").glob("*.png")):
        image = Image.open(path)
        image.crop((32, 0, 64, 32)).save(labels / path.name)
    cfg = tiny_config(tmp_path / "run", small_synthetic_root, *SMALL_RUN, "pairs.count=2", f"pairs.unpaired_b_root={labels}", "data.palette=synthetic")
    trainer = Trainer(cfg)
    assert len(trainer.sets.unpaired_B) == 5 and trainer.sets.unpaired_B.labels is not None
    assert (tmp_path / "run" / "pairs.txt").read_text().count("\n") == 2


# ---------------------------------------------------------------- schedules


def _streams(n_a, n_b):
    images = torch.zeros(max(n_a, n_b), 3, 8, 8, dtype=torch.uint8)
    return Stream(images, None, list(range(n_a))), Stream(images, None, list(range(n_b)))


class _Pairs:
    def __init__(self, n):
        self.A = self.B = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 8, 8).contiguous()
        self.labels_B = None


@pytest.mark.parametrize("balance, pairs, unpaired", [(True, 3, 20), (False, 3, 20), (True, 7, 7)])
def test_balancing_counts_paired_and_unpaired_items(balance, pairs, unpaired):
    stream_A, stream_B = _streams(unpaired, unpaired)
    u = UnpairedBatches(stream_A, stream_B, 1, 8, False, seed=0)
    p = PairedBatches(_Pairs(pairs), list(range(pairs)), 1, 8, False, seed=0, per_epoch=unpaired if balance else pairs)
    mixed = MixedBatches(u, p, batch_size=1)
    for epoch in range(2):
        tokens = mixed.tokens(epoch)
        n_paired = sum(1 for is_pair, _ in tokens if is_pair)
        assert len(tokens) - n_paired == unpaired
        assert n_paired == (unpaired if balance else pairs)
    # with balancing every pair is used about equally often
    counts = torch.zeros(pairs)
    batch_rows = [p.items(0, range(k, k + 1)).rows_A[0] for k in range(p.per_epoch)]
    for row in batch_rows:
        counts[row] += 1
    assert counts.max() - counts.min() <= 1


def test_shukla_batches_mark_pairs_and_are_balanced(small_synthetic_root, tmp_path):
    method = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=shukla", "pairs.count=3", "train.batch_size=4"))
    flags = torch.cat([batch.images.is_pair for _, batch in method.batches.epoch(0)])
    assert int(flags.sum()) == len(flags) - int(flags.sum()) == 12  # 12 unpaired items, 12 paired copies


@pytest.mark.parametrize("pairs, paired_batch", [(5, 2), (6, 2), (1, 4), (12, 5)])
def test_okada_algorithm2_makes_ceil_p_over_b_paired_steps(small_synthetic_root, tmp_path, pairs, paired_batch):
    method = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=okada", f"pairs.count={pairs}", f"pairs.batch_size={paired_batch}"))
    for epoch in range(2):
        steps = [batch for _, batch in method.batches.epoch(epoch)]
        with_pairs = [i for i, b in enumerate(steps) if b.pairs is not None]
        assert len(with_pairs) == math.ceil(pairs / paired_batch)
        assert with_pairs == list(range(len(with_pairs)))  # the paired steps come first
        assert all(b.images is not None for b in steps)
        seen = [r for b in steps if b.pairs is not None for r in b.pairs.rows_A]
        assert sorted(seen) == method.sets.paired_rows  # each pair once per epoch


def test_okada_step_counts_in_training(small_synthetic_root, tmp_path, monkeypatch):
    cfg = tiny_config(tmp_path / "run", small_synthetic_root, *SMALL_RUN, "train.method=okada", "pairs.count=5", "train.epochs=2")
    trainer = Trainer(cfg)
    calls = []
    real = trainer.method.supervised_step
    monkeypatch.setattr(trainer.method, "supervised_step", lambda pair: calls.append(len(pair)) or real(pair))
    trainer.fit()
    assert calls == [2, 2, 1, 2, 2, 1]  # ceil(5/2) = 3 paired steps in each of the 2 epochs


# ---------------------------------------------------------------- gradient paths


def grad_norm(module):
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def _mondal_batch(method):
    return method.batches.batch(0, 0).to(method.runtime.put)


@pytest.mark.parametrize("discriminator", ["pixelwise", "pixelwise_1x1"])
def test_mondal_label_adversarial_term_reaches_the_segmenter(small_synthetic_root, tmp_path, discriminator):
    cfg = tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=mondal", "pairs.count=4", f"model.discriminator={discriminator}")
    method = method_for(cfg)
    assert isinstance(method.networks["D_S"].net[3], torch.nn.BatchNorm2d)  # the pixel-wise Ds' own batch norm
    batch = _mondal_batch(method)
    losses, *_ = method.generator_losses(batch.pairs.A, batch.pairs.labels_B, batch.images.A)
    losses["label_adv"].backward()
    assert grad_norm(method.networks["G_IS"]) > 0  # softmax, not argmax, goes into D_S
    assert grad_norm(method.networks["G_SI"]) == 0


@pytest.mark.parametrize("zeroed, term, network", [
    ("lambda_image_cycle", "image_cycle", "G_SI"),
    ("lambda_label_adv", "label_adv", "G_IS"),
    ("lambda_image_adv", "image_adv", "G_SI"),
    ("lambda_image_sup", "image_l2", "G_SI"),
    ("lambda_label_cycle", "label_cycle", "G_IS"),
])
def test_mondal_zero_weight_removes_its_term(small_synthetic_root, tmp_path, zeroed, term, network):
    others = ["lambda_image_sup", "lambda_label_cycle", "lambda_image_cycle", "lambda_label_adv", "lambda_image_adv"]
    only = [f"train.{name}={1 if name == zeroed else 0}" for name in others]
    none = [f"train.{name}=0" for name in others]
    base = ["train.method=mondal", "pairs.count=4", "model.discriminator=pixelwise"]
    on = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, *base, *only))
    off = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, *base, *none))
    found = {}
    for key, method in (("on", on), ("off", off)):
        batch = _mondal_batch(method)
        losses, *_ = method.generator_losses(batch.pairs.A, batch.pairs.labels_B, batch.images.A)
        extra = [value for name, value in losses.items() if name != "seg_ce"]
        if extra:
            sum(extra).backward()
        found[key] = set(losses)
    assert term in found["on"] and term not in found["off"]
    assert grad_norm(on.networks[network]) > 0
    assert grad_norm(off.networks[network]) == 0


def _cityscapes_mondal(data_root, tmp_path, *extra):
    return tiny_config(tmp_path, data_root / "cityscapes", *SMALL_RUN, "data.dataset=aligned", "data.palette=cityscapes", "data.max_images=4",
                "train.method=mondal", "pairs.count=2", "model.discriminator=pixelwise", *extra)


def test_mondal_masks_carry_void_as_a_class_of_their_own(data_root, tmp_path):
    method = method_for(_cityscapes_mondal(data_root, tmp_path))
    arch = {name: net.arch["kwargs"] for name, net in method.networks.items()}
    assert arch["G_IS"]["out_channels"] == arch["G_SI"]["in_channels"] == arch["D_S"]["in_channels"] == 20  # 19 + void
    batch = _mondal_batch(method)
    labels = batch.pairs.labels_B
    void = labels == 255
    assert void.any()  # Cityscapes masks have void pixels (ego vehicle, borders)
    losses, masks, s_u, _ = method.generator_losses(batch.pairs.A, labels, batch.images.A)
    assert torch.equal(masks.sum(1), torch.ones_like(masks[:, 0])) and torch.equal(masks[:, 19].bool(), void)
    assert s_u.shape[1] == 20 and torch.isfinite(losses["seg_ce"])
    # the segmenter is trained to call void pixels void: its CE changes with the void logit
    logits = method.networks["G_IS"](batch.pairs.A).detach()
    pushed = logits.clone()
    pushed[:, 19] += 5.0
    target = void_as_class(labels, method.palette)
    assert pixel_cross_entropy(pushed, target) != pixel_cross_entropy(logits, target)
    # a void logit is never the rendered answer: the highest class logit is
    scores = torch.zeros(1, 20, 1, 1)
    scores[0, 19], scores[0, 13] = 9.0, 1.0  # void first, car second
    car = to_float(torch.tensor([0, 0, 142], dtype=torch.uint8).reshape(1, 3, 1, 1))
    assert torch.equal(output_image(scores, method.palette), car)

    legacy = method_for(_cityscapes_mondal(data_root, tmp_path, "model.label_void_channel=false"))  # semicycle 0.1's encoding
    assert legacy.networks["G_SI"].arch["kwargs"]["in_channels"] == legacy.networks["G_IS"].arch["kwargs"]["out_channels"] == 19
    _, old_masks, _, _ = legacy.generator_losses(batch.pairs.A, labels, batch.images.A)
    assert old_masks.shape[1] == 19 and (old_masks.sum(1)[void] == 0).all()


def test_a_mondal_run_from_before_the_void_channel_resumes_and_translates(data_root, tmp_path):
    run = tmp_path / "old"
    train(_cityscapes_mondal(data_root, run, "model.label_void_channel=false", "train.max_steps=1"))
    path = run / "ckpt" / "latest.pt"
    state = torch.load(path, weights_only=True)
    del state["config"]["model"]["label_void_channel"]  # as written before the key existed
    torch.save(state, path)
    trainer = Trainer(_cityscapes_mondal(data_root, run, "train.max_steps=2"), resume=True)  # today's default: void channel
    assert trainer.cfg.model.label_void_channel is False
    assert trainer.method.networks["G_SI"].arch["kwargs"]["in_channels"] == 19
    trainer.fit()
    translator = semicycle.load(run, device="cpu", precision="fp32")
    labels = trainer.sample_batch["B"]
    assert translator.translate_tensor(labels, "BtoA").shape == labels.shape  # K-channel masks from label colours


def test_shukla_cycle_term_trains_both_generators(small_synthetic_root, tmp_path):
    method = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=shukla", "pairs.count=3"))
    batch = method.batches.batch(0, 0).to(method.runtime.put).images
    losses, _, _ = method.generator_losses(batch.A, batch.B)
    losses["cycle_A"].backward()
    assert grad_norm(method.networks["G_AB"]) > 0 and grad_norm(method.networks["G_BA"]) > 0


def test_shukla_reconstruction_weight_zero_and_relativistic_loss(small_synthetic_root, tmp_path):
    cfg = tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=shukla", "pairs.count=3", "cyclegan.gan_loss=rasgan", "train.batch_size=4")
    method = method_for(cfg)
    batch = next(b for _, b in method.batches.epoch(0) if bool(b.images.is_pair.any())).to(method.runtime.put)
    assert float(method.train_step(batch)["rec"]) > 0
    zero = method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=shukla", "pairs.count=3", "train.batch_size=4",
                           "shukla.lambda_reconstruction=0"))
    assert float(zero.train_step(batch)["rec"]) == 0


# ---------------------------------------------------------------- end to end


@pytest.mark.slow  # two 40-step GAN runs on real facades at 64 px
def test_okada_with_all_pairs_learns_photo_to_label_faster_than_cyclegan(tmp_path, data_root):
    common = [
        "data.dataset=aligned", f"data.root={data_root / 'facades'}", "data.palette=facades",
        "data.max_images=8", "data.load_size=72", "data.crop_size=64",
        "model.generator=resnet_6blocks", "model.ngf=16", "model.ndf=16",
        "train.epochs=10", "train.decay_epochs=0", "train.batch_size=2", "train.seed=0",
        "log.progress=false", "log.sample_every=0", "log.log_every=4", "log.checkpoint_every=0",
        "runtime.precision=fp32",
    ]
    okada = Trainer(apply_overrides(Config(), [f"run_dir={tmp_path / 'okada'}", "train.method=okada", "pairs.rate=1.0", *common]))
    cyclegan = Trainer(apply_overrides(Config(), [f"run_dir={tmp_path / 'cyclegan'}", "train.method=cyclegan", *common]))
    A, B = okada.sample_batch["A"], okada.sample_batch["B"]
    palette = okada.sets.palette
    truth = palette.to_index(to_uint8(B))

    def photo_to_label(trainer):
        out = trainer.translate(A, "AtoB")
        return float((out - B).abs().mean()), float((palette.to_index(to_uint8(out)) == truth).float().mean())

    before = photo_to_label(okada)
    assert before == photo_to_label(cyclegan)  # same seed, same initial networks
    okada.fit()
    cyclegan.fit()
    records = [json.loads(line) for line in (tmp_path / "okada" / "losses.jsonl").read_text().splitlines()]
    sv = [r["sv"] for r in records if "sv" in r]
    (okada_l1, okada_acc), (cyclegan_l1, cyclegan_acc) = photo_to_label(okada), photo_to_label(cyclegan)
    # 40 GAN steps are chaotic: another CPU kernel set, thread count or precision moves both runs. Measured
    # by benchmarks/okada_margin_spread.py (AVX512-BF16 CPU, 2026-12-01) over seeds 0-4 x {fp32 with 1 and 2
    # threads, bf16, fp32 with AVX2 kernels}: okada_l1 / cyclegan_l1 0.78-0.93 (seed 0: 0.78-0.81), pixel-
    # accuracy gap +0.026-0.100 (seed 0: +0.068-0.100). The bounds hold for every seed measured, with margin
    # for seed 0; without the supervised term the two runs are the same (ratio 1, gap 0).
    assert sv[-1] < 0.85 * sv[0], sv
    assert okada_l1 < 0.95 * cyclegan_l1 and okada_acc > cyclegan_acc + 0.015, (okada_l1, cyclegan_l1, okada_acc, cyclegan_acc)


def test_paired_segmentation_and_pix2pix_train(small_synthetic_root, tmp_path):
    seg = tiny_config(tmp_path / "seg", small_synthetic_root, *SMALL_RUN, "train.method=paired", "paired.task=segment", "pairs.count=4")
    train(seg)
    state = torch.load(tmp_path / "seg" / "ckpt" / "latest.pt", weights_only=True)
    assert state["arch"]["G_IS"]["kwargs"]["output"] == "logits" and state["translators"] == {"AtoB": "G_IS"}
    pix = tiny_config(tmp_path / "pix", small_synthetic_root, *SMALL_RUN, "train.method=paired", "data.direction=BtoA", "model.generator=unet_128",
               "data.load_size=132", "data.crop_size=128", "model.norm=batch")
    train(pix)
    state = torch.load(tmp_path / "pix" / "ckpt" / "latest.pt", weights_only=True)
    assert state["arch"]["D"]["kwargs"]["in_channels"] == 6 and state["translators"] == {"BtoA": "G"}
    with pytest.raises(ConfigError, match="data.direction=AtoB"):
        method_for(tiny_config(tmp_path, small_synthetic_root, *SMALL_RUN, "train.method=paired", "paired.task=segment", "data.direction=BtoA"))


@pytest.mark.parametrize("name", [p for p in list_presets() if p != "demo"])
def test_every_preset_trains_end_to_end_on_real_data(name, tmp_path, data_root, monkeypatch):
    monkeypatch.setenv("SEMICYCLE_DATA", str(data_root))
    cfg = load_preset(name)
    size = ["data.load_size=132", "data.crop_size=128"] if cfg.model.generator.startswith("unet") else ["data.load_size=36", "data.crop_size=32"]
    pairs = ["pairs.count=2"] if cfg.pairs.count else []
    overrides = [*size, *pairs, "data.max_images=10", "model.ngf=8", "model.ndf=8", "train.max_steps=2",
                 "log.progress=false", "log.sample_every=0", "train.batch_size=2"]
    assert main(["train", "--preset", name, "--out", str(tmp_path / name), *overrides]) == 0
    state = torch.load(tmp_path / name / "ckpt" / "latest.pt", weights_only=True)
    assert state["progress"]["iteration"] == 2 and state["config"]["train"]["method"] == cfg.train.method
    assert all(torch.isfinite(t).all() for net in state["models"].values() for t in net.values() if t.is_floating_point())


@pytest.mark.parametrize("method", ["okada", "shukla", "mondal", "paired", "unimatch"])
def test_select_pairs_list_trains_every_semi_supervised_method(method, tmp_path, data_root):
    train_dir = tmp_path / "facades" / "train"
    train_dir.mkdir(parents=True)
    for name in [f"{i}.jpg" for i in range(1, 13)]:
        (train_dir / name).write_bytes((data_root / "facades" / "train" / name).read_bytes())
    listing = tmp_path / "pairs.txt"
    assert main(["select-pairs", "--data", str(train_dir), "--budget", "3", "--method", "kmedoids",
                 "--out", str(listing), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    chosen = listing.read_text().split()
    assert len(chosen) == 3
    extra = ["paired.task=segment"] if method == "paired" else []
    assert main(["train", "--out", str(tmp_path / method), "data.dataset=aligned", f"data.root={tmp_path / 'facades'}",
                 "data.palette=facades", f"pairs.list={listing}", f"train.method={method}", *extra, *TINY[:-1],
                 "train.max_steps=2", "model.discriminator=" + ("pixelwise" if method == "mondal" else "patchgan")]) == 0
    assert (tmp_path / method / "pairs.txt").read_text().split() == sorted(chosen, key=lambda n: int(n.split(".")[0]))
