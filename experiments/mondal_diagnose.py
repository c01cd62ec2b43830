"""Why a semi-supervised segmenter scores what it scores: the runs of experiments/mondal_table1.py, probed.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.mondal_diagnose [RUN ...] [--images 100] [--split val]

For each run (default: those of partial_10, mondal_10 and the 10% ablations that finished) and
three groups of photos, the first --images of each: the labelled training photos (the run's pairs.txt),
the other (unlabelled) training photos and the --split photos, it prints
  - pixel accuracy of the segmenter's argmax against the true labels;
  - the mean of the segmenter's largest softmax probability (how confident it is);
  - for runs with a mask -> image generator G_SI: the L1 distance between the photo and G_SI applied to
    (a) the segmenter's softmax, (b) the one-hot of its argmax, (c) the true label map.
A photo that G_SI rebuilds better from the predicted map than from the true one is being encoded
into the label map (CycleGAN's "steganography"), which is what the image cycle rewards.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import torch

from experiments import records, tables
from experiments.mondal_table1 import ABLATIONS

DEFAULT_RUNS = ["partial_10", "mondal_10"] + [f"mondal_10_{name}" for name in ABLATIONS]


def groups(run_dir: Path, split: str, count: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """{group: (photos uint8, class maps)} at the run's evaluation size."""
    from semicycle import config as cfgmod
    from semicycle.data import load_data

    if not (run_dir / "pairs.txt").is_file():
        raise SystemExit(f"{run_dir} has no pairs.txt (it was trained on every label); name a run with a labelled subset first")
    cfg = cfgmod.load_yaml(run_dir / "config.yaml", warn_renamed=False)  # a run's own config: old keys are fine
    size = cfg.eval.size or cfg.data.crop_size
    data_cfg = dataclasses.replace(cfg.data, load_size=size, crop_size=size, flip=False)
    train = load_data(data_cfg, cfg.data.train_split, cfg.run_dir, progress=False)
    labelled = set((run_dir / "pairs.txt").read_text().split())
    is_labelled = [Path(p).name in labelled for p in train.paths_A]
    chosen = {True: [i for i, x in enumerate(is_labelled) if x][:count], False: [i for i, x in enumerate(is_labelled) if not x][:count]}
    other = load_data(dataclasses.replace(data_cfg, max_images=count), split, cfg.run_dir, progress=False)
    out = {"train, labelled": (train.A[chosen[True]], train.labels_B[chosen[True]]),
           "train, unlabelled": (train.A[chosen[False]], train.labels_B[chosen[False]]),
           split: (other.A, other.labels_B)}
    return {name: value for name, value in out.items() if len(value[0])}


@torch.inference_mode()
def probe(translator, photos: torch.Tensor, labels: torch.Tensor) -> dict[str, float | None]:
    """One row of the table: ``translator`` is a loaded run (semicycle.load)."""
    from semicycle.data.transforms import to_float
    from semicycle.data.labels import label_input

    segmenter, to_photo = translator.generators["AtoB"], translator.generators.get("BtoA")
    x, y = to_float(photos), labels.long()
    probabilities = torch.softmax(segmenter(x).float(), dim=1)  # K classes (+ void in runs since issue 18)
    predicted = probabilities.argmax(1)
    valid = y != translator.palette.ignore_index
    row = {"pixel acc": (predicted == y)[valid].float().mean().item(), "mean max prob": probabilities.amax(1).mean().item(),
           "L1 from softmax": None, "L1 from argmax": None, "L1 from true labels": None}
    if to_photo is not None:
        one_hot = torch.nn.functional.one_hot(predicted, probabilities.shape[1]).permute(0, 3, 1, 2).float()
        for key, masks in (("L1 from softmax", probabilities), ("L1 from argmax", one_hot),
                           ("L1 from true labels", label_input(y, translator.palette, probabilities.shape[1]))):
            row[key] = (to_photo(masks) - x).abs().mean().item()
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help=f"run names under --runs-dir (default: those of {', '.join(DEFAULT_RUNS)} that finished)")
    p.add_argument("--runs-dir", default="runs/experiments/mondal_table1", help="folder of the runs (default %(default)s)")
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=int, default=100, help="photos per group (default %(default)s)")
    args = p.parse_args(argv)
    from semicycle import api
    from semicycle.checkpoints import read_progress

    root = Path(args.runs_dir).resolve()
    os.chdir(records.REPO)  # the runs' $SEMICYCLE_DATA default (../shared/data) is relative to the repository
    names = args.runs or [n for n in DEFAULT_RUNS if (read_progress(root / n) or {}).get("finished")]
    missing = [n for n in names if not (root / n / "ckpt").is_dir()]
    if missing or not names:
        raise SystemExit(f"no trained run {', '.join(missing) or 'at all'} in {root}; train it with experiments/mondal_table1.py first")
    by_labelled_set: dict[str, dict] = {}  # runs with the same labelled photos (same seed and rate) share their groups
    columns = ["pixel acc", "mean max prob", "L1 from softmax", "L1 from argmax", "L1 from true labels"]
    print("| run | photos | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 2))
    for name in names:
        labelled = (root / name / "pairs.txt").read_text() if (root / name / "pairs.txt").is_file() else ""
        if labelled not in by_labelled_set:
            by_labelled_set[labelled] = groups(root / name, args.split, args.images)
        data = by_labelled_set[labelled]
        translator = api.load(root / name, device="cpu")
        for group, (photos, labels) in data.items():
            row = probe(translator, photos, labels)
            print(f"| `{name}` | {group} ({len(photos)}) | " + " | ".join(tables.fmt(row[c]) for c in columns) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
