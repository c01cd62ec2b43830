"""The GPU check: one command a GPU owner runs (issue 21). Prints a table and writes a JSON file.

    python benchmarks/gpu_check.py [--steps 60] [--json gpu_check.json]        # on a machine with CUDA GPUs
    python benchmarks/gpu_check.py --device cpu --size 64 --steps 20           # a dry run of the script on a CPU

The paper's CycleGAN (ResNet-9, ngf = ndf = 64, 70x70 PatchGAN, LSGAN, pool 50) at 256 px on the embedded
synthetic data (nothing to download), batch 1 and 4: fp32 eager against the fast path (bf16 autocast where the
GPU has it, else fp16; channels_last; torch.compile), in training images/s and peak memory; with more than one
GPU also DDP scaling (torchrun, one process per GPU, the same batch per GPU). Every variant is a real
``semicycle train``; speeds come from its loss log (the first window of ``--window`` iterations, which holds
compilation, is dropped).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distributed_overhead import train_speed  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60, help="iterations per variant (the first window is warm-up)")
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--device", default="cuda")
    p.add_argument("--json", default="gpu_check.json")
    args = p.parse_args(argv)
    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: run it on a GPU machine (or --device cpu for a dry run)")
    low = "bf16" if not cuda or torch.cuda.is_bf16_supported() else "fp16"
    variants = [("fp32 eager", ["runtime.precision=fp32", "runtime.channels_last=false", "runtime.compile=false"]),
                (f"fast path ({low}, channels_last, compile)", [f"runtime.precision={low}", "runtime.channels_last=true", "runtime.compile=true"])]
    gpus = torch.cuda.device_count() if cuda else 1
    common = ["data.dataset=synthetic", f"data.load_size={round(args.size * 286 / 256)}", f"data.crop_size={args.size}",
              f"runtime.device={args.device}", f"train.max_steps={args.steps}", "train.epochs=1000", "train.decay_epochs=0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for batch in (1, 4):
            for name, overrides in variants:
                for processes in sorted({1, gpus}):
                    out = Path(tmp) / f"b{batch}-{len(rows)}"
                    result = train_speed(out, [*common, *overrides, f"train.batch_size={batch}"], processes, window=args.window)
                    rows.append({"batch_per_gpu": batch, "variant": name, "gpus": processes, **result,
                                 "images_per_s": batch * processes / result["s_per_iter"]})
                    print(f"batch {batch}, {name}, {processes} GPU(s): {rows[-1]['images_per_s']:.2f} images/s", file=sys.stderr, flush=True)
    for row in rows:
        same = [r for r in rows if r["batch_per_gpu"] == row["batch_per_gpu"] and r["gpus"] == row["gpus"]]
        row["speedup_vs_fp32"] = row["images_per_s"] / same[0]["images_per_s"]
        one_gpu = [r for r in rows if r["batch_per_gpu"] == row["batch_per_gpu"] and r["variant"] == row["variant"] and r["gpus"] == 1]
        row["scaling_vs_1_gpu"] = row["images_per_s"] / one_gpu[0]["images_per_s"]
    machine = torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine()
    print(f"\n{machine}, torch {torch.__version__}, {args.size} px CycleGAN (ResNet-9, ngf 64)\n")
    print("| batch/GPU | variant | GPUs | images/s | vs fp32 | vs 1 GPU | peak memory (MB) |\n| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['batch_per_gpu']} | {r['variant']} | {r['gpus']} | {r['images_per_s']:.2f} | {r['speedup_vs_fp32']:.2f} | "
              f"{r['scaling_vs_1_gpu']:.2f} | {r['gpu_mem_mb'] or '—'} |")
    Path(args.json).write_text(json.dumps({"machine": machine, "torch": torch.__version__, "size": args.size, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
