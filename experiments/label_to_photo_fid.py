"""Label -> photo realism: FID and KID beside the FCN-score, pairs only against the same pairs plus unpaired images.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.label_to_photo_fid [--split val] [--quick]

The FCN-score asks whether a segmenter finds the label map in a generated photo; it cannot see whether the photo looks
real. Here the label -> photo network of each run is scored on the first EVAL_IMAGES images of --split with FID and
KID against the real photos of the same images (``eval.fid=true``: semicycle's TF Inception, images at the runs'
64 px upsampled to 299; KID: mean ± sd over 100 subsets of min(1000, n) images) and the FCN-score, the same images
for both methods of a comparison. Runs (every one shared with the experiment that trained it, same configuration,
same folder; scored into RUN/metrics_<split>_BtoA_fid.json, beside the owner's scores):
  Facades, 40 pairs (okada_table1.py's configuration: 64 px, batch 1, ITERATIONS iterations; FCN-score with the
  facades scorer, okada_table1's scorer run):
    pix2pix_40pairs_seed{S}      the paired method as pix2pix label -> photo (data.direction=BtoA) on the 40 pairs,
                                 the same ResNet generator and instance norm as okada's (new runs, this folder)
    okada_40pairs_seed{S}        okada_table1's okada_seed{S}: CycleGAN + kappa L1 on the 40 pairs + the 400
                                 unpaired photos and labels; its G_BA
  Cityscapes, 200 k-medoids-chosen images, 5 and 20 k-medoids pairs (shukla_tables.py's configuration; FCN-score
  with ESPNet, as shukla_supplement's Tables 8 and 9):
    pix2pix_kmedoids{N}_seed0    shukla_supplement's pix2pix_b2a_kmedoids_{N} (Table 8)
    shukla_kmedoids{N}_seed{S}   shukla_tables' shukla_kmedoids_{N}[_seed1], scored B -> A (Table 9)
    pix2pix_kmedoids20_seed1     Table 8's 20-pair run with training seed 1 (new, this folder): both 20-pair
                                 cells have two seeds
  S = 0 and 1 on facades; Cityscapes: the seeds shukla_tables trained (seed 1 for 20 pairs only).
Runs are trained comparison by comparison, pairs only first: Cityscapes 20 pairs, facades (after the scorer), then
Cityscapes 5 pairs (one seed a cell).
A difference between two cells counts only beyond twice the larger seed sd of the two; with one seed in each cell
it is "not decidable".
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys

from experiments import cli, common, okada_table1, samples, shukla_supplement, shukla_tables, tables
from experiments.common import Experiment, Run
from experiments.cpu_scale import QUICK_EVAL_IMAGES
from experiments.records import read_json, rel

NAME = "label_to_photo_fid"
ITERATIONS = okada_table1.ITERATIONS
EVAL_IMAGES = 100  # facades val has 100; the Cityscapes FCN-score (ESPNet at 1024x512) costs about 1 s an image
FID_EVAL = [f"eval.max_images={EVAL_IMAGES}", "eval.fid=true"]
PIX2PIX_FACADES = ("isola2017-pix2pix-facades", ["pairs.rate=0.1", "model.norm=instance", "data.direction=BtoA"])
FACADES_TITLE = "Facades, 40 pairs (+ 400 unpaired photos and labels)"
CITYSCAPES_PAIRS = (5, 20)  # the k-medoids pair counts compared (quick: shukla_tables' largest quick count)
LABELS = {"pix2pix": "pix2pix: pairs only", "okada": "okada: + unpaired", "shukla": "shukla: + unpaired"}
FID, KID, KID_SD = ("BtoA_fid", "fid"), ("BtoA_fid", "kid"), ("BtoA_fid", "kid_std")
FCN_PIXEL, FCN_IOU = ("label_to_photo", "generated", "pixel_accuracy"), ("label_to_photo", "generated", "mean_iou")
VERDICT_METRICS = [("FID", FID, -1, 1), ("KID", KID, -1, 4), ("FCN mean IoU", FCN_IOU, 1, 3)]  # name, path, better sign, decimals


class FidExperiment(Experiment):
    """Scores into ``RUN/metrics_<split>_BtoA_fid.json``: the shared runs keep their owners' label -> photo scores."""

    def scores_name(self, run: Run) -> str:
        return f"{self.split}_BtoA_fid"


