"""Translation speed of an exported model: onnxruntime against PyTorch (eager fp32 and the fast path), side by side.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/onnx_speed.py                         # ~10 min on 2 cores
    OMP_WAIT_POLICY=PASSIVE python benchmarks/onnx_speed.py --generators resnet_9blocks --steps 2   # a quick look
    python benchmarks/onnx_speed.py --json runs/onnx_speed.json                       # also keep the raw numbers

For each generator (default: CycleGAN's resnet_9blocks and pix2pix's unet_256, ngf 64) one training step on
facades at 256 px makes a checkpoint, ``semicycle.export_onnx`` writes its AtoB generator, and the same
random batch is translated (``Translator.translate_tensor``: the one inference path, pre- and
post-processing included) by

* pytorch fp32: eager, NCHW (the reference);
* pytorch fast path: bf16 where the CPU computes it natively (else fp32), channels_last=auto, compiled;
* onnxruntime: the exported file on onnxruntime's CPU provider (its default threads: one per core).

at batch 1 and 8: images/s (median of --steps timed calls after one warm-up call), the ratio to the
reference, and the largest output difference to the reference in [-1, 1] units.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch

import semicycle
from semicycle.config import apply_overrides, load_preset
from semicycle.runtime import cpu_has_native_bf16

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMICYCLE_DATA", REPO.parent / "shared" / "data"))


def checkpoint(run_dir: Path, generator: str) -> Path:
    """One CycleGAN step on four facades pairs at 256 px: a checkpoint of that architecture (ngf 64)."""
    cfg = apply_overrides(load_preset("zhu2017-cyclegan-facades"), [
        f"run_dir={run_dir}", f"data.root={DATA / 'facades'}", "data.load_size=256", "data.crop_size=256",
        "data.max_images=4", f"model.generator={generator}", "train.batch_size=1", "train.max_steps=1",
        "runtime.precision=fp32", "log.progress=false", "log.sample_every=0"])
    return semicycle.train(cfg)


def timed(translator, images: torch.Tensor, steps: int) -> float:
    translator.translate_tensor(images)  # warm-up (compiles the fast path)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        translator.translate_tensor(images)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", default="resnet_9blocks,unet_256")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--steps", type=int, default=3, help="timed calls per variant (median)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    native = cpu_has_native_bf16()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"native bf16: {native}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for generator in args.generators.split(","):
            run = Path(tmp) / generator
            checkpoint(run, generator)
            exported = semicycle.export_onnx(run, "AtoB", Path(tmp) / f"{generator}.onnx")
            variants = {
                "pytorch fp32": lambda: semicycle.load(run, precision="fp32", channels_last=False, compile=False),
                "pytorch fast path": lambda: semicycle.load(run, precision="bf16" if native else "fp32",
                                                            channels_last="auto", compile=True),
                "onnxruntime": lambda: semicycle.load(exported),
            }
            for batch in map(int, args.batches.split(",")):
                images = torch.rand(batch, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1
                reference = reference_seconds = None
                for name, make in variants.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        translator = make()
                        seconds = timed(translator, images, args.steps)
                        output = translator.translate_tensor(images)
                    if reference is None:
                        reference, reference_seconds = output, seconds
                    row = {"generator": generator, "batch": batch, "variant": name, "images_per_s": batch / seconds,
                           "ratio": reference_seconds / seconds, "max_abs_diff": float((output - reference).abs().max())}
                    rows.append(row)
                    print(f"{generator:15s} b{batch} {name:18s} {row['images_per_s']:7.2f} images/s  "
                          f"x{row['ratio']:.2f}  max |diff| {row['max_abs_diff']:.1e}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"native_bf16": native, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
