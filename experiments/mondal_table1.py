"""Mondal et al. 2019, Table 1 at CPU scale: semi-supervised segmentation vs the labelled subset alone.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.mondal_table1 [--split val] [--quick] [--dataset cityscapes]

Runs (seed 0; --dataset cityscapes: the 1000 training images of $SEMICYCLE_DATA/cityscapes, 19 classes,
evaluated on --split, 350 val images; --dataset cmp: the CMP facade base with exact PNG labels,
249 train / 62 val, 12 classes):
  full                 "Full": the segmentation network on every labelled training image
                       (preset mondal2019-partial-<dataset>, pairs.rate=0)
  partial_{10,20,30,50} "Partial": the same network on 10/20/30/50% of the labels alone
                       (preset mondal2019-partial-<dataset>, pairs.rate=0.1 ...)
  mondal_{10,20,30,50}  the method (preset mondal2019-semiseg-<dataset>, pairs.rate=0.1 ...): the same
                       labelled subset (same seed, so the same images) + every training photo unlabelled
  mondal_10_no_*       the paper's Table 2 ablation at 10%: one loss term dropped at a time (lambda1 image_sup,
                       lambda2 label_cycle, lambda3 image_cycle, lambda4 label_adv, lambda5 image_adv = 0). Without
                       lambda4 (no D_S) the segmenter gets the gradients the authors' released code gives it (their
                       D_S sees an argmax: no gradient)
  mondal_10_d_1x1      ablation: mondal 10% with 1x1-kernel pixel-wise discriminators (the released code's)
  partial_10_seed1, mondal_10_seed1   the 10% rows again with training seed 1 (another labelled subset too)

Runs train in that order: 10% with its ablations, 30%, the second seeds, Full, then 20% and 50%.
Masks have the void channel (model.label_void_channel, 20 input classes on Cityscapes as the paper).

CPU-scale configuration (every run): 64 px, no crop and no flip (the paper uses no augmentation),
resnet_6blocks, ngf = ndf = 32 (pixel-wise discriminators for mondal), batch 5 (as the paper),
Adam 2e-4, ITERATIONS iterations per run, 25% of them at constant LR then 75% linear decay (the paper:
100 + 300 epochs), loss weights 1, 0.05, 1, 1, 1. The paper: 128x256 px, ResNet-9 generator, ngf 64,
400 epochs, its own Cityscapes split (2953 / 522 images).
Metric: mean IoU over the split (one confusion matrix; argmax of the segmenter). Paper: Mondal, Agarwal,
Dolz, Desrosiers, "Revisiting CycleGAN for semi-supervised segmentation", 2019, Table 1 (Cityscapes).
"""

from __future__ import annotations

import sys


from semicycle.figures import line_panel, save

from experiments import cli, common, samples, tables
from experiments.common import Experiment, Run

NAME = "mondal_table1"
ITERATIONS = 1600  # ~51 min per mondal run at the measured 1.9 s/iteration (batch 5, load ~3.4; experiments/step_time.py);
# 8 epochs of the 1000 Cityscapes images, 80 epochs of the 10% labels: every run gets exactly 1600
RATES = [10, 20, 30, 50]
QUICK_RATES = [10, 50]
PAPER = tables.paper_numbers("mondal2019", "table1")  # Cityscapes column (mIoU)

# The paper's Table 2 drops one term of its Eq. (8) at a time (its lambda3..lambda6: labels cycle, image cycle, labels
# discriminator, image discriminator); semicycle's mondal.lambda_* are numbered 1..5 with the supervised image term
# first. Every term is dropped here, in that order, then the released code's 1x1 discriminators.
ABLATIONS = {  # run-name suffix: (the one override, sample-grid title, what the table row says)
    "no_image_sup": ("mondal.lambda_image_sup=0", "no l1", "ablation: lambda1 = 0, no supervised label -> image term"),
    "no_label_cycle": ("mondal.lambda_label_cycle=0", "no label cycle", "ablation: lambda2 = 0, no label cycle (paper: w/o labels cycle loss)"),
    "no_image_cycle": ("mondal.lambda_image_cycle=0", "no image cycle", "ablation: lambda3 = 0, no image cycle (paper: w/o image cycle loss)"),
    "no_label_adv": ("mondal.lambda_label_adv=0", "no D_S", "ablation: lambda4 = 0, no label discriminator (paper: w/o labels discr. loss; the released code's gradients)"),
    "no_image_adv": ("mondal.lambda_image_adv=0", "no D_I", "ablation: lambda5 = 0, no image discriminator (paper: w/o image discr. loss)"),
    "d_1x1": ("model.discriminator=pixelwise_1x1", "1x1 Ds", "ablation: 1x1-kernel pixel-wise discriminators (as the released code)"),
}
SEEDED_RUNS = ("partial_10", "mondal_10")
# run order = training order: the comparison at 10% and its ablations first, then 30%, the second seeds, the rest
PRIORITY_RATES = [10, 30]