def run_name(method: str, budget: str, seed: int) -> str:
    return f"{method}_{budget}_seed{seed}"


def build(args) -> Experiment:
    exp = FidExperiment(NAME, "Label -> photo realism: FID and KID beside the FCN-score, pairs only vs + unpaired images",
                        args, ITERATIONS)
    seeds = (0,) if exp.quick else (0, common.SECOND_SEED)
    exp.comparisons = {"facades_40pairs": ("pix2pix", "okada", FACADES_TITLE)}  # comparison: (pairs only, + unpaired, title)
    facades = okada_table1.build(argparse.Namespace(**vars(args), seeds=list(seeds)))
    facades_eval = [f"eval.scorer={rel(facades.run('scorer').run_dir)}", *FID_EVAL]
    cityscapes = shukla_supplement.build(argparse.Namespace(**vars(args)))
    exp.prepared = [step for step in cityscapes.prepared if "random" not in step["file"]]  # shukla_tables' image and pair lists
    cityscapes_eval = [*FID_EVAL, "eval.fcn_real_photos=false"]
    pairs = cityscapes.pairs[-1:] if exp.quick else CITYSCAPES_PAIRS
    unpaired = shukla_tables.QUICK_UNPAIRED if exp.quick else shukla_tables.UNPAIRED
    exp.comparisons |= {f"cityscapes_kmedoids{n}": ("pix2pix", "shukla", f"Cityscapes, {n} k-medoids {'pair' if n == 1 else 'pairs'} "
                                                   f"(+ {unpaired} unpaired images)")
                        for n in pairs}
    runs = {comparison: [] for comparison in exp.comparisons}  # each comparison's runs: pairs only, then + unpaired
    for seed in seeds:
        preset, overrides = PIX2PIX_FACADES
        runs["facades_40pairs"].append(Run(run_name("pix2pix", "40pairs", seed), preset, [f"train.seed={seed}", *overrides],
                                           label=f"pix2pix label -> photo on the 40 pairs, seed {seed}", direction="BtoA",
                                           eval_overrides=facades_eval, needs=["scorer"]))
    runs["facades_40pairs"] += [dataclasses.replace(facades.run(f"okada_seed{seed}"), name=run_name("okada", "40pairs", seed),
                                                    direction="BtoA", eval_overrides=facades_eval) for seed in seeds]
    for n in pairs:
        comparison, table9 = runs[f"cityscapes_kmedoids{n}"], cityscapes.seeds(f"shukla_kmedoids_{n}_b2a")
        comparison.append(dataclasses.replace(cityscapes.run(f"pix2pix_b2a_kmedoids_{n}"), name=run_name("pix2pix", f"kmedoids{n}", 0),
                                              eval_overrides=cityscapes_eval))
        if len(table9) > 1:  # shukla has a second seed here: pix2pix gets one too
            base = comparison[0]
            comparison.append(dataclasses.replace(base, name=run_name("pix2pix", f"kmedoids{n}", common.SECOND_SEED), run_dir=None,
                                                  overrides=[f"train.seed={common.SECOND_SEED}" if o == "train.seed=0" else o
                                                             for o in base.overrides],
                                                  label=f"{base.label}, seed {common.SECOND_SEED}"))
        comparison += [dataclasses.replace(cityscapes.run(source), name=run_name("shukla", f"kmedoids{n}", seed), eval_overrides=cityscapes_eval)
                       for seed, source in zip((0, common.SECOND_SEED), table9)]
    exp.cells = {(comparison, method): [run.name for run in runs[comparison] if run.name.startswith(f"{method}_")]
                 for comparison, methods in exp.comparisons.items() for method in methods[:2]}
    # trained comparison by comparison, those with two seeds a cell first (the cheapest first: Cityscapes needs no scorer)
    for comparison in sorted(runs, key=lambda c: (len(runs[c]) < 4, c.startswith("facades"))):
        if comparison.startswith("facades"):
            exp.add(dataclasses.replace(facades.run("scorer")))
        for run in runs[comparison]:
            exp.add(run)
    return exp


