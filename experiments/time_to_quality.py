"""Time to quality (facades, photo -> label): mIoU along training for CycleGAN, okada with 10% pairs, and pix2pix on
those same pairs, against iterations and against wall time.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.time_to_quality [--split val] [--quick]

Runs (seed 0, okada_table1.py's CPU-scale configuration: 64 px, resnet_6blocks, ngf = ndf = 32, batch 1,
ITERATIONS iterations, half constant LR and half decay), each keeping a checkpoint every KEEP_ITERATIONS iterations
(``log.keep_every_epochs``: 2 epochs of the 400 facades photos; 20 epochs of the 40 pairs for pix2pix):
  cyclegan     preset zhu2017-cyclegan-facades
  okada_10     preset okada2019-ssl-facades, pairs.rate=0.1 (40 pairs, kappa = lambda = 10)
  pix2pix_10   the paired method alone on the same 40 pairs (pairs.rate=0.1, same seed), conditional PatchGAN, L1 x 100,
               the shared ResNet generator with instance norm
  pix2pix_10_seed1  the same with train.seed=1 (its own 40 pairs; not in --quick): pix2pix's seed spread, 7 min
Each kept checkpoint is scored photo -> label on --split (nearest palette colour; mean IoU, pixel accuracy), its
iteration and training seconds read from the checkpoint; the scores go to RUN/quality_curve_<split>.json.
The table says after how many iterations (and minutes) okada first reaches CycleGAN's final mIoU.
"""

from __future__ import annotations

import math
import sys


import semicycle
from semicycle import checkpoints
from semicycle.figures import hstack, line_panel, save

from experiments import cli, okada_table1, tables
from experiments.common import Experiment, Run
from experiments.records import read_json, write_json

NAME = "time_to_quality"
ITERATIONS = okada_table1.ITERATIONS
KEEP_ITERATIONS = 800  # 2 epochs of the 400 facades photos (cyclegan, okada), 20 epochs of the 40 pairs (pix2pix)
METHODS = {  # run name: (preset, overrides, epochs between kept checkpoints, label)
    "cyclegan": ("zhu2017-cyclegan-facades", [], 2, "CycleGAN (no pairs)"),
    "okada_10": ("okada2019-ssl-facades", ["pairs.rate=0.1"], 2, "okada, 10% pairs"),
    "pix2pix_10": ("isola2017-pix2pix-facades", ["pairs.rate=0.1", "model.norm=instance"], 20, "pix2pix on the same 10% pairs"),
}


def build(args) -> Experiment:
    exp = Experiment(NAME, "Time to quality: photo -> label mIoU along training (facades, CPU scale)", args, ITERATIONS)
    for name, (preset, overrides, keep_epochs, label) in METHODS.items():
        keep = 1 if exp.quick else keep_epochs
        exp.add(Run(name, preset, ["train.seed=0", *overrides, f"log.keep_every_epochs={keep}"], label=label, direction="AtoB"))
    if not exp.quick:  # pix2pix's seed spread (7 min): seed 1 draws its own 40 pairs
        exp.add_second_seed(exp.run("pix2pix_10")).label = "pix2pix on 10% pairs, seed 1 (its own 40 pairs)"
    return exp


def photo_to_label(metrics: dict) -> dict:
    """A kept checkpoint's photo -> label scores: mean IoU and pixel accuracy."""
    return {key: metrics["photo_to_label"][key] for key in ("mean_iou", "pixel_accuracy")}


