"""Two processes x 1 thread against one process x 2 threads, the same global batch, on this CPU (issue 21).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/distributed_overhead.py [--steps 60] [--size 64] [--json FILE]

Each variant is a real ``semicycle train`` (one process, or ``torchrun --nproc_per_node=2``) of CycleGAN on the
embedded synthetic data (ResNet-6, ngf = ndf = 32, pool 50, fp32), global batch 2; the speed is read from the
run's loss log (``s_per_iter`` per window of ``--window`` iterations, the first window dropped as warm-up):
images/s = global batch / median seconds per iteration. ``train_speed`` is shared with gpu_check.py.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_speed(out: Path, overrides: list[str], processes: int = 1, threads: int = 0, window: int = 10) -> dict:
    """Train ``semicycle train --out OUT OVERRIDES`` with ``processes`` (torchrun when > 1) and report the
    median seconds per iteration over the log windows after the first, and the peak GPU memory if any."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_WAIT_POLICY": "PASSIVE"}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    launcher = [sys.executable] + (["-m", "torch.distributed.run", f"--nproc_per_node={processes}", f"--master_port={free_port()}"]
                                   if processes > 1 else [])
    args = ["-m", "semicycle", "train", "--out", str(out), *overrides, f"log.log_every={window}", "log.progress=false",
            "log.sample_every=0", "log.checkpoint_every=0", "log.keep_every_epochs=0"] + ([f"runtime.threads={threads}"] if threads else [])
    done = subprocess.run(launcher + args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(launcher + args)} failed:\n{done.stderr[-3000:]}")
    records = [json.loads(line) for line in (out / "losses.jsonl").read_text().splitlines()][1:]
    seconds = statistics.median(r["s_per_iter"] for r in records)
    return {"s_per_iter": seconds, "windows": len(records), "gpu_mem_mb": max((r.get("gpu_mem_mb", 0) for r in records), default=0)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    common = ["data.dataset=synthetic", f"data.load_size={round(args.size * 286 / 256 / 2) * 2}", f"data.crop_size={args.size}",
              "model.generator=resnet_6blocks", "model.ngf=32", "model.ndf=32", "runtime.precision=fp32",
              f"train.max_steps={args.steps}", "train.epochs=100", "train.decay_epochs=0"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, processes, threads, batch in (("1 process x 2 threads, batch 2", 1, 2, 2), ("2 processes x 1 thread, batch 1 each", 2, 1, 1)):
            result = train_speed(Path(tmp) / str(processes), [*common, f"train.batch_size={batch}"], processes, threads)
            rows.append({"variant": name, "processes": processes, "threads": threads, "global_batch": 2,
                         **result, "images_per_s": 2 / result["s_per_iter"]})
    rows[1]["ratio"] = rows[1]["images_per_s"] / rows[0]["images_per_s"]
    print("| variant | s/iteration | images/s | 2 processes / 1 process |\n| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['variant']} | {row['s_per_iter']:.3f} | {row['images_per_s']:.2f} | {row.get('ratio', 1):.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
