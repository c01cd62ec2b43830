"""Shukla et al. 2019, Tables 1-2 at CPU scale: Cityscapes photo -> label with 200 images and a few pairs.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.shukla_tables [--split val] [--quick] [--tables 1 2]

Preparation (kept under the runs folder, lists copied to the results folder):
  1. the 200 training images: k-medoids (MobileNetV2 features; the paper: ResNet-50) over the 1000
     Cityscapes training images we have (the paper: 2975) -> a list the runs train on (data.subset);
  2. the pairs among those 200: k-medoids with k = N, and random draws (select-pairs --method random,
     seeds 1, 2, 3), N = 1, 5, 10, 20.
Runs (training seed 0 everywhere but the three "_seed1" runs, so pair selection is the only difference between draws):
  Table 2 (200 unpaired + N pairs, method shukla: RaSGAN, cycle 10, identity 10, reconstruction 150, balanced)
    cyclegan                    200 unpaired, CycleGAN (LSGAN) - the paper's "200 | -" row
    shukla_pairs0               200 unpaired, shukla losses, no pairs - "200 (ours)"
    shukla_kmedoids_{N}         + N k-medoids pairs
    shukla_random_{N}_draw{D}   + N random pairs, draws D = 1, 2, 3
    shukla_kmedoids_20_unbalanced  + 20 k-medoids pairs, each pair once per epoch (shukla.balance=false)
    shukla_pairs0_identity5, shukla_kmedoids_20_identity5   ablation: identity weight 5 (CycleGAN's,
                                cyclegan.lambda_identity=0.5) instead of the paper's 10, with 0 and 20 pairs
    cyclegan_seed1, shukla_pairs0_seed1, shukla_kmedoids_20_seed1   training seed 1 (same pair list): their
                                rows show the mean ± sd over seeds 0 and 1 (trained last)
  Table 1 (paired only: pix2pix with the same ResNet generator and instance norm, conditional PatchGAN, L1 x 100)
    pix2pix_kmedoids_{N}, pix2pix_random_{N}_draw{D}, pix2pix_all (all 200 pairs - the "- | 200" row)

CPU-scale configuration (every run): 64 px (load 72 -> random crop 64 + flip), resnet_6blocks,
ngf = ndf = 32, batch 1, Adam 2e-4, ITERATIONS iterations per run (half constant LR, half decay; the
paper scales epochs with the number of samples). The paper: 256 px, evaluated at 2048x1024 on 500 val
images; we evaluate at 64 px on the 350 val images we have. Metric: photo -> label colours decoded
to the 19 Cityscapes classes by nearest colour (pixel acc / class acc / mean IoU over the split).
Paper: Shukla, Van Gool, Timofte, "Extremely Weak Supervised Image-to-Image Translation for Semantic
Segmentation", 2019, Tables 1 and 2.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path


from semicycle.figures import hstack, line_panel, save

from experiments import cli, records, samples, tables
from experiments.common import Experiment, Run
from experiments.records import rel
from semicycle.atomic import atomic_write_text
from semicycle.data.paths import expand_path

NAME = "shukla_tables"
ITERATIONS = 6000  # ~49 min per shukla run at the measured 0.49 s/iteration (load ~3.4; experiments/step_time.py)
UNPAIRED, PAIRS, DRAWS = 200, [1, 5, 10, 20], [1, 2, 3]
QUICK_SOURCE, QUICK_UNPAIRED, QUICK_PAIRS, QUICK_DRAWS = 16, 8, [1, 2], [1]
METRICS = [("pixel acc", ("photo_to_label", "pixel_accuracy")), ("mean acc", ("photo_to_label", "mean_class_accuracy")),
           ("mean IoU", ("photo_to_label", "mean_iou"))]
# Variants of a shukla run (default: balanced, identity 10 = 1.0 x cycle 10): run-name suffix, override, label
UNBALANCED = ("_unbalanced", "shukla.balance=false", "unbalanced")
IDENTITY_ABLATION = "ablation: identity weight 5 (CycleGAN's) instead of 10"
IDENTITY5 = ("_identity5", "cyclegan.lambda_identity=0.5", f"balanced, {IDENTITY_ABLATION}")
# The six classes that cover 92% of the label pixels of the 350 Cityscapes val images at 64 px (road 38%,
# building 23%, vegetation 18%, sidewalk 5%, car 5%, sky 3%); the other 13 share the remaining 8%.
FREQUENT_CLASSES = ("road", "building", "vegetation", "sidewalk", "car", "sky")
PAPER_T1 = tables.paper_numbers("shukla2019", "table1")  # paired only (average of 10 runs): {N: (random, k-medoids)}
PAPER_T2 = tables.paper_numbers("shukla2019", "table2")  # 200 unpaired + N k-medoids pairs


def select(exp: Experiment, dataset: str, budget: int, method: str, seed: int, out: Path, what: str, among: Path | None = None) -> list[str]:
    """``semicycle select-pairs`` on the training images of ``$SEMICYCLE_DATA/<dataset>`` (only among those listed
    in ``among`` if given), once: the list is kept in the runs folder. A list already chosen on another machine (the
    copy in the results folder of the experiment that owns the runs folder) is taken as it is: features computed on
    another CPU may tip k-medoids to other images, and runs must train on the pairs their recorded scores came from
    (``Experiment.recorded``). Returns the chosen file names."""
    from semicycle.selection import read_name_list, select_pairs

    options = ["--budget", budget, "--method", method, "--seed", seed, *(["--among", rel(among)] if among else []), "--out", rel(out)]
    command = f"semicycle select-pairs --data ${{SEMICYCLE_DATA:-../shared/data}}/{dataset}/train {records.command_line(options)}"
    # the list is kept in the results folder of the experiment owning its runs folder (here or shukla_tables)
    kept_in = exp.out_dir.parent / out.parent.parent.name / "selection" / out.name
    exp.prepared.append({"what": what, "command": command, "file": rel(out), "kept_in": kept_in})
    if not out.is_file() and kept_in.is_file():
        print(f"[{exp.name}] {what}: the list chosen before, {rel(kept_in)}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept_in, out)
    if not out.is_file():
        print(f"[{exp.name}] {what}: {command}", flush=True)
        select_pairs(expand_path(f"$SEMICYCLE_DATA/{dataset}/train"), budget, method=method, seed=seed, out=str(out),
                     among=among, progress=False)
    return read_name_list(out)


def prepare_subset(exp: Experiment, dataset: str, unpaired: int, quick_unpaired: int, quick_source: int,
                   runs_dir: Path | None = None) -> tuple[list[str], Path]:
    """The k-medoids choice of the training images, as a list (in ``runs_dir``, default the experiment's); returns the
    runs' data overrides and the list."""
    runs_dir = runs_dir or exp.runs_dir
    among = None
    if exp.quick:  # choose among the first few training images only (features of 16 images: seconds)
        from semicycle.data.io import list_images

        among, unpaired = runs_dir / "selection" / f"first{quick_source}.txt", quick_unpaired
        first = list_images(Path(expand_path(f"$SEMICYCLE_DATA/{dataset}/train")))[:quick_source]
        atomic_write_text(among, "".join(f"{path.name}\n" for path in first))
    listing = runs_dir / "selection" / f"unpaired{unpaired}.txt"
    select(exp, dataset, unpaired, "kmedoids", 0, listing, f"the {unpaired} training images", among)
    folder = runs_dir / "data" / f"{dataset}_kmedoids{unpaired}"
    if (folder / "train").is_dir():  # earlier versions trained on a folder of links to those images: their runs keep it
        return [f"data.root={rel(folder)}"], listing
    return [f"data.subset={rel(listing)}"], listing


def pair_list(exp: Experiment, dataset: str, subset: Path, count: int, method: str, draw: int = 0,
              runs_dir: Path | None = None) -> str:
    """``count`` pairs among the images of the list ``subset`` (k-medoids, or random draw ``draw``), kept in ``runs_dir``
    (default the experiment's); returns the list."""
    stem = f"pairs_kmedoids_{count}" if method == "kmedoids" else f"pairs_random_{count}_draw{draw}"
    out = (runs_dir or exp.runs_dir) / "selection" / f"{stem}.txt"
    select(exp, dataset, count, method, draw, out, f"{count} pairs ({method}{'' if method == 'kmedoids' else f', draw {draw}'})", subset)
    return rel(out)


class Recipes:
    """This script's runs by name, in its runs folder (``runs/experiments/shukla_tables``), for itself and for
    shukla_supplement.py, which shares Table 2's runs and builds its pix2pix runs the same way."""

    shukla, pix2pix = "shukla2019-weak-cityscapes", "isola2017-pix2pix-cityscapes"
    pix2pix_arch = ["model.norm=instance"]  # the preset's U-Net/batch norm -> the shared ResNet/instance norm

    def __init__(self, exp: Experiment):
        self.exp, self.folder = exp, exp.runs_root / NAME
        self.size = QUICK_UNPAIRED if exp.quick else UNPAIRED
        subset, listing = prepare_subset(exp, "cityscapes", UNPAIRED, QUICK_UNPAIRED, QUICK_SOURCE, self.folder)
        self.data = [*subset, "data.max_images=0", "train.seed=0"]
        self.lists = {(n, "kmedoids", 0): pair_list(exp, "cityscapes", listing, n, "kmedoids", runs_dir=self.folder) for n in exp.pairs}
        self.lists.update({(n, "random", d): pair_list(exp, "cityscapes", listing, n, "random", d, runs_dir=self.folder)
                           for n in exp.pairs for d in exp.draws})

    def semi(self, n, method, d=0, variant=("", None, "balanced")) -> Run:
        suffix, override, what = variant
        selection = "k-medoids" if method == "kmedoids" else f"random (draw {d})"
        name = (f"shukla_kmedoids_{n}" if method == "kmedoids" else f"shukla_random_{n}_draw{d}") + suffix
        return Run(name, self.shukla, self.data + ["pairs.count=0", f"pairs.list={self.lists[n, method, d]}"] + ([override] if override else []),
                   label=f"{self.size} unpaired + {n} {selection} {pl(n)}, {what}", direction="AtoB", run_dir=self.folder / name)

    def run(self, name: str) -> Run:
        """A Table 2 run (CycleGAN, shukla with 0 or N pairs, unbalanced) in this script's folder."""
        if name == "cyclegan":
            return Run(name, "zhu2017-cyclegan-cityscapes", self.data, label=f"{self.size} unpaired, CycleGAN", direction="AtoB",
                       run_dir=self.folder / name)
        if name == "shukla_pairs0":
            return Run(name, self.shukla, self.data + ["pairs.count=0"], label=f"{self.size} unpaired, shukla losses, no pairs",
                       direction="AtoB", run_dir=self.folder / name)
        count, unbalanced = int(name.split("_")[2]), name.endswith(UNBALANCED[0])
        return self.semi(count, "kmedoids", variant=UNBALANCED if unbalanced else ("", None, "balanced"))

    def paired_only(self, n, method, d=0, iterations=None, direction="AtoB", eval_overrides=()) -> Run:
        """pix2pix on the chosen pairs; ``direction`` BtoA trains label -> photo (a ``pix2pix_b2a_`` run of the caller's)."""
        selection = "k-medoids" if method == "kmedoids" else f"random (draw {d})"
        prefix = "pix2pix" if direction == "AtoB" else "pix2pix_b2a"
        name = f"{prefix}_kmedoids_{n}" if method == "kmedoids" else f"{prefix}_random_{n}_draw{d}"
        schedule = f", {iterations} iterations (a balanced run's steps on pairs)" if iterations else ""
        flip = [] if direction == "AtoB" else ["data.direction=BtoA"]
        return Run(name + (f"_iters{iterations}" if iterations else ""), self.pix2pix,
                   self.data + self.pix2pix_arch + [f"pairs.list={self.lists[n, method, d]}", *flip],
                   label=f"paired only: {n} {selection} {pl(n)}{schedule}", direction=direction, iterations=iterations,
                   eval_overrides=list(eval_overrides))

    def paired_all(self, direction="AtoB", eval_overrides=()) -> Run:
        flip = [] if direction == "AtoB" else ["data.direction=BtoA"]
        return Run("pix2pix_all" if direction == "AtoB" else "pix2pix_b2a_all", self.pix2pix, self.data + self.pix2pix_arch + flip,
                   label=f"paired only: all {self.size} pairs", direction=direction, eval_overrides=list(eval_overrides))


def build(args) -> Experiment:
    args.tables = sorted(set(args.tables))
    exp = Experiment(NAME, "Shukla et al. 2019, Tables 1-2: 200 Cityscapes images, a few chosen pairs (CPU scale)", args,
                     ITERATIONS, script_args=[] if args.tables == [1, 2] else ["--tables", *map(str, args.tables)])
    exp.pairs, exp.draws = (QUICK_PAIRS, QUICK_DRAWS) if exp.quick else (PAIRS, DRAWS)
    pairs, draws = exp.pairs, exp.draws
    recipes = Recipes(exp)
    # Runs are trained in this order (a priority order for a long background job): Table 2's k-medoids
    # rows, Table 1's k-medoids rows with the first random draw, Table 1's other draws (pix2pix runs are
    # short, so Table 1 completes early), pix2pix at a balanced run's pair steps, Table 2's random draws,
    # then the identity-weight ablation and the second seeds.
    t1, t2 = 1 in args.tables, 2 in args.tables
    if t2:
        exp.add(recipes.run("cyclegan"))
        exp.add(recipes.run("shukla_pairs0"))
        for n in pairs:
            exp.add(recipes.semi(n, "kmedoids"))
        exp.add(recipes.semi(pairs[-1], "kmedoids", variant=UNBALANCED))
    if t1:
        for n in pairs:
            exp.add(recipes.paired_only(n, "kmedoids"))
            exp.add(recipes.paired_only(n, "random", draws[0]))
        exp.add(recipes.paired_all())
    if t1:
        for d in draws[1:]:
            for n in pairs:
                exp.add(recipes.paired_only(n, "random", d))
    if t1 and t2:  # paired only for as many steps as a balanced shukla run takes on pairs (half its items)
        for n in pairs:
            exp.add(recipes.paired_only(n, "kmedoids", iterations=exp.iterations // 2))
    if t2:
        for d in draws:
            for n in pairs:
                exp.add(recipes.semi(n, "random", d))
        data = recipes.data
        exp.add(Run("shukla_pairs0" + IDENTITY5[0], recipes.shukla, data + ["pairs.count=0", IDENTITY5[1]],
                    label=f"{recipes.size} unpaired, shukla losses, no pairs, {IDENTITY_ABLATION}", direction="AtoB"))
        exp.add(recipes.semi(pairs[-1], "kmedoids", variant=IDENTITY5))
        if not exp.quick:  # a second training seed for the rows Table 2's conclusions rest on (same pair lists)
            for name in seeded(pairs):
                exp.add_second_seed(exp.run(name))
    return exp


def seeded(pairs) -> tuple[str, ...]:
    """Table 2's runs that a conclusion rests on: trained with a second seed too (``<name>_seed1``)."""
    return ("cyclegan", "shukla_pairs0", f"shukla_kmedoids_{pairs[-1]}")


def pl(n: int) -> str:
    return "pair" if n == 1 else "pairs"


def draws_text(draws) -> str:
    return f"{len(draws)} draw" + ("s" if len(draws) > 1 else "")


def tabulate(exp: Experiment) -> str:
    pairs, draws, text = exp.pairs, exp.draws, ""
    size = QUICK_UNPAIRED if exp.quick else UNPAIRED
    names = {r.name for r in exp.runs}
    if "pix2pix_all" in names:
        rows = []
        for n in pairs:
            rows.append((f"{n}, random ({draws_text(draws)})", [f"pix2pix_random_{n}_draw{d}" for d in draws], PAPER_T1[n][0] if n in PAPER_T1 else None))
            rows.append((f"{n}, k-medoids", [f"pix2pix_kmedoids_{n}"], PAPER_T1[n][1] if n in PAPER_T1 else None))
        rows.append((f"all {size} (the paper's \"- / 200\" row of Table 2)", ["pix2pix_all"], PAPER_T2["all_paired"]))
        text += "### Table 1: paired only (pix2pix on the chosen pairs; ours: mean ± sd over draws)\n\n"
        text += tables.comparison_table(exp, METRICS, rows, first_header="pairs, selection")
        text += "\nPaper: Shukla et al. 2019, Table 1 (average of 10 runs) and Table 2.\n\n"
        text += class_group_table(exp, pairs, draws)
    if "cyclegan" in names:
        rows = [(f"{size} unpaired, CycleGAN", exp.seeds("cyclegan"), PAPER_T2["cyclegan"]),
                (f"{size} unpaired, shukla losses, 0 pairs", exp.seeds("shukla_pairs0"), PAPER_T2[0])]
        for n in pairs:
            rows.append((f"+ {n} k-medoids {pl(n)}", exp.seeds(f"shukla_kmedoids_{n}"), PAPER_T2.get(n)))
            rows.append((f"+ {n} random {pl(n)} ({draws_text(draws)})", [f"shukla_random_{n}_draw{d}" for d in draws], None))
        n = pairs[-1]
        rows.append((f"+ {n} k-medoids {pl(n)}, unbalanced", [f"shukla_kmedoids_{n}_unbalanced"], PAPER_T2["unbalanced_20"] if n == 20 else None))
        rows += [("ablation: 0 pairs, identity weight 5", ["shukla_pairs0" + IDENTITY5[0]], None),
                 (f"ablation: + {n} k-medoids {pl(n)}, identity weight 5", [f"shukla_kmedoids_{n}" + IDENTITY5[0]], None)]
        text += f"### Table 2: {size} unpaired + N pairs (shukla: RaSGAN, balanced unless marked)\n\n"
        text += tables.comparison_table(exp, METRICS, rows, first_header="training data")
        text += ("\nPaper: Shukla et al. 2019, Table 2 (200 unpaired of 2975 Cityscapes images, 256 px, evaluated at 2048x1024). "
                 "The paper's single-random-pair row (sec. 4.1.6) lost its numbers in our text copy: \"—\".\n")
    if "cyclegan" in names and "pix2pix_all" in names:
        text += pair_steps_table(exp, pairs, size)
    return text


def pair_steps_table(exp: Experiment, pairs, size: int) -> str:
    """Do the unpaired images help at equal steps on the pairs? A balanced shukla run spends half its steps on pairs."""
    half = exp.iterations // 2
    path = ("photo_to_label", "mean_iou")
    lines = [f"\n### Equal steps on the pairs: mean IoU of paired only (pix2pix) vs {size} unpaired + the same k-medoids pairs (ours only)\n",
             f"| pairs | paired only, {exp.iterations} iterations | paired only, {half} iterations | "
             f"+ {size} unpaired (shukla, balanced: {exp.iterations} iterations, about {half} on pairs) |",
             "| --- | --- | --- | --- |"]
    for n in pairs:
        names = [f"pix2pix_kmedoids_{n}", f"pix2pix_kmedoids_{n}_iters{half}", f"shukla_kmedoids_{n}"]
        lines.append(f"| {n} | " + " | ".join(tables.cell([tables.get(exp.metrics.get(name), *path)], 1) for name in names) + " |")
    return "\n".join(lines) + "\n"


def group_iou(exp: Experiment, name: str, frequent: bool) -> float | None:
    """Mean photo -> label IoU of a run over the frequent classes (or over the others) present in the split."""
    per_class = tables.get(exp.metrics.get(name), "photo_to_label", "per_class_iou") or {}
    ious = [iou for label, iou in per_class.items() if (label in FREQUENT_CLASSES) == frequent and iou is not None]
    return statistics.mean(ious) if ious else None


def class_group_table(exp: Experiment, pairs, draws) -> str:
    """Table 1's mean IoU split into the frequent classes and the rest: which classes each choice of pairs teaches."""
    lines = ["### Table 1 by class group: mean IoU over the 6 frequent classes and over the other 13 (ours only)\n",
             "| pairs | frequent 6, k-medoids | frequent 6, random | other 13, k-medoids | other 13, random |",
             "| --- | --- | --- | --- | --- |"]
    for n in pairs:
        runs = ([f"pix2pix_kmedoids_{n}"], [f"pix2pix_random_{n}_draw{d}" for d in draws])
        cells = [tables.cell([group_iou(exp, name, frequent) for name in names], len(names)) for frequent in (True, False) for names in runs]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + f"\n\nFrequent: {', '.join(FREQUENT_CLASSES)} (92% of the val label pixels at 64 px).\n\n"


def figures(exp: Experiment) -> list[dict]:
    pairs, draws = exp.pairs, exp.draws
    names = {r.name for r in exp.runs}
    panels = []
    for key, path in (METRICS[0], METRICS[2]):
        series = []
        if "cyclegan" in names:
            semi_k = [tables.values_of(exp, exp.seeds("shukla_pairs0"), *path)] + [
                tables.values_of(exp, exp.seeds(f"shukla_kmedoids_{n}"), *path) for n in pairs]
            semi_r = [tables.values_of(exp, exp.seeds("shukla_pairs0"), *path)] + [tables.values_of(exp, [f"shukla_random_{n}_draw{d}" for d in draws], *path) for n in pairs]
            series += [{"label": "unpaired + k-medoids pairs", "x": [0] + pairs, "y": semi_k, "color": 1},
                       {"label": "unpaired + random pairs", "x": [0] + pairs, "y": semi_r, "color": 3}]
            if not exp.quick:
                index = METRICS.index((key, path))
                series.append({"label": "paper: + k-medoids pairs", "x": [0] + pairs, "y": [PAPER_T2[n][index] for n in [0] + pairs],
                               "color": 1, "dashed": True})
        if "pix2pix_all" in names:
            series += [{"label": "paired only, k-medoids", "x": pairs, "y": [tables.values_of(exp, [f"pix2pix_kmedoids_{n}"], *path) for n in pairs], "color": 0},
                       {"label": "paired only, random", "x": pairs, "y": [tables.values_of(exp, [f"pix2pix_random_{n}_draw{d}" for d in draws], *path) for n in pairs], "color": 2}]
            if not exp.quick:
                index = METRICS.index((key, path))
                series.append({"label": "paper: paired only, k-medoids", "x": pairs, "y": [PAPER_T1[n][1][index] for n in pairs], "color": 0, "dashed": True})
        x_values = [0] + pairs
        panels.append(line_panel(series, f"photo -> label {key}", "paired samples", key, x_values, [str(x) for x in x_values],
                                 categorical=True, size=(520, 380)))
    save(hstack(panels), exp.out_dir / "pairs_vs_accuracy.png")
    notes = [{"file": "pairs_vs_accuracy.png", "caption": f"photo -> label scores against the number of pairs ({exp.split}; random: mean of the draws; dashed: paper)"}]
    n = pairs[-1]
    columns = [(title, name) for title, name in (("CycleGAN", "cyclegan"), ("shukla, 0 pairs", "shukla_pairs0"), ("+1 k-med.", "shukla_kmedoids_1"),
                                                (f"+{n} k-med.", f"shukla_kmedoids_{n}"), (f"pix2pix {n} k-med.", f"pix2pix_kmedoids_{n}"))
               if name in names]
    return notes + samples.samples_figure(exp, columns, "AtoB", f"photo -> label, first 4 {exp.split} images", input_title="photo")


def add_arguments(p) -> None:
    p.add_argument("--tables", type=int, nargs="+", default=[1, 2], choices=[1, 2], help="which tables to run (default both)")


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv,
                    add_arguments)


if __name__ == "__main__":
    sys.exit(main())
