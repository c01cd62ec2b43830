"""Timing training steps of several configurations in turns in one process, and the benchmarks/results/ record of
such a measurement (benchmarks/cut_speed.py, benchmarks/precision_variants.py)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from semicycle.engine.trainer import Trainer
from speed import cpu_name

RESULTS = Path(__file__).resolve().parent / "results"


def time_steps(runs: dict[str, Trainer], steps: int, warmup: int) -> dict[str, list[float]]:
    batches = {name: [b.to(t.runtime.put) for _, (_, b) in zip(range(steps + warmup), t.method.batches.epoch(0))] for name, t in runs.items()}
    times = {name: [] for name in runs}
    for step in range(steps + warmup):
        for name, trainer in runs.items():
            start = time.perf_counter()
            trainer.method.train_step(batches[name][step % len(batches[name])])
            if step >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def write_record(script: str, argv, args, load_start: float, rows: list[dict]) -> None:
    """``args.json``: the command, the machine, the steps, the load averages at the start and now, and the rows."""
    record = {"command": " ".join([f"OMP_WAIT_POLICY=PASSIVE python benchmarks/{script}.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "capability": torch.backends.cpu.get_cpu_capability()},
              "steps": args.steps, "warmup": args.warmup, "load_average_start": round(load_start, 2),
              "load_average_end": round(os.getloadavg()[0], 2), "rows": rows,
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"load average after: {record['load_average_end']:.2f}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
