"""Measure the per-iteration training time of the experiments' CPU-scale configuration.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.step_time [--steps 40] [--threads N] [--only NAME] [--set KEY=VALUE] [--size 64] [--out FILE.json]

For each kind of run the experiments train (CycleGAN, okada, shukla, pix2pix, the segmenter and
mondal), train ``--steps`` iterations on the real data into a temporary folder and report seconds per
iteration from the run's loss log (``s_per_iter`` of each window of ``--window`` iterations): the median
over the windows (the first holds the warm-up and is dropped) and the fastest window (closest to an idle
machine). The machine's load
average is printed with the numbers, because a shared machine changes them a lot. The experiment
scripts' ``ITERATIONS`` (an iteration budget per run) were chosen from these numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


import semicycle
from experiments.cpu_scale import cpu_scale_overrides
from experiments.records import REPO

KINDS = {
    # name: (preset, extra overrides)
    "cyclegan (facades, batch 1)": ("zhu2017-cyclegan-facades", []),
    # the first ceil(P / b) iterations of an okada epoch add a supervised generator step; an epoch at
    # rate r costs about (1 - r) * cyclegan + r * this per iteration
    "okada iteration with a pair step (facades)": ("okada2019-ssl-facades", []),
    "shukla (cityscapes, batch 1)": ("shukla2019-weak-cityscapes", ["pairs.count=20"]),
    "pix2pix resnet (cityscapes, batch 1)": (
        "isola2017-pix2pix-cityscapes",
        ["model.norm=instance", "data.max_images=200"],
    ),
    "segmenter (cityscapes, batch 5)": ("mondal2019-partial-cityscapes", ["train.batch_size=5"]),
    "mondal (cityscapes, batch 5)": ("mondal2019-semiseg-cityscapes", ["train.batch_size=5"]),
}


def measure(preset: str, extra: list[str], steps: int, size: int, window: int, threads: int = 0, settings=()) -> dict:
    """Train ``steps`` iterations, logging every ``window``: each log record's ``s_per_iter`` is the wall
    time per iteration of its window (batch assembly, logging, saves and the steps). The first window holds
    the warm-up and is dropped."""
    from semicycle import config as cfgmod

    with tempfile.TemporaryDirectory() as tmp:
        cfg = cfgmod.load_preset(preset)
        overrides = cpu_scale_overrides(size) + extra + list(settings) + [
            f"train.max_steps={steps}", f"log.log_every={window}", "log.sample_every=0",
            "log.checkpoint_every=0", "log.keep_every_epochs=0", "log.progress=false", f"runtime.threads={threads}",
        ]
        cfg = cfgmod.apply_overrides(cfg, overrides)
        cfg.run_dir = str(Path(tmp) / "run")
        start = time.perf_counter()
        semicycle.train(cfg)
        total = time.perf_counter() - start
        records = [json.loads(line) for line in (Path(cfg.run_dir) / "losses.jsonl").read_text().splitlines()]
    per_window = [r["s_per_iter"] for r in records[1:]]
    return {
        "preset": preset, "overrides": overrides, "batch_size": cfg.train.batch_size,
        "seconds_per_iteration": round(statistics.median(per_window), 4),  # median over windows
        "fastest_window": round(min(per_window), 4), "iterations_timed": window * len(per_window),
        "wall_seconds_including_setup": round(total, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--window", type=int, default=5, help="warm-up iterations dropped, and iterations per window")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--only", help="measure only the kinds whose name contains this")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default, one per core)")
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra config override for every kind (e.g. a fast-path switch, as the experiments' --set)")
    args = parser.parse_args(argv)
    os.chdir(REPO)
    import torch

    results = {"load_average_before": os.getloadavg(), "torch_threads": torch.get_num_threads(),
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"), "kinds": {}}
    for name, (preset, extra) in KINDS.items():
        if args.only and args.only not in name:
            continue
        result = measure(preset, extra, args.steps, args.size, args.window, args.threads, args.set)
        result["load_average_after"] = os.getloadavg()
        results["kinds"][name] = result
        print(f"{name:38s} {result['seconds_per_iteration']:.3f} s/iteration (median; fastest window of {args.window} "
              f"{result['fastest_window']:.3f})   "
              f"(load average {results['load_average_before'][0]:.2f} before, {result['load_average_after'][0]:.2f} after)", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
