"""Quality parity of the fast path and its variants against fp32 at the experiments' full schedule (issues 19, 45).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_parity.py          # fp32 and issue 45's three variants, 3 seeds
    OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_parity.py --methods okada --seeds 0 --variants fast
    OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_parity.py --tabulate-only         # score what exists

Each run is a run of Okada et al.'s Table 1 reproduction (docs/reproductions/okada.md) (Okada et al. Table 1 at CPU scale): the preset
``okada2019-ssl-facades`` (10% pairs, kappa = lambda = 10) or ``zhu2017-cyclegan-facades`` on the 400
real facades at 64 px (load 72, random crop, flip), ResNet-6 with ngf = ndf = 32, batch 1, 7 epochs at
2e-4 and 8 of linear decay (6,000 iterations), ``--threads`` threads (default 1, so two runs share a
2-core machine). Variants:

* ``fp32``: precision fp32, NCHW, eager (the reference);
* ``fast``: the fast path for a long run on a CPU with native bf16 (``runtime.precision=bf16``): bf16
  autocast, channels_last, torch.compile;
* the fast path with one part kept in fp32 (benchmarks/precision_variants.py): ``fast-fp32-pair-step`` (okada's
  supervised step), ``fast-fp32-discriminators``, ``fast-fp32-pass-through`` (a network whose input requires grad:
  the gradient passes through it to another network), ``fast-bf16-forward-generators`` (the generators'
  convolutions forward in bf16, backward in fp32; the discriminators in fp32).

Each finished run is scored photo -> label on the 100 facades val images (decoded to the nearest class
colour, one confusion matrix over the split) with fp32 inference, and also with the fast path's inference
(bf16 autocast, channels_last, eager: what ``semicycle.load`` picks with ``precision="auto"`` on a CPU with
native bf16); the decoded label maps of the two inferences are compared pixel by pixel (agreement).

The parity test, per method, variant and metric, against fp32: the difference of the means lies within the
seed spread, |mean(variant) - mean(fp32)| <= max(sd(variant), sd(fp32)) over the seeds (``within spread``).

Runs are resumable (run the same command again; finished runs are only re-scored). Every scored run goes into
--json (default benchmarks/results/precision_parity.json, committed), merged with the runs recorded there before
(run folders stay on the machine that trained them; each row names its machine), and the parity is computed
over the merged rows; ``python -m experiments.regenerate_docs`` writes docs/performance.md's tables from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from semicycle.api import load
from semicycle.config import Config, apply_overrides, load_preset
from semicycle.data import load_data
from semicycle.data.palettes import decode_generated_labels
from semicycle.data.transforms import to_float, to_uint8
from semicycle import checkpoints
from semicycle.engine.trainer import Trainer
from semicycle.evaluation.confusion import ConfusionMatrix

from precision_variants import VARIANTS  # benchmarks/: the variants as changes to a built method
from speed import cpu_name

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMICYCLE_DATA", REPO.parent / "shared" / "data"))
PRESETS = {"okada": ("okada2019-ssl-facades", ["pairs.rate=0.1"]), "cyclegan": ("zhu2017-cyclegan-facades", [])}
INFERENCE = {"fp32": {"precision": "fp32", "channels_last": False, "compile": False},
             "fast": {"precision": "bf16", "channels_last": True, "compile": False}}
METRICS = ("pixel_accuracy", "mean_class_accuracy", "mean_iou")
SIZE, WIDTH, EPOCHS, DECAY_EPOCHS = 64, 32, 7, 8


def run_config(out: Path, method: str, variant: str, seed: int, threads: int) -> Config:
    preset, extra = PRESETS[method]
    return apply_overrides(load_preset(preset), [
        f"run_dir={out / f'{method}-{variant}-seed{seed}'}", f"data.root={DATA / 'facades'}",
        f"data.load_size={round(SIZE * 1.125)}", f"data.crop_size={SIZE}", "model.generator=resnet_6blocks",
        f"model.ngf={WIDTH}", f"model.ndf={WIDTH}", *extra, *VARIANTS[variant][0], f"runtime.threads={threads}",
        f"train.seed={seed}", f"train.epochs={EPOCHS}", f"train.decay_epochs={DECAY_EPOCHS}",
        "log.log_every=50", "log.sample_every=0", "log.checkpoint_every=250", "log.keep_every_epochs=0",
        "log.progress=false",
    ])


def finished(cfg: Config) -> bool:
    path = Path(cfg.run_dir) / "ckpt" / checkpoints.LATEST
    if not path.is_file():
        return False
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state["progress"]["epoch"] >= cfg.train.epochs + cfg.train.decay_epochs


def training_record(cfg: Config) -> dict:
    """Logged steps, non-finite losses, the median images/s (after the first tenth) from losses.jsonl."""
    records = [json.loads(line) for line in (Path(cfg.run_dir) / "losses.jsonl").read_text().splitlines()]
    keys = [k for k in records[0] if k not in ("iter", "epoch", "lr", "img_per_s", "s_per_iter")]
    return {
        "iterations": records[-1]["iter"],
        "non_finite_logged_steps": sum(not all(math.isfinite(r[k]) for k in keys if k in r) for r in records),
        "img_per_s_median": statistics.median(r["img_per_s"] for r in records[len(records) // 10 :]),
    }


def val_label_maps(run_dir: Path, inference: dict) -> tuple[torch.Tensor, torch.Tensor, object]:
    """Photo -> label on the val split: (decoded class indices, true class indices, palette)."""
    data_cfg = apply_overrides(Config(), [f"data.{k}={v}" for k, v in {
        "dataset": "aligned", "root": DATA / "facades", "palette": "facades", "load_size": SIZE, "crop_size": SIZE}.items()]).data
    data = load_data(data_cfg, "val", progress=False)
    translator = load(run_dir, device="cpu", **inference)
    decoded = [decode_generated_labels(to_uint8(translator.translate_tensor(to_float(data.A[i : i + 16]), "AtoB")), data.palette)
               for i in range(0, len(data.A), 16)]
    return torch.cat(decoded), data.labels_B.long(), data.palette


def scores(predicted: torch.Tensor, truth: torch.Tensor, palette) -> dict:
    matrix = ConfusionMatrix(palette.num_classes, palette.ignore_index, class_names=palette.class_names)
    matrix.update(predicted, truth)
    result = matrix.result()
    return {k: result[k] for k in METRICS}


def score_run(cfg: Config) -> dict:
    """Scores with fp32 inference (the metrics compared) and with fast-path inference, and the share of
    val pixels whose decoded class is the same under both."""
    fp32_maps, truth, palette = val_label_maps(Path(cfg.run_dir), INFERENCE["fp32"])
    fast_maps, _, _ = val_label_maps(Path(cfg.run_dir), INFERENCE["fast"])
    return {"fp32_inference": scores(fp32_maps, truth, palette), "fast_inference": scores(fast_maps, truth, palette),
            "inference_agreement": float((fast_maps == fp32_maps).float().mean()), "val_images": len(truth)}


def parity(rows: list[dict], method: str, variant: str) -> dict:
    """Per metric: fp32's and the variant's mean and sd over seeds, the difference of the means and whether it lies
    within the larger sd; {} until both have two seeds."""
    out = {}
    for metric in METRICS:
        values = {v: [r["fp32_inference"][metric] for r in rows if r["method"] == method and r["variant"] == v] for v in ("fp32", variant)}
        if any(len(x) < 2 for x in values.values()):
            continue
        reference, other = values["fp32"], values[variant]
        difference = statistics.mean(other) - statistics.mean(reference)
        out[metric] = {"mean_fp32": statistics.mean(reference), "sd_fp32": statistics.stdev(reference), "n_fp32": len(reference),
                       "mean_variant": statistics.mean(other), "sd_variant": statistics.stdev(other), "n_variant": len(other),
                       "difference": difference, "within_spread": abs(difference) <= max(statistics.stdev(reference), statistics.stdev(other))}
    return out


def run_key(row: dict) -> str:
    return f"{row['method']}-{row['variant']}-seed{row['seed']}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "runs" / "precision_parity"), help="the run folders")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "precision_parity.json"),
                        help="the record of every scored run (merged with what it holds) and the parity")
    parser.add_argument("--methods", nargs="+", choices=sorted(PRESETS), default=["okada", "cyclegan"])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS),
                        default=["fp32", "fast-fp32-discriminators", "fast-fp32-pass-through", "fast-bf16-forward-generators"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tabulate-only", action="store_true", help="score finished runs, train nothing")
    args = parser.parse_args(argv)
    if "fast-fp32-pair-step" in args.variants and args.methods != ["okada"]:
        parser.error("--variants fast-fp32-pair-step needs --methods okada (only okada has a pair step)")
    out = Path(args.out)
    record_path = Path(args.json)
    machine = f"{cpu_name()}, {torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}"
    rows = []
    for method in args.methods:
        for seed in args.seeds:
            for variant in args.variants:
                cfg = run_config(out, method, variant, seed, args.threads)
                if not finished(cfg):
                    if args.tabulate_only:
                        continue
                    resume = (Path(cfg.run_dir) / "ckpt" / checkpoints.LATEST).is_file()
                    print(f"training {cfg.run_dir} ({'resuming' if resume else 'from scratch'})", file=sys.stderr, flush=True)
                    start = time.perf_counter()
                    trainer = Trainer(cfg, resume=resume)
                    change = VARIANTS[variant][1]
                    if change is not None:
                        change(trainer.method)
                    trainer.fit()
                    print(f"trained {cfg.run_dir} in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # emulated bf16 on CPUs without native bf16
                    row = {"method": method, "variant": variant, "seed": seed, "run": str(cfg.run_dir), "machine": machine,
                           "training": training_record(cfg), **score_run(cfg)}
                print(json.dumps(row), flush=True)
                rows.append(row)
    record = json.loads(record_path.read_text()) if record_path.is_file() else {"runs": {}}  # read now: another process may have written
    record["runs"].update({run_key(row): row for row in rows})
    merged = list(record["runs"].values())
    record["parity"] = {m: {v: parity(merged, m, v) for v in sorted({r["variant"] for r in merged if r["method"] == m}) if v != "fp32"}
                        for m in sorted({r["method"] for r in merged})}
    record["command"] = "OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_parity.py"
    record["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record["parity"], indent=1))
    print(f"wrote {record_path}; python -m experiments.regenerate_docs writes docs/performance.md's tables from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
