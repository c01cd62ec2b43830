"""Spread of tests/test_methods.py's okada-vs-CycleGAN statistic across machines (issue 18).

The test trains okada (all pairs) and CycleGAN for 40 steps on 8 facades images and asserts that okada's
photo -> label output is closer to the labels. Forty GAN steps are chaotic, so another CPU kernel set,
thread count or precision moves both numbers; this script measures how far, for several seeds, so that the
test's bounds hold on every machine. Each setting runs in a fresh process (the kernel caps are read at
torch start-up):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/okada_margin_spread.py [--seeds 0 1 2 3 4]

Prints one JSON line per (seed, setting): okada / CycleGAN L1 to the labels, their ratio, the pixel
accuracy of each and the gap. "avx2 kernels" sets ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2, which
makes an AVX512 CPU compute as an AVX2-only one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {  # name: (precision, threads, extra environment)
    "fp32, 1 thread": ("fp32", 1, {}),
    "fp32, 2 threads": ("fp32", 2, {}),
    "bf16, 1 thread": ("bf16", 1, {}),
    "fp32, avx2 kernels": ("fp32", 1, {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}),
}


def measure(root: str, seed: int, precision: str, threads: int) -> dict:
    """The test's two runs (its exact configuration, but the seed and precision) and its statistic."""
    import torch

    from semicycle.config import Config, apply_overrides
    from semicycle.data.transforms import to_uint8
    from semicycle.engine.trainer import Trainer

    torch.set_num_threads(threads)
    common = [
        "data.dataset=aligned", f"data.root={root}", "data.palette=facades",
        "data.max_images=8", "data.load_size=72", "data.crop_size=64",
        "model.generator=resnet_6blocks", "model.ngf=16", "model.ndf=16",
        "train.epochs=10", "train.decay_epochs=0", "train.batch_size=2", f"train.seed={seed}",
        "log.progress=false", "log.sample_every=0", "log.log_every=4", "log.checkpoint_every=0",
        f"runtime.precision={precision}",
    ]  # fmt: skip
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        okada = Trainer(apply_overrides(Config(), [f"run_dir={tmp}/okada", "train.method=okada", "pairs.rate=1.0", *common]))
        cyclegan = Trainer(apply_overrides(Config(), [f"run_dir={tmp}/cyclegan", "train.method=cyclegan", *common]))
        A, B = okada.sample_batch["A"], okada.sample_batch["B"]
        truth = okada.sets.palette.to_index(to_uint8(B))

        def scores(trainer) -> tuple[float, float]:
            out = trainer.translate(A, "AtoB")
            return float((out - B).abs().mean()), float((okada.sets.palette.to_index(to_uint8(out)) == truth).float().mean())

        okada.fit()
        cyclegan.fit()
        (okada_l1, okada_acc), (cyclegan_l1, cyclegan_acc) = scores(okada), scores(cyclegan)
    return {
        "seed": seed, "precision": precision, "threads": threads, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "okada_l1": round(okada_l1, 4), "cyclegan_l1": round(cyclegan_l1, 4), "ratio": round(okada_l1 / cyclegan_l1, 3),
        "okada_acc": round(okada_acc, 4), "cyclegan_acc": round(cyclegan_acc, 4), "acc_gap": round(okada_acc - cyclegan_acc, 3),
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--data", default=os.environ.get("SEMICYCLE_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
    parser.add_argument("--one", nargs=3, metavar=("SEED", "PRECISION", "THREADS"), help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args(argv)
    root = str(Path(args.data) / "facades")
    if args.one:
        print(json.dumps(measure(root, int(args.one[0]), args.one[1], int(args.one[2]))), flush=True)
        return 0
    results = []
    for seed in args.seeds:
        for name, (precision, threads, env) in SETTINGS.items():
            child = [sys.executable, __file__, "--data", args.data, "--one", str(seed), precision, str(threads)]
            line = subprocess.run(child, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
            results.append({"setting": name, **json.loads(line)})
            print(json.dumps(results[-1]), flush=True)
    ratios, gaps = [r["ratio"] for r in results], [r["acc_gap"] for r in results]
    print(f"okada_l1 / cyclegan_l1: {min(ratios)}-{max(ratios)}; pixel-accuracy gap: {min(gaps)}-{max(gaps)} "
          f"({len(results)} runs: seeds {args.seeds} x {len(SETTINGS)} settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