def quality_curve(exp: Experiment, run: Run, score=photo_to_label) -> list[dict]:
    """The run's kept checkpoints scored on the split in the run's direction, ``score(metrics)`` per checkpoint (cached
    in RUN/quality_curve_<split>.json, kept in the results folder's quality_curves_<split>.json for when the run is only
    recorded: trained on another machine); [] before it finishes."""
    kept_curves = exp.out_dir / f"quality_curves_{exp.split}.json"
    if not exp.is_finished(run):
        return read_json(kept_curves, {}).get(run.name, []) if exp.recorded(run) else []
    path = run.run_dir / f"quality_curve_{exp.split}.json"
    points = {p["checkpoint"]: p for p in read_json(path, [])}
    kept = sorted((run.run_dir / "ckpt").glob("epoch_*.pt"))
    for file in kept:
        if file.name in points:
            continue
        progress = checkpoints.load(file)["progress"]
        metrics = semicycle.evaluate(file, direction=run.direction, split=exp.split, out_dir=run.run_dir / "eval_kept" / file.stem,
                                     overrides=dict(item.split("=", 1) for item in exp.eval_overrides(run)))
        points[file.name] = {"checkpoint": file.name, "iteration": progress["iteration"],
                             "train_seconds": progress.get("train_seconds"), **score(metrics)}
        write_json(path, sorted(points.values(), key=lambda p: p["iteration"]))
    curve = sorted(points.values(), key=lambda p: p["iteration"])
    write_json(kept_curves, read_json(kept_curves, {}) | {run.name: curve})
    return curve


def first_reaching(points: list[dict], target: float, key: str = "mean_iou", lower_is_better: bool = False) -> dict | None:
    """The first point whose ``key`` reaches ``target`` (at or above it; at or below it where lower is better)."""
    return next((p for p in points if (p[key] <= target if lower_is_better else p[key] >= target)), None)


def tabulate(exp: Experiment) -> str:
    curves = {run.name: quality_curve(exp, run) for run in exp.runs}
    iterations = sorted({p["iteration"] for points in curves.values() for p in points})
    header = ["iteration"] + [f"{run.label} mIoU" for run in exp.runs]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for iteration in iterations:
        cells = [str(iteration)]
        for name in curves:
            point = next((p for p in curves[name] if p["iteration"] == iteration), None)
            cells.append(tables.fmt(point["mean_iou"]) if point else "—")
        lines.append("| " + " | ".join(cells) + " |")
    text = (f"Photo -> label mean IoU on {exp.split} at each kept checkpoint (every {KEEP_ITERATIONS} iterations and the last; "
            f"{'seed 0; pix2pix also seed 1' if len(exp.seeds('pix2pix_10')) > 1 else 'one seed, 0'}).\n\n" + "\n".join(lines) + "\n")
    if curves["cyclegan"] and curves["okada_10"]:
        target = curves["cyclegan"][-1]["mean_iou"]
        reached = first_reaching(curves["okada_10"], target)
        # reached at the first kept checkpoint: somewhere before it
        when = "already reaches it at its first kept checkpoint," if reached is curves["okada_10"][0] else "first reaches it at"
        text += (f"\nCycleGAN's final mIoU ({target:.3f}): okada {when} iteration {reached['iteration']} "
                 f"({reached['train_seconds'] / 60:.0f} min of training) of {curves['okada_10'][-1]['iteration']}.\n"
                 if reached else f"\nokada never reaches CycleGAN's final mIoU ({target:.3f}) at a kept checkpoint.\n")
    return text


def figures(exp: Experiment) -> list[dict]:
    curves = {run.name: quality_curve(exp, run) for run in exp.runs}
    if not any(curves.values()):
        return []
    panels = []
    for x_key, x_label, scale in (("iteration", "iteration", 1), ("train_seconds", "training minutes", 60)):
        xs = sorted({round(p[x_key] / scale, 1) for points in curves.values() for p in points if p[x_key] is not None})
        if scale > 1:  # minutes differ per run: ticks every 10 minutes instead of one per point
            xs = list(range(0, math.ceil(max(xs, default=0) / 10) * 10 + 1, 10))
        series = [{"label": exp.run(name).label, "x": [round(p[x_key] / scale, 1) for p in points],
                   "y": [p["mean_iou"] for p in points], "color": i} for i, (name, points) in enumerate(curves.items()) if points]
        panels.append(line_panel(series, f"photo -> label mIoU against {x_label}", x_label, "mean IoU", xs,
                                 [f"{x:g}" for x in xs], size=(620, 360)))
    save(hstack(panels), exp.out_dir / "time_to_quality.png")
    return [{"file": "time_to_quality.png", "caption": f"photo -> label mIoU ({exp.split}) against iterations and training time"}]


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)).replace("KEEP_ITERATIONS", str(KEEP_ITERATIONS)), NAME,
                    build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