def build(args) -> Experiment:
    dataset = args.dataset
    name = NAME if dataset == "cityscapes" else f"{NAME}_{dataset}"
    exp = Experiment(name, f"Mondal et al. 2019, Table 1: semi-supervised segmentation ({dataset}, CPU scale)", args,
                     ITERATIONS, decay_fraction=0.75, script=NAME, script_args=[] if dataset == "cityscapes" else ["--dataset", dataset])
    exp.rates = QUICK_RATES if exp.quick else RATES
    common_overrides = ["train.seed=0", "train.batch_size=5"]

    def add_rate(rate: int) -> None:
        exp.add(Run(f"partial_{rate}", f"mondal2019-partial-{dataset}", common_overrides + [f"pairs.rate={rate / 100:g}"],
                    label=f"Partial: segmenter on {rate}% labels alone", direction="AtoB", augment=False))
        exp.add(Run(f"mondal_{rate}", f"mondal2019-semiseg-{dataset}", common_overrides + [f"pairs.rate={rate / 100:g}"],
                    label=f"mondal: {rate}% labels + unlabelled photos", direction="AtoB", augment=False))
        if rate == exp.rates[0] and not exp.quick:  # the ablations come early: they explain the mondal rows
            for name, (override, _, what) in ABLATIONS.items():
                exp.add(Run(f"mondal_{rate}_{name}", f"mondal2019-semiseg-{dataset}",
                            common_overrides + [f"pairs.rate={rate / 100:g}", override],
                            label=f"mondal {rate}%, {what}", direction="AtoB", augment=False))

    full = Run("full", f"mondal2019-partial-{dataset}", common_overrides + ["pairs.rate=0"],
               label="Full: segmenter on every labelled image", direction="AtoB", augment=False)
    if exp.quick:
        exp.add(full)
        for rate in exp.rates:
            add_rate(rate)
        return exp
    for rate in PRIORITY_RATES:
        add_rate(rate)
    for name in SEEDED_RUNS:  # a second training seed (weights, batches and the labelled subset)
        exp.add_second_seed(exp.run(name))
    exp.add(full)
    for rate in exp.rates:
        if rate not in PRIORITY_RATES:
            add_rate(rate)
    return exp


def tabulate(exp: Experiment) -> str:
    is_paper_data = exp.args.dataset == "cityscapes"
    columns = [("mIoU", ("photo_to_label", "mean_iou")), ("pixel acc", ("photo_to_label", "pixel_accuracy")),
               ("mean acc", ("photo_to_label", "mean_class_accuracy"))]

    def ref(value):
        return [value if is_paper_data else None, None, None]

    names = {run.name for run in exp.runs}
    rows = [("Full (100%)", ["full"], ref(PAPER["full"]))]
    for rate in exp.rates:
        rows.append((f"Partial {rate}%", exp.seeds(f"partial_{rate}"), ref(PAPER["partial"][rate])))
        rows.append((f"mondal (semi-supervised) {rate}%", exp.seeds(f"mondal_{rate}"), ref(PAPER["mondal"][rate])))
        rows += [(f"mondal {rate}%, {what}", [f"mondal_{rate}_{name}"], None)
                 for name, (_, _, what) in ABLATIONS.items() if f"mondal_{rate}_{name}" in names]
    text = tables.comparison_table(exp, columns, rows)
    source = "Cityscapes, 128x256 px, ResNet-9, 400 epochs" if is_paper_data else "Cityscapes; not the data of these runs"
    text += (f"\nPaper: Mondal et al. 2019, Table 1 ({source}); the paper reports mIoU only. "
             f"Seed 0 (and seed {common.SECOND_SEED} where a cell says n=2: mean ± standard deviation); the labelled subset of each "
             "rate and seed is the same for Partial and mondal.\n")
    if not is_paper_data:
        text += f"\nPaper values on Cityscapes for reference (mIoU): Full {PAPER['full']}; " + "; ".join(
            f"{r}%: Partial {PAPER['partial'][r]}, ours {PAPER['mondal'][r]}" for r in RATES) + ".\n"
    return text


def figures(exp: Experiment) -> list[dict]:
    miou, rates = ("photo_to_label", "mean_iou"), exp.rates
    full = tables.get(exp.metrics.get("full"), *miou)
    series = [  # the mean over seeds where a rate has two
        {"label": "Partial (ours)", "x": rates, "y": [tables.values_of(exp, exp.seeds(f"partial_{r}"), *miou) for r in rates], "color": 0},
        {"label": "mondal (ours)", "x": rates, "y": [tables.values_of(exp, exp.seeds(f"mondal_{r}"), *miou) for r in rates], "color": 1},
    ]
    if full is not None:
        series.append({"label": "Full (ours)", "hline": full, "color": 5})
    if exp.args.dataset == "cityscapes":
        series += [
            {"label": "Partial (paper)", "x": RATES, "y": [PAPER["partial"][r] for r in RATES], "color": 0, "dashed": True},
            {"label": "mondal (paper)", "x": RATES, "y": [PAPER["mondal"][r] for r in RATES], "color": 1, "dashed": True},
            {"label": "Full (paper)", "hline": PAPER["full"], "color": 5, "dashed": True},
        ]
    panel = line_panel(series, f"mIoU on {exp.split} ({exp.args.dataset})", "labelled images (%)", "mIoU",
                       RATES, size=(560, 380))
    save(panel, exp.out_dir / "miou_vs_labels.png")
    notes = [{"file": "miou_vs_labels.png", "caption": "mIoU against the fraction of labelled images (solid: ours, the mean over seeds where a row has "
                                                          "two; dashed: paper)"}]
    columns = [("Partial 10%", "partial_10"), ("mondal 10%", "mondal_10"), ("Partial 50%", "partial_50"),
               ("mondal 50%", "mondal_50"), ("Full", "full")]  # 10% and 50% are in the quick version too
    names = {run.name for run in exp.runs}
    columns[2:2] = [(f"mondal 10%, {title}", f"mondal_10_{name}") for name, (_, title, _) in ABLATIONS.items()
                    if f"mondal_10_{name}" in names]
    return notes + samples.samples_figure(exp, columns, "AtoB", f"segmentations of the first 4 {exp.split} images", input_title="photo")


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="cityscapes", choices=["cityscapes", "cmp"])


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv,
                    add_arguments)


if __name__ == "__main__":
    sys.exit(main())
