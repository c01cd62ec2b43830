"""When do the unpaired images pay off? Photo -> label with few labels: the strongest pairs-only recipe against the
same pairs plus the unlabelled photos, per budget of pairs (issue 41).

    OMP_WAIT_POLICY=PASSIVE python -m experiments.unpaired_payoff [--split val] [--quick]

Every photo -> label network is the ImageNet MobileNetV2 U-Net (``model.generator_AtoB=mobilenet_v2_unet``), the
strongest encoder measured (docs/reproductions/encoders.md). Per budget, two seeds each (weights, batches and the
labelled subset), and a third (seed THIRD_SEED) in the cells of THIRD_SEED_CELLS:
  segment_{budget}_seed{S}         pairs only: the segmenter (softmax cross-entropy) on the pairs, crop and flip
  segment_strong_{budget}_seed{S}  pairs only, standard augmentation (``paired.augment=strong``: scale-crop, flip,
                                   colour jitter)
  unimatch_{budget}_seed{S}        the pairs + every training photo unlabelled, weak-to-strong consistency (Yang et
                                   al. 2023; two strong views, CutMix, feature perturbation)
  {okada|mondal}_{budget}_seed{S}  the best semi-supervised method measured before on that dataset, with the encoder
Facades (okada_table1.py's configuration: 64 px, batch 1 (unimatch: 1 pair + 2 unlabelled photos, CutMix needs two),
ITERATIONS iterations): 40, 20 and 5 of the 400 training pairs. Cityscapes (mondal_table1.py's: 64 px, no crop or
flip, batch 5 (unimatch: 5 + 5), CITYSCAPES_ITERATIONS iterations): 10, 5 and 2% of the 1000 training photos. The
40-pair and 10% cells of the segmenter and of okada / mondal are pretrained_encoder.py's runs (same configuration,
same folders). One more facades row at HIGHER_SIZE px (load HIGHER_LOAD, crop HIGHER_SIZE; --quick: twice the quick
size), 40 pairs, for the strong pairs-only segmenter and unimatch: does the answer change with resolution? Metric:
photo -> label mean IoU on --split at the run's own size (results.json keeps pixel and mean class accuracy), and each
run's training minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from experiments import cli, common, pretrained_encoder, tables
from experiments.common import Experiment, Run
from experiments.cpu_scale import load_size_for

NAME = "unpaired_payoff"
ITERATIONS = pretrained_encoder.ITERATIONS
CITYSCAPES_ITERATIONS = pretrained_encoder.mondal_table1.ITERATIONS
ENCODER = pretrained_encoder.ENCODERS["imagenet"]
SEEDS = (0, common.SECOND_SEED)
THIRD_SEED = 2
# Where two seeds left unimatch within twice the seed spread of the strong pairs-only segmenter (measured 2026-12-07:
# facades 40 pairs, Cityscapes 5%), a third seed of both decides the cell (issue 41).
THIRD_SEED_CELLS = {"40pairs": ("segment_strong", "unimatch"), "5pc": ("segment_strong", "unimatch")}
FACADES_PAIRS, QUICK_FACADES_PAIRS = {40: 0.1, 20: 0.05, 5: 0.0125}, {2: 0.25}  # pairs: the rate of the 400 (quick: 8) photos
CITYSCAPES_RATES, QUICK_CITYSCAPES_RATES = (10, 5, 2), (25,)
HIGHER_SIZE, HIGHER_PAIRS = 128, 40  # the facades row at a higher resolution (--quick: twice the quick size, its pairs)
STRONG = ["paired.augment=strong"]
FACADES_UNIMATCH = ["pairs.batch_size=1", "train.batch_size=2"]
CITYSCAPES_UNIMATCH = ["pairs.batch_size=5", "train.batch_size=5"]
METHODS = {  # method: label (the first two train on the pairs only)
    "segment": "segmenter on the pairs",
    "segment_strong": "segmenter on the pairs, strong augmentation",
    "unimatch": "unimatch: + every photo unlabelled",
    "okada": "okada: + unpaired photos and labels",
    "mondal": "mondal: + unlabelled photos",
}
DATASETS = {  # table: the methods compared (the semi-supervised one measured best before on it comes last)
    "facades": ("segment", "segment_strong", "unimatch", "okada"),
    "cityscapes": ("segment", "segment_strong", "unimatch", "mondal"),
    "facades_higher": ("segment_strong", "unimatch"),  # the strongest pairs-only recipe against the strongest method
}
MEAN_IOU = ("photo_to_label", "mean_iou")


def run_name(method: str, budget: str, seed: int) -> str:
    return f"{method}_{budget}_seed{seed}"


def seeds_of(method: str, budget: str, quick: bool) -> tuple[int, ...]:
    """The training seeds of a cell: the first (--quick), the first two, or three in THIRD_SEED_CELLS."""
    if quick:
        return SEEDS[:1]
    return (*SEEDS, THIRD_SEED) if method in THIRD_SEED_CELLS.get(budget, ()) else SEEDS


def build(args) -> Experiment:
    exp = Experiment(NAME, "When do the unpaired images pay off? Pairs only against pairs + unlabelled photos (CPU scale)", args, ITERATIONS)
    source = pretrained_encoder.build(argparse.Namespace(**vars(args)))
    exp.budgets = {"facades": {f"{pairs}pairs": rate for pairs, rate in (QUICK_FACADES_PAIRS if exp.quick else FACADES_PAIRS).items()},
                   "cityscapes": {f"{rate}pc": rate / 100 for rate in (QUICK_CITYSCAPES_RATES if exp.quick else CITYSCAPES_RATES)}}
    exp.higher_size = 2 * exp.size if exp.quick else HIGHER_SIZE
    pairs, rate = next(iter(QUICK_FACADES_PAIRS.items())) if exp.quick else (HIGHER_PAIRS, FACADES_PAIRS[HIGHER_PAIRS])
    exp.budgets["facades_higher"] = {f"{pairs}pairs_{exp.higher_size}px": rate}
    for budget, rate in exp.budgets["facades"].items():  # the largest budget first: it shares pretrained_encoder's runs
        shared = rate == 0.1
        for seed in (*SEEDS, THIRD_SEED):  # add() keeps each cell's seeds_of
            pairs = [f"train.seed={seed}", f"pairs.rate={rate:g}"]
            add(exp, source, "segment", budget, seed, "isola2017-pix2pix-facades", [*pairs, *pretrained_encoder.SEGMENT, *ENCODER],
                f"segment_imagenet_seed{seed}" if shared else None)
            add_strong_and_unimatch(exp, source, budget, seed, pairs)
            add(exp, source, "okada", budget, seed, "okada2019-ssl-facades", [*pairs, *ENCODER], f"okada_imagenet_seed{seed}" if shared else None)
    higher = [f"data.load_size={load_size_for(exp.higher_size)}", f"data.crop_size={exp.higher_size}"]
    for budget, rate in exp.budgets["facades_higher"].items():
        for seed in SEEDS:
            add_strong_and_unimatch(exp, source, budget, seed, [f"train.seed={seed}", f"pairs.rate={rate:g}", *higher])
    mondal_setup = dict(augment=False, iterations=exp.iterations if exp.quick else CITYSCAPES_ITERATIONS, decay_fraction=0.75)
    for budget, rate in exp.budgets["cityscapes"].items():
        shared = rate == 0.1
        for seed in (*SEEDS, THIRD_SEED):
            base, suffix = [f"train.seed={seed}", "train.batch_size=5", f"pairs.rate={rate:g}"], "" if seed == 0 else f"_seed{seed}"
            add(exp, source, "segment", budget, seed, "mondal2019-partial-cityscapes", [*base, *ENCODER],
                f"partial_10_imagenet{suffix}" if shared else None, **mondal_setup)
            add(exp, source, "segment_strong", budget, seed, "mondal2019-partial-cityscapes", [*base, *ENCODER, *STRONG], **mondal_setup)
            add(exp, source, "unimatch", budget, seed, "yang2023-unimatch-cityscapes",
                [f"train.seed={seed}", f"pairs.rate={rate:g}", *ENCODER, *CITYSCAPES_UNIMATCH], **mondal_setup)
            add(exp, source, "mondal", budget, seed, "mondal2019-semiseg-cityscapes", [*base, *ENCODER],
                f"mondal_10_imagenet{suffix}" if shared else None, **mondal_setup)
    return exp


def add(exp: Experiment, source: Experiment, method: str, budget: str, seed: int, preset: str, overrides: list[str],
        shared: str | None = None, **settings) -> Run | None:
    """A new run, or pretrained_encoder's run ``shared`` (the same configuration, in its folder) under the new name;
    nothing where ``seed`` is not one of the cell's seeds."""
    if seed not in seeds_of(method, budget, exp.quick):
        return None
    name = run_name(method, budget, seed)
    if shared and any(run.name == shared for run in source.runs):
        return exp.add(dataclasses.replace(source.run(shared), name=name, needs=[]))
    return exp.add(Run(name, preset, overrides, label=f"{METHODS[method]}, {budget}, seed {seed}", direction="AtoB", **settings))


