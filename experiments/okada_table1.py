"""Okada et al. 2019, Table 1 at CPU scale: CycleGAN vs CycleGAN + supervised L1 on 10% pairs, facades.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.okada_table1 [--split val] [--quick] [--seeds 0 1]

Runs (train split of $SEMICYCLE_DATA/facades, 400 images; evaluated on --split, 100 val images):
  scorer              the facades label -> photo scorer (`semicycle train-scorer`): the segmentation
                      network on every real training pair, at the same CPU scale (batch 4)
  cyclegan_seed{S}    preset zhu2017-cyclegan-facades, train.seed=S
  okada_seed{S}       preset okada2019-ssl-facades (pairs.rate=0.1 -> 40 pairs, kappa = lambda = 10), train.seed=S

CPU-scale configuration (every run): 64 px (load 72 -> random crop 64 + flip), resnet_6blocks generator,
ngf = ndf = 32, 70x70 PatchGAN (3 layers), batch 1, Adam 2e-4, ITERATIONS iterations (15 epochs of
the 400 facades: 7 at constant LR, 8 of linear decay); the paper trains 256 px, ResNet-9, ngf 64,
200 epochs. The scorer gets the same number of iterations at batch 4 (60 epochs; a cheaper step).
Metrics: photo -> label colours decoded by nearest facades palette colour (pixel acc / class acc /
mean IoU over the split); label -> photo FCN-score with the scorer (its score on the real photos is the
upper bound). Paper: Okada, Nakano, Miyauchi, "CycleGAN using Semi-Supervised Learning", ICONIP 2019,
Table 1 (CMP facades; 256 px; the paper does not say which direction its FCN-score is).
"""

from __future__ import annotations

import sys

from experiments import cli, samples, tables
from experiments.common import Experiment, Run
from experiments.records import rel

NAME = "okada_table1"
ITERATIONS = 6000  # ~48 min per CycleGAN run at the measured 0.48 s/iteration (load ~3.4; experiments/step_time.py)
PAPER = tables.paper_numbers("okada2019", "table1")  # (pixel acc, mean acc, mean IoU)
METRICS = [("pixel acc", ("pixel_accuracy",)), ("mean acc", ("mean_class_accuracy",)), ("mean IoU", ("mean_iou",))]


def build(args) -> Experiment:
    exp = Experiment(NAME, "Okada et al. 2019, Table 1: CycleGAN vs + L_sv on 10% pairs (facades, CPU scale)", args, ITERATIONS)
    add_facades_runs(exp, args.seeds)
    return exp


def scorer_run(exp: Experiment) -> Run:
    """The facades scorer, shared by every facades experiment (runs/experiments/okada_table1/scorer)."""
    return Run("scorer", "scorer-facades", ["train.seed=0"], label="facades label -> photo scorer (segmenter on every real pair)",
               run_dir=exp.runs_root / NAME / "scorer", evaluate=False)


def add_facades_runs(exp: Experiment, seeds) -> None:
    scorer = exp.add(scorer_run(exp))
    scorer_eval = [f"eval.scorer={rel(scorer.run_dir)}"]
    for seed in seeds:
        exp.add(Run(f"cyclegan_seed{seed}", "zhu2017-cyclegan-facades", [f"train.seed={seed}"],
                    label=f"CycleGAN, seed {seed}", eval_overrides=scorer_eval, needs=["scorer"], run_dir=exp.runs_root / NAME / f"cyclegan_seed{seed}"))
        exp.add(Run(f"okada_seed{seed}", "okada2019-ssl-facades", [f"train.seed={seed}", "pairs.rate=0.1"],
                    label=f"okada, 10% pairs, kappa = lambda = 10, seed {seed}", eval_overrides=scorer_eval, needs=["scorer"],
                    run_dir=exp.runs_root / NAME / f"okada_seed{seed}"))


def tabulate(exp: Experiment) -> str:
    seeds = exp.args.seeds
    cyclegan = [f"cyclegan_seed{s}" for s in seeds]
    okada = [f"okada_seed{s}" for s in seeds]
    photo_to_label = [(k, ("photo_to_label",) + path) for k, path in METRICS]
    label_to_photo = [(k, ("label_to_photo", "generated") + path) for k, path in METRICS]
    upper = [(k, ("label_to_photo", "real_photos") + path) for k, path in METRICS]
    text = "### Photo -> label (facades palette decoding; ours: mean ± sd over seeds)\n\n"
    text += tables.comparison_table(exp, photo_to_label, [
        ("CycleGAN", cyclegan, PAPER["cyclegan"]),
        ("CycleGAN + L_sv, 10% pairs (okada)", okada, PAPER["okada"]),
    ])
    text += ("\nPaper: Okada et al. 2019, Table 1 (\"FCN-Score by CMP Facade Database\", 256 px, full schedule; "
             "the paper does not say which direction it scores).\n\n")
    text += "### Label -> photo (FCN-score with our facades scorer; no paper numbers for this direction)\n\n"
    text += tables.comparison_table(exp, label_to_photo, [
        ("CycleGAN", cyclegan, None),
        ("CycleGAN + L_sv, 10% pairs (okada)", okada, None),
    ])
    scored = [name for name in okada + cyclegan if exp.metrics.get(name)]  # the real photos score the same in every run
    upper_rows = tables.comparison_table(exp, upper, [("real photos (scorer's upper bound)", scored[:1] or okada[:1], None)])
    text += upper_rows.split("\n", 2)[2]
    return text


def figures(exp: Experiment) -> list[dict]:
    seed = exp.args.seeds[0]
    columns = [(f"CycleGAN s{seed}", f"cyclegan_seed{seed}"), (f"okada s{seed}", f"okada_seed{seed}")]
    notes = []
    for direction, what, input_title in (("AtoB", "photo -> label", "photo"), ("BtoA", "label -> photo", "label")):
        notes += samples.samples_figure(exp, columns, direction, f"{what}: first 4 {exp.split} images (seed {seed})", input_title=input_title)
    return notes


def add_arguments(p) -> None:
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv,
                    add_arguments)


if __name__ == "__main__":
    sys.exit(main())
