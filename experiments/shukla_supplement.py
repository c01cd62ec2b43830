"""Shukla et al. 2019, supplementary Tables 5, 8 and 9 at CPU scale (200 Cityscapes images, a few chosen pairs).

    OMP_WAIT_POLICY=PASSIVE python -m experiments.shukla_supplement [--split val] [--quick]

The same 200 k-medoids-chosen training images, pair lists and CPU-scale configuration as
experiments/shukla_tables.py (whose runs this script shares, under runs/experiments/shukla_tables/):
  Table 5 (photo -> label, 200 unpaired + 20 k-medoids pairs): the full loss (shukla_tables' shukla_kmedoids_20)
    shukla_kmedoids_20_no_cycle      without the cycle loss (cyclegan.lambda_cycle=0)
    shukla_kmedoids_20_no_identity   without the identity loss (cyclegan.lambda_identity=0)
  Table 8 (label -> photo, paired only: pix2pix as in Table 1, trained B -> A with data.direction=BtoA)
    pix2pix_b2a_kmedoids_{N}, pix2pix_b2a_random_{N}_draw{D}   N = 1, 5, 10, 20; draws D = 1, 2, 3
  Table 9 (label -> photo, 200 unpaired + N pairs): shukla_tables' Table 2 runs (CycleGAN, shukla with 0 and N
    k-medoids pairs, 20 unbalanced) scored in their B -> A direction (RUN/metrics_<split>_BtoA.json), and
    pix2pix_b2a_all (all 200 pairs, the "- | 200" row)
  Seeds: training seed 0; Table 5's full row and Table 9's CycleGAN, 0-pair and 20 k-medoids rows also take Table 2's
    second-seed runs (shukla_tables' <name>_seed1), so those cells are the mean ± sd over seeds 0 and 1
Label -> photo is scored with the ESPNet FCN-score (the Cityscapes segmenter of the weights README; the paper used the
pix2pix FCN-8s) on the first LABEL_TO_PHOTO_IMAGES images of the split (ESPNet takes about 1 s per image at 1024x512).
Paper: Shukla, Van Gool, Timofte, "Extremely Weak Supervised Image-to-Image Translation for Semantic Segmentation",
2019, supplementary material, Tables 5, 8 (average of 10 runs) and 9.
"""

from __future__ import annotations

import sys

from experiments import cli, common, tables
from experiments import shukla_tables as shukla
from experiments.common import Experiment, Run
from semicycle.figures import hstack, line_panel, save

NAME = "shukla_supplement"
LABEL_TO_PHOTO_IMAGES = 100
PHOTO_TO_LABEL = shukla.METRICS
LABEL_TO_PHOTO = [(key, ("label_to_photo", "generated", *path[1:])) for key, path in shukla.METRICS]
PAPER_T5 = tables.paper_numbers("shukla2019", "table5")
PAPER_T8 = tables.paper_numbers("shukla2019", "table8")  # {N: (random, k-medoids)}, average of 10 runs
PAPER_T9 = tables.paper_numbers("shukla2019", "table9")


