"""CUT's and FastCUT's training step against CycleGAN's, side by side in one process (issue 44; goal: CUT <= 0.6x).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/cut_speed.py                        # 128 and 256 px
    OMP_WAIT_POLICY=PASSIVE python benchmarks/cut_speed.py --sizes 128 --steps 5  # a quick look
    python -m experiments.regenerate_docs     # then: docs/performance.md's table from benchmarks/results/cut_speed.json

Every method trains on horse2zebra from $SEMICYCLE_DATA with the same networks: the presets' ResNet-9 generator
(ngf 64) and 70x70 PatchGAN (ndf 64), batch 1, eager fp32 (``--set KEY=VALUE`` adds overrides to all three). The
methods' steps are timed in turns (CycleGAN, CUT, FastCUT, CycleGAN, ...) after ``--warmup`` steps each, so that a
change of the machine's load reaches every method alike; the table gives each one's median seconds per step and
its ratio to CycleGAN's, and writes them to --json (default benchmarks/results/cut_speed.json). CycleGAN's step updates two generators and two discriminators; CUT's one of each, plus the
encoder passes of PatchNCE (and, with the identity term, a second generator pass).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import torch

from semicycle.config import apply_overrides, load_preset
from semicycle.engine.trainer import Trainer
from side_by_side import RESULTS, time_steps, write_record

PRESETS = {"CycleGAN": "zhu2017-cyclegan-horse2zebra", "CUT": "park2020-cut-horse2zebra", "FastCUT": "park2020-fastcut-horse2zebra"}
SAME_NETWORKS = ["model.generator=resnet_9blocks", "model.ngf=64", "model.discriminator=patchgan", "model.ndf=64",
                 "model.d_layers=3", "model.norm=instance", "train.batch_size=1", "runtime.precision=fp32",
                 "runtime.channels_last=false", "runtime.compile=false", "log.progress=false", "data.max_images=20"]


def trainers(size: int, settings: list[str], folder: Path) -> dict[str, Trainer]:
    out = {}
    for name, preset in PRESETS.items():
        cfg = apply_overrides(load_preset(preset), [*SAME_NETWORKS, f"data.load_size={size}", f"data.crop_size={size}", *settings])
        cfg.run_dir = str(folder / name)
        torch.manual_seed(0)
        out[name] = Trainer(cfg)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", default=str(RESULTS / "cut_speed.json"))
    args = p.parse_args(argv)
    load_start = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), load average {load_start:.2f}")
    print("| size | method | s / step (median) | / CycleGAN |\n| --- | --- | --- | --- |")
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            medians = {name: statistics.median(t) for name, t in time_steps(trainers(size, args.set, Path(tmp)), args.steps, args.warmup).items()}
        for name, median in medians.items():
            rows.append({"size": size, "method": name, "seconds_per_step": round(median, 4),
                         "over_cyclegan": round(median / medians["CycleGAN"], 3)})
            print(f"| {size} | {name} | {median:.3f} | {median / medians['CycleGAN']:.2f} |", flush=True)
    write_record("cut_speed", argv, args, load_start, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