def values(exp: Experiment, names: list[str], path) -> list[float]:
    return [v for n in names if (v := tables.get(exp.metrics.get(n), *path)) is not None]


def cell(got: list[float], total: int, decimals: int) -> str:
    """Mean (± sd over seeds) with how many of the cell's runs are scored."""
    if not got:
        return "not yet run"
    text = f"{statistics.mean(got):.{decimals}f}" + (f" ± {statistics.stdev(got):.{decimals}f}" if len(got) > 1 else "")
    return text + (f" ({len(got)} of {total})" if len(got) < total else f" (n={total})" if total > 1 else "")


def judge(paired: list[float], unpaired: list[float], better: int, decimals: int) -> str:
    """The difference + unpaired - pairs only, and whether it counts: beyond twice the larger seed sd of the two cells."""
    if not paired or not unpaired:
        return "not yet measured"
    difference = statistics.mean(unpaired) - statistics.mean(paired)
    sds = [statistics.stdev(v) for v in (paired, unpaired) if len(v) > 1]
    text = f"{difference:+.{decimals}f}"
    if not sds:
        return f"{text}: not decidable (one run a cell)"
    bound = 2 * max(sds)
    if abs(difference) <= bound:
        return f"{text} (2 sd {bound:.{decimals}f}): level"
    return f"{text} (2 sd {bound:.{decimals}f}): " + ("+ unpaired better" if difference * better > 0 else "pairs only better")


def images(exp: Experiment, names: list[str]) -> str:
    counts = {(m["BtoA_fid"]["fid_images_a"], m["BtoA_fid"]["fid_images_b"]) for n in names if (m := exp.metrics.get(n)) and "BtoA_fid" in m}
    return ", ".join(f"{a} / {b}" for a, b in sorted(counts)) or "—"