def build(args) -> Experiment:
    exp = Experiment(NAME, "Shukla et al. 2019, supplementary Tables 5, 8, 9 (200 Cityscapes images, CPU scale)", args,
                     shukla.ITERATIONS)
    exp.pairs, exp.draws = (shukla.QUICK_PAIRS, shukla.QUICK_DRAWS) if exp.quick else (shukla.PAIRS, shukla.DRAWS)
    shared = shukla.Recipes(exp)  # Table 2's runs (in shukla_tables' folder), the pair lists, the pix2pix recipe
    n = exp.pairs[-1]
    # label -> photo: the generated photos only (the tables show no upper-bound row; ESPNet costs seconds a photo)
    scored_b2a = {"eval_overrides": [f"eval.max_images={LABEL_TO_PHOTO_IMAGES}", "eval.fcn_real_photos=false"]} if not exp.quick else {}
    # Table 5: the full run is Table 2's (photo -> label; both its seeds), the two ablations are new
    full = exp.add(shared.run(f"shukla_kmedoids_{n}"))
    if not exp.quick:
        exp.add_second_seed(full)
    for suffix, override, what in (("no_cycle", "cyclegan.lambda_cycle=0", "without the cycle loss"),
                                   ("no_identity", "cyclegan.lambda_identity=0", "without the identity loss")):
        base = shared.run(f"shukla_kmedoids_{n}")
        exp.add(Run(f"{base.name}_{suffix}", base.preset, [*base.overrides, override], label=f"{base.label}, {what}", direction="AtoB"))
    # Table 8: pix2pix label -> photo on the chosen pairs
    for method, draws in (("kmedoids", [0]), ("random", exp.draws)):
        for d in draws:
            for count in exp.pairs:
                exp.add(shared.paired_only(count, method, d, direction="BtoA", **scored_b2a))
    exp.add(shared.paired_all(direction="BtoA", **scored_b2a))
    # Table 9: Table 2's runs scored label -> photo (the same folders; metrics_<split>_BtoA.json)
    for name in ["cyclegan", "shukla_pairs0", *(f"shukla_kmedoids_{c}" for c in exp.pairs), f"shukla_kmedoids_{n}_unbalanced"]:
        run = shared.run(name)
        scored = exp.add(Run(f"{name}_b2a", run.preset, run.overrides, label=f"{run.label} (label -> photo)", direction="BtoA",
                             run_dir=run.run_dir, **scored_b2a))
        if not exp.quick and name in shukla.seeded(exp.pairs):  # Table 2's second-seed run, scored label -> photo as well
            exp.add_second_seed(scored)
    return exp


def tabulate(exp: Experiment) -> str:
    n, draws, size = exp.pairs[-1], exp.draws, shukla.QUICK_UNPAIRED if exp.quick else shukla.UNPAIRED
    paper = (lambda values: None) if exp.quick else (lambda values: values)
    text = f"### Table 5: photo -> label, {size} unpaired + {n} k-medoids pairs, one loss term dropped\n\n"
    text += tables.comparison_table(exp, PHOTO_TO_LABEL, [
        ("full (Table 2's run)", exp.seeds(f"shukla_kmedoids_{n}"), paper(PAPER_T5["full"])),
        ("without the cycle loss", [f"shukla_kmedoids_{n}_no_cycle"], paper(PAPER_T5["no_cycle"])),
        ("without the identity loss", [f"shukla_kmedoids_{n}_no_identity"], paper(PAPER_T5["no_identity"]))], first_header="model")
    rows = []
    for count in exp.pairs:
        t8 = PAPER_T8.get(count, (None, None))
        rows.append((f"{count}, random ({shukla.draws_text(draws)})", [f"pix2pix_b2a_random_{count}_draw{d}" for d in draws], paper(t8[0])))
        rows.append((f"{count}, k-medoids", [f"pix2pix_b2a_kmedoids_{count}"], paper(t8[1])))
    text += "\n### Table 8: label -> photo, paired only (pix2pix on the chosen pairs; ours: mean ± sd over draws)\n\n"
    text += tables.comparison_table(exp, LABEL_TO_PHOTO, rows, first_header="pairs, selection")
    rows = [(f"all {size} pairs, paired only", ["pix2pix_b2a_all"], paper(PAPER_T9["all_paired"])),
            (f"{size} unpaired, CycleGAN", exp.seeds("cyclegan_b2a"), paper(PAPER_T9["cyclegan"])),
            (f"{size} unpaired, shukla losses, 0 pairs", exp.seeds("shukla_pairs0_b2a"), paper(PAPER_T9[0]))]
    rows += [(f"+ {c} k-medoids {shukla.pl(c)}", exp.seeds(f"shukla_kmedoids_{c}_b2a"), paper(PAPER_T9.get(c))) for c in exp.pairs]
    rows.append((f"+ {n} k-medoids {shukla.pl(n)}, unbalanced", [f"shukla_kmedoids_{n}_unbalanced_b2a"], paper(PAPER_T9["unbalanced_20"])))
    text += f"\n### Table 9: label -> photo, {size} unpaired + N k-medoids pairs (Table 2's runs, other direction)\n\n"
    text += tables.comparison_table(exp, LABEL_TO_PHOTO, rows, first_header="training data")
    seeds = (f"Training seed 0; Table 5's full row and Table 9's CycleGAN, 0-pair and {n} k-medoids rows: Table 2's runs with "
             f"seeds 0 and {common.SECOND_SEED}, mean ± sd." if len(exp.seeds(f"shukla_kmedoids_{n}")) > 1 else "One training seed (0).")
    return text + (f"\nLabel -> photo: ESPNet FCN-score on the first {LABEL_TO_PHOTO_IMAGES} {exp.split} images (the paper: FCN-8s "
                   f"on 500 val images at 2048x1024). {seeds} Paper: Shukla et al. 2019, supplementary Tables 5, 8 (average of 10 "
                   "runs) and 9.\n")