def add_strong_and_unimatch(exp: Experiment, source: Experiment, budget: str, seed: int, pairs: list[str]) -> None:
    """A facades budget's strong pairs-only segmenter and unimatch, on the pairs ``pairs`` (seed, rate, size) choose."""
    add(exp, source, "segment_strong", budget, seed, "isola2017-pix2pix-facades", [*pairs, *pretrained_encoder.SEGMENT, *ENCODER, *STRONG])
    add(exp, source, "unimatch", budget, seed, "yang2023-unimatch-facades", [*pairs, "model.norm=instance", *ENCODER, *FACADES_UNIMATCH])


def tabulate(exp: Experiment) -> str:
    text = ""
    for dataset, methods in DATASETS.items():
        header = ["budget"] + [f"{METHODS[m]}" for m in methods] + ["train minutes (same order)"]
        lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for budget in exp.budgets[dataset]:
            names = {m: [run_name(m, budget, s) for s in seeds_of(m, budget, exp.quick)] for m in methods}
            cells = [budget.replace("pairs", " pairs").replace("pc", "% labelled").replace("_", ", ")]
            cells += [tables.cell([tables.get(exp.metrics.get(n), *MEAN_IOU) for n in names[m]], len(names[m])) for m in methods]
            cells.append(" / ".join(pretrained_encoder.train_minutes(exp, names[m]) for m in methods))
            lines.append("| " + " | ".join(cells) + " |")
        title = f"Facades at {exp.higher_size} px" if dataset == "facades_higher" else f"{dataset.capitalize()} at {exp.size} px"
        text += f"### {title}, photo -> label mean IoU, ImageNet encoder (mean ± sd over seeds)\n\n" + "\n".join(lines) + "\n\n"
    return text


def main(argv=None) -> int:
    doc = __doc__.replace("CITYSCAPES_ITERATIONS", str(CITYSCAPES_ITERATIONS)).replace("ITERATIONS", str(ITERATIONS))
    doc = doc.replace("HIGHER_SIZE", str(HIGHER_SIZE)).replace("HIGHER_LOAD", str(load_size_for(HIGHER_SIZE)))
    return cli.main(doc, NAME, build, tabulate, None, argv)


if __name__ == "__main__":
    sys.exit(main())