def tabulate(exp: Experiment) -> str:
    head = ["comparison", "method", "FID (lower: more realistic)", "KID", "FCN pixel acc", "FCN mean IoU", "images (real / generated)"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    verdicts = ["| comparison | " + " | ".join(f"{name}: + unpaired − pairs only" for name, *_ in VERDICT_METRICS) + " |",
                "|" + " --- |" * (1 + len(VERDICT_METRICS))]
    for comparison, (paired, unpaired, title) in exp.comparisons.items():
        for method in (paired, unpaired):
            names = exp.cells[comparison, method]
            cells = [cell(values(exp, names, path), len(names), decimals) for _, path, _, decimals in VERDICT_METRICS[:2]]
            cells += [cell(values(exp, names, FCN_PIXEL), len(names), 3), cell(values(exp, names, FCN_IOU), len(names), 3)]
            lines.append(f"| {title} | {LABELS[method]} | " + " | ".join(cells) + f" | {images(exp, names)} |")
        verdicts.append(f"| {title} | " + " | ".join(
            judge(values(exp, exp.cells[comparison, paired], path), values(exp, exp.cells[comparison, unpaired], path), better, decimals)
            for _, path, better, decimals in VERDICT_METRICS) + " |")
    per_run = ["| run | FID | KID ± sd over its subsets | FCN pixel acc | FCN mean IoU | images (real / generated) |", "| --- |" + " --- |" * 5]
    for run in exp.runs:
        if run.evaluate:
            m = exp.metrics.get(run.name)
            kid = tables.get(m, *KID)
            per_run.append(f"| `{run.name}` | {fmt(tables.get(m, *FID), 1)} | "
                           + (f"{kid:.4f} ± {tables.get(m, *KID_SD):.4f}" if kid is not None else "—")
                           + f" | {fmt(tables.get(m, *FCN_PIXEL), 3)} | {fmt(tables.get(m, *FCN_IOU), 3)} | {images(exp, [run.name])} |")
    count = QUICK_EVAL_IMAGES if exp.quick else EVAL_IMAGES
    return (f"### Label -> photo on the first {count} {exp.split} images ({exp.size} px; mean ± sd over training seeds)\n\n"
            + "\n".join(lines) + "\n\n### Did the unpaired images make the photos more realistic?\n\n"
            "Each difference is + unpaired minus pairs only (FID, KID: negative is more realistic; FCN mean IoU: positive "
            "is better). It counts only beyond twice the larger seed sd of the two cells (2 sd); with one seed in each "
            "cell it is not decidable.\n\n" + "\n".join(verdicts) + "\n\n### Per run\n\n"
            "KID as semicycle reports it: the mean ± sd over 100 subsets of min(1000, n) images a set (with n = 1000 or "
            "fewer, every subset is the whole set and the sd is zero).\n\n" + "\n".join(per_run) + "\n" + crosscheck_table(exp))


def fmt(value, decimals: int) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def crosscheck_table(exp: Experiment) -> str:
    """torch-fidelity's FID/KID of the same images (``experiments/fid_crosscheck.py --run RUN --out`` this results folder's
    fid_crosscheck.json), beside the run's FID/KID from this experiment's evaluation."""
    check = read_json(exp.out_dir / "fid_crosscheck.json")
    if not check:
        return ""
    by_folder = {run.run_dir.name: run.name for run in exp.runs}
    lines = [f"\n### Cross-check: torch-fidelity {check['versions']['torch_fidelity']} on the same images\n",
             "| images | n real / other | FID: this table | FID: semicycle (cross-check venv) | FID: torch-fidelity | "
             "KID: this table | KID: semicycle (cross-check venv) | KID: torch-fidelity |", "|" + " --- |" * 8]
    for row in check["rows"]:
        name = by_folder.get(row["pair"].split(" ")[0])
        ours = exp.metrics.get(name) if name else None
        lines.append(f"| {f'`{name}` B->A vs val photos' if name else row['pair']} | {row['n_real']} / {row['n_other']} | "
                     f"{fmt(tables.get(ours, *FID), 3)} | {row['semicycle_fid']:.3f} | {row['torch_fidelity_fid']:.3f} | "
                     f"{fmt(tables.get(ours, *KID), 5)} | {row['semicycle_kid']:.5f} | {row['torch_fidelity_kid']:.5f} |")
    versions = check["versions"]
    return "\n".join(lines) + (f"\n\nThe cross-check venv: torch {versions['torch']}, torch-fidelity {versions['torch_fidelity']} "
                               f"(experiments/fid_crosscheck.py). Command: `{check['command']}`; its JSON: fid_crosscheck.json in the "
                               "results folder.\n")


def figures(exp: Experiment) -> list[dict]:
    notes = []
    for comparison, (paired, unpaired, title) in exp.comparisons.items():
        columns = [(LABELS[method].split(":")[0], exp.cells[comparison, method][0]) for method in (paired, unpaired)]
        notes += samples.samples_figure(exp, columns, "BtoA", f"{title}: label -> photo, first 4 {exp.split} images (seed 0)",
                                        name=f"samples_{comparison}.png", input_title="label", target_title="real photo")
    return notes


def main(argv=None) -> int:
    doc = __doc__.replace("EVAL_IMAGES", str(EVAL_IMAGES)).replace("ITERATIONS", str(ITERATIONS))
    return cli.main(doc, NAME, build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