def pairs_series(pairs: list[int], paired_kmedoids, paired_random, unpaired_kmedoids, cyclegan) -> list[dict]:
    """Tables 8 and 9 as lines against the number of pairs: each argument maps a pair count (0: no pairs, unpaired
    runs only) to a score, or is the CycleGAN score."""
    return [{"label": "paired only, k-medoids (T8)", "x": pairs, "y": [paired_kmedoids(n) for n in pairs], "color": 0},
            {"label": "paired only, random (T8)", "x": pairs, "y": [paired_random(n) for n in pairs], "color": 2},
            {"label": "unpaired + k-medoids pairs (T9)", "x": [0, *pairs], "y": [unpaired_kmedoids(n) for n in [0, *pairs]], "color": 1},
            {"label": "CycleGAN (T9)", "hline": cyclegan, "color": 4}]


def figures(exp: Experiment) -> list[dict]:
    """Label -> photo against the number of pairs, ours beside the paper's (on its own axis: its scores are 3-5 times ours)."""
    pairs, draws = exp.pairs, exp.draws
    x_values = [0, *pairs]
    panels = []
    mean_iou = 2  # index in LABEL_TO_PHOTO and in the paper's rows
    for key, path in (LABEL_TO_PHOTO[mean_iou], LABEL_TO_PHOTO[0]):
        ours = pairs_series(pairs, lambda n: tables.values_of(exp, [f"pix2pix_b2a_kmedoids_{n}"], *path),
                            lambda n: tables.values_of(exp, [f"pix2pix_b2a_random_{n}_draw{d}" for d in draws], *path),
                            lambda n: tables.values_of(exp, exp.seeds(f"shukla_kmedoids_{n}_b2a" if n else "shukla_pairs0_b2a"), *path),
                            tables.values_of(exp, exp.seeds("cyclegan_b2a"), *path))
        panels.append(line_panel(ours, f"label -> photo {key}, ours", "paired samples", key, x_values, categorical=True, size=(520, 380)))
    if not exp.quick:
        paper = pairs_series(pairs, lambda n: PAPER_T8[n][1][mean_iou], lambda n: PAPER_T8[n][0][mean_iou],
                             lambda n: PAPER_T9[n][mean_iou], PAPER_T9["cyclegan"][mean_iou])
        panels.append(line_panel(paper, "label -> photo mean IoU, paper", "paired samples", "mean IoU", x_values,
                                 categorical=True, size=(520, 380)))
    save(hstack(panels), exp.out_dir / "label_to_photo_vs_pairs.png")
    return [{"file": "label_to_photo_vs_pairs.png",
             "caption": f"Tables 8 and 9: label -> photo ESPNet FCN-score against the number of pairs ({exp.split}; random: mean of "
                        "the draws; rows with two seeds: their mean" + ("" if exp.quick else "; right: the paper's mean IoU") + ")"}]


def main(argv=None) -> int:
    return cli.main(__doc__.replace("LABEL_TO_PHOTO_IMAGES", str(LABEL_TO_PHOTO_IMAGES)), NAME, build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
