"""Training and translation speed: the reference configuration against the fast path (issue 5).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed.py                  # the full table (~30 min on 2 cores)
    OMP_WAIT_POLICY=PASSIVE python benchmarks/speed.py --sizes 128 --no-semi --no-translate   # a quick look
    python benchmarks/speed.py --json runs/speed.json                    # also keep the raw numbers

One run measures everything in one table (medians over --steps timed steps after --warmup steps):

* CycleGAN training step, (a) the reference: eager fp32 NCHW with the official CycleGAN defaults (ResNet-9,
  ngf 64, 3-layer PatchGAN, LSGAN, pool 50, identity 0.5, batch 1) and (b) the fast path: the same run with
  ``runtime.precision=bf16`` and ``runtime.channels_last/compile=auto`` (channels_last + compile for a long run;
  on hardware without native bf16, ``auto`` everywhere, i.e. fp32), at 128 and 256 px; ratio = (a) / (b).
  Where the CPU has no native bf16 the explicit alternatives are measured
  too (channels_last alone, compile alone), to show why auto leaves them off.
* translate images/s at 256 px, batch 1 and 8: fp32 eager against the fast path (bf16 where native) +
  channels_last + compile.
* the semi-supervised methods' steps (okada, shukla, mondal, paired segment, pix2pix) at 128 px, reference
  against fast path, with their presets' networks.
* the input pipeline (in-memory uint8 crop/flip + float conversion) as a share of the step, at 64 px.
* GFLOP per step counted with torch.utils.flop_counter (2 FLOPs per multiply-add, forward + backward of
  the fp32 reference), the achieved GFLOP/s, and the fp32 / bf16 matmul peaks measured in the same run.

Images/s counts training items (an A and a B image each; a batch of b items is b images/s per second).
Data: the real facades (and CMP for Mondal) from $SEMICYCLE_DATA, preloaded before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from semicycle.api import load
from semicycle.config import Config, apply_overrides, load_preset
import semicycle.runtime as devmod
from semicycle.engine.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMICYCLE_DATA", REPO.parent / "shared" / "data"))
REFERENCE = ["runtime.precision=fp32", "runtime.channels_last=false", "runtime.compile=false"]
# the fast path: bf16 (an opt-in, see AUTO_PICKS_BF16) with auto's layout and compilation
FAST = ["runtime.precision=bf16", "runtime.channels_last=auto", "runtime.compile=auto"]
AUTO = ["runtime.precision=auto", "runtime.channels_last=auto", "runtime.compile=auto"]
SEMI = {  # name: (preset, extra overrides)
    "okada": ("okada2019-ssl-facades", []),
    "shukla": ("shukla2019-weak-facades", []),
    "mondal": ("mondal2019-semiseg-cmp", []),
    "paired segment": ("mondal2019-partial-cmp", []),
    "pix2pix": ("isola2017-pix2pix-facades", []),
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cpu_name() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        return f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')})"
    except OSError:
        return platform.processor() or platform.machine()


def matmul_peak(dtype: torch.dtype, device: torch.device) -> tuple[float, int]:
    """Best GFLOP/s of square matmuls; the size grows while a product takes < 0.2 s (slow emulated bf16
    stays small)."""
    n, best = 256, 0.0
    while True:
        a = torch.randn(n, n, dtype=dtype, device=device)
        b = torch.randn(n, n, dtype=dtype, device=device)
        a @ b
        sync(device)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            sync(device)
            times.append(time.perf_counter() - start)
        best = max(best, 2 * n**3 / min(times) / 1e9)
        if min(times) > 0.2 or n >= 4096:
            return best, n
        n *= 2


def base_config(run_dir: Path, size: int, preset: str | None, extra: list[str], images: int) -> Config:
    load_size = round(size * 286 / 256)
    cfg = load_preset(preset) if preset else Config()
    common = [f"run_dir={run_dir}", f"data.load_size={load_size}", f"data.crop_size={size}", f"data.max_images={images}",
              "log.progress=false", "log.sample_every=0", "log.checkpoint_every=0", "log.log_every=1000000",
              "log.keep_every_epochs=0"]
    if preset is None:  # the official CycleGAN defaults on facades (Config's defaults are the paper's)
        common += ["data.dataset=aligned", f"data.root={DATA / 'facades'}", "data.palette=facades"]
    return apply_overrides(cfg, common + extra)


class Timer:
    """Builds a Trainer for a configuration and times its training steps."""

    def __init__(self, cfg: Config):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.trainer = Trainer(cfg)
        self.method = self.trainer.method
        self.runtime = self.trainer.runtime
        self.batches = self.method.batches

    def batch(self, i: int):
        """Step i's batch on the device (the trainer moves each batch there before the method's step)."""
        per_epoch = self.batches.steps_per_epoch
        return self.batches.batch(i // per_epoch, i % per_epoch).to(self.runtime.put)

    def run(self, warmup: int, steps: int) -> dict:
        dev = self.runtime.device
        first = None
        step_times, pipe_times, sizes = [], [], []
        for i in range(warmup + steps):
            sync(dev)
            start = time.perf_counter()
            batch = self.batch(i)
            ready = time.perf_counter()
            self.method.train_step(batch)
            sync(dev)
            end = time.perf_counter()
            if i == 0:
                first = end - start
            if i >= warmup:
                step_times.append(end - start)
                pipe_times.append(ready - start)
                sizes.append(batch.size)
        median = statistics.median(step_times)
        return {
            "s_per_step": median,
            "images_per_s": statistics.median(sizes) / median,
            "pipeline_s": statistics.median(pipe_times),
            "first_step_s": first,
            "runtime": self.runtime.describe(),
        }

    def flops(self) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            self.method.train_step(self.batch(0))
        return counter.get_total_flops()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def train_rows(label: str, size: int, preset, extra, variants, args, root: Path) -> list[dict]:
    rows, flops = [], None
    for name, overrides in variants:
        run_dir = root / f"{label}-{size}-{name}".replace(" ", "_")
        cfg = base_config(run_dir, size, preset, [*extra, *overrides], args.images)
        timer = Timer(cfg)
        if flops is None:  # counted on the eager fp32 reference (the same arithmetic in every variant)
            flops = timer.flops()
        log(f"  {label} {size}px {name}: {timer.runtime.summary()}")
        result = timer.run(args.warmup_compiled if timer.runtime.compile else args.warmup, args.steps)
        result.update(what=f"{label} train step", size=size, batch=cfg.train.batch_size, variant=name,
                      gflop=flops / 1e9, gflops=flops / 1e9 / result["s_per_step"])
        log(f"    {result['s_per_step']:.3f} s/step, first step {result['first_step_s']:.1f} s")
        rows.append(result)
        del timer
    ref = rows[0]["s_per_step"]
    for row in rows[1:]:
        row["ratio"] = ref / row["s_per_step"]
    return rows


def translate_rows(args, root: Path, native: bool | None) -> list[dict]:
    run_dir = root / "translate"
    size = args.translate_size
    cfg = base_config(run_dir, size, None, [*REFERENCE, "train.max_steps=1", f"runtime.device={args.device}"], 4)
    trainer = Trainer(cfg)
    trainer.save()
    rows = []
    variants = [("reference", dict(precision="fp32", channels_last=False, compile=False)),
                ("fast path", dict(precision="bf16" if native is not False else "auto", channels_last="auto", compile=True))]
    for batch in (1, 8):
        images = torch.rand(batch, 3, size, size) * 2 - 1
        ref = None
        for name, options in variants:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                translator = load(run_dir, device=args.device, **options)
            start = time.perf_counter()
            translator.translate_tensor(images)  # compiles on the first call
            first = time.perf_counter() - start
            warm = 1 if batch == 8 else args.warmup
            for _ in range(warm):
                translator.translate_tensor(images)
            times = []
            for _ in range(args.translate_steps):
                start = time.perf_counter()
                translator.translate_tensor(images)
                times.append(time.perf_counter() - start)
            median = statistics.median(times)
            row = {"what": "translate", "size": size, "batch": batch, "variant": name, "s_per_step": median,
                   "images_per_s": batch / median, "first_step_s": first, "runtime": translator.runtime.describe()}
            ref = ref or median
            if name != "reference":
                row["ratio"] = ref / median
            log(f"  translate b{batch} {name}: {batch / median:.2f} images/s (first call {first:.1f} s)")
            rows.append(row)
    return rows


def fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def table(rows: list[dict], peaks: dict) -> str:
    head = ("| what | px | batch | variant | precision | channels_last | compile | s/step | images/s | "
            "ratio (a)/(b) | input pipeline | GFLOP/step | GFLOP/s | % of matmul peak |")
    lines = [head, "|" + " --- |" * 14]
    for r in rows:
        rt = r["runtime"]
        pipe = r.get("pipeline_s")
        pipe_text = "" if pipe is None else f"{1000 * pipe:.2f} ms ({100 * pipe / r['s_per_step']:.1f}%)"
        lines.append(
            f"| {r['what']} | {r['size']} | {r['batch']} | {r['variant']} | {rt['precision']} | "
            f"{'on' if rt['channels_last'] else 'off'} | {'on' if rt['compile'] else 'off'} | {r['s_per_step']:.3f} | "
            f"{r['images_per_s']:.2f} | {fmt(r.get('ratio'), '.2f')} | "
            f"{pipe_text} | "
            f"{fmt(r.get('gflop'), '.1f')} | {fmt(r.get('gflops'), '.0f')} | "
            f"{fmt(r['gflops'] / peaks[rt['precision']] * 100 if r.get('gflops') and rt['precision'] in peaks else None, '.0f')} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="CycleGAN training sizes")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (eager)")
    parser.add_argument("--warmup-compiled", type=int, default=3, help="untimed steps first when compiled")
    parser.add_argument("--translate-steps", type=int, default=10)
    parser.add_argument("--translate-size", type=int, default=256)
    parser.add_argument("--images", type=int, default=20, help="images preloaded per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--no-semi", action="store_true", help="skip the semi-supervised methods")
    parser.add_argument("--no-translate", action="store_true")
    parser.add_argument("--no-variants", action="store_true", help="skip the explicit channels_last/compile rows")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = devmod.resolve_device(args.device)
    extra_device = [f"runtime.device={args.device}"]

    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    fp32_peak, n32 = matmul_peak(torch.float32, device)
    bf16_peak, n16 = matmul_peak(torch.bfloat16, device)
    native = devmod.cpu_has_native_bf16() if device.type == "cpu" else None
    print(f"# device {device}: {cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}; "
          f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {native}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    print(f"# matmul peak: fp32 {fp32_peak:.0f} GFLOP/s ({n32}x{n32}), bf16 {bf16_peak:.1f} GFLOP/s ({n16}x{n16})")
    print(f"# load average at start {load_start:.2f}", flush=True)

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="semicycle_speed_") as tmp:
        root = Path(tmp)
        # where bf16 is emulated the fast path is what auto picks there (fp32): bf16 would run many times slower
        variants = [("reference (a)", REFERENCE), ("fast path (b)", FAST if native is not False else AUTO)]
        cl_only = ("channels_last only", ["runtime.precision=fp32", "runtime.channels_last=true", "runtime.compile=false"])
        compile_only = ("compile only", ["runtime.precision=fp32", "runtime.channels_last=false", "runtime.compile=true"])
        for size in args.sizes:
            log(f"CycleGAN {size}px")
            extra_variants = [] if args.no_variants or native is not False or size != min(args.sizes) else [cl_only, compile_only]
            rows += train_rows("CycleGAN", size, None, extra_device, variants + extra_variants, args, root)
        log("input pipeline at 64 px")
        rows += train_rows("CycleGAN", 64, None, extra_device, variants, args, root)
        rows += train_rows("demo", 64, "demo", [*extra_device, f"data.root={root / 'synthetic'}"], variants, args, root)
        if not args.no_translate:
            log("translate")
            rows += translate_rows(args, root, native)
        if not args.no_semi:
            for label, (preset, extra) in SEMI.items():
                log(f"{label} ({preset}) 128px")
                images = ["data.max_images=30"]
                rows += train_rows(label, 128, preset, [*extra_device, *images, *extra], variants, args, root)

    print(table(rows, {"fp32": fp32_peak, "bf16": bf16_peak}))
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# fp32 matmul peak {fp32_peak:.0f} GFLOP/s, bf16 {bf16_peak:.1f} GFLOP/s; load average {load_start:.2f} at "
          f"start, {load_end:.2f} at end; {(time.perf_counter() - started) / 60:.1f} min")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "fp32_peak": fp32_peak, "bf16_peak": bf16_peak,
                                               "load_start": load_start, "load_end": load_end}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
