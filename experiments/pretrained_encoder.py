"""A segmenter from few labels: the photo -> label network trained from scratch vs on an ImageNet MobileNetV2 encoder.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.pretrained_encoder [--split val] [--quick]

Every photo -> label network of the other reproductions (docs/reproductions/) starts from random weights. Here each method is run twice, with the
CPU-scale ResNet (scratch) and with ``model.generator_AtoB=mobilenet_v2_unet`` (the ImageNet MobileNetV2 encoder with a
light U-Net decoder; encoder fine-tuned at 0.1 x the learning rate, its batch-norm statistics frozen: the defaults).
Only that network changes; the label -> photo networks, the discriminators and everything else stay as they were.

Facades (okada_table1.py's configuration: 64 px, ngf = ndf = 32, batch 1, ITERATIONS iterations, 10% pairs = 40):
  segment_{scratch,imagenet}_seed{S}  the paired method as a segmenter (paired.task=segment, softmax cross-entropy)
                                      on the 40 pairs: the practical recipe
  pix2pix_{...}_seed0                 the paired method as pix2pix on the 40 pairs (L1 x 100 + conditional GAN)
  okada_{...}_seed{S}                 okada: CycleGAN + kappa L1 on the 40 pairs, and the 400 unpaired photos/labels
  shukla_{...}_seed0                  shukla: relativistic GAN, cycle, identity, reconstruction on the 40 pairs
  cyclegan_{...}_seed{S}              CycleGAN, no pairs at all (what the unpaired terms alone give)
  segment_128_{...}_seed{S}           the segmenter again at 128 px (load 144, crop 128; full runs only): does
                                      the encoder need more than 2x2 cells at its last stage?
  S = 0 and 1 for segment, okada, cyclegan and segment_128, seed 0 for the others. The scratch runs of okada and
  CycleGAN are okada_table1's own (same configuration, same folders).
Cityscapes (mondal_table1.py's configuration: 64 px, batch 5, no augmentation, 1600 iterations, void-safe masks):
  {partial,mondal}_{10,30}_imagenet   Partial and mondal with the encoder under G_IS; the scratch rows are
                                      mondal_table1's runs (same folders)
  {partial,mondal}_10_imagenet_seed1  the 10% rows with mondal_table1's second seed (weights, batches, labelled subset)
Metrics: photo -> label mean IoU, pixel accuracy and mean class accuracy on --split (argmax of a segmenter's logits,
nearest palette colour of an RGB label image), and each run's training wall time (2 CPU cores shared by 2 workers).
"""

from __future__ import annotations

import argparse
import statistics
import sys

from experiments import cli, common, cpu_scale, mondal_table1, okada_table1, samples, tables
from experiments.common import Experiment, Run

NAME = "pretrained_encoder"
ITERATIONS = okada_table1.ITERATIONS
ENCODERS = {"scratch": [], "imagenet": ["model.generator_AtoB=mobilenet_v2_unet"]}
LARGER = 128  # the segmenter pair at this size too: a 64 px facade reaches the encoder's last stage (stride 32) as 2x2 cells
SEGMENT = ["paired.task=segment", "model.norm=instance"]
FACADES = {  # method: (preset, overrides, label)
    "segment": ("isola2017-pix2pix-facades", SEGMENT, "segmenter (cross-entropy) on the 40 pairs"),
    "pix2pix": ("isola2017-pix2pix-facades", ["model.norm=instance"], "pix2pix on the 40 pairs"),
    "okada": ("okada2019-ssl-facades", [], "okada: + 400 unpaired photos and labels"),
    "shukla": ("shukla2019-weak-facades", [], "shukla: + 400 unpaired photos and labels"),
    "cyclegan": ("zhu2017-cyclegan-facades", [], "CycleGAN: unpaired only, no pairs"),
    "segment_128": ("isola2017-pix2pix-facades", [*SEGMENT, f"data.load_size={cpu_scale.load_size_for(LARGER)}", f"data.crop_size={LARGER}"],
                    f"segmenter (cross-entropy) on the 40 pairs, {LARGER} px"),
}
FULL_ONLY = {"segment_128"}  # too slow for --quick
SEEDS = {method: (0, common.SECOND_SEED) for method in ("segment", "okada", "cyclegan", "segment_128")}  # rows with a second seed
SHARED = {"okada": "okada_seed{}", "cyclegan": "cyclegan_seed{}"}  # okada_table1's scratch runs of this configuration
CITYSCAPES_RUNS, QUICK_CITYSCAPES_RUNS = ("partial_10", "mondal_10", "partial_30", "mondal_30"), ("partial_10", "mondal_10")
METRICS = [("mIoU", ("photo_to_label", "mean_iou")), ("pixel acc", ("photo_to_label", "pixel_accuracy")),
           ("mean acc", ("photo_to_label", "mean_class_accuracy"))]


def facades_name(method: str, encoder: str, seed: int) -> str:
    return f"{method}_{encoder}_seed{seed}"


def build(args) -> Experiment:
    exp = Experiment(NAME, "Pretrained encoders: scratch vs ImageNet MobileNetV2 under the photo -> label network", args, ITERATIONS)
    for method, (preset, overrides, label) in FACADES.items():
        if exp.quick and method in FULL_ONLY:
            continue
        pairs = [] if method == "cyclegan" else ["pairs.rate=0.1"]
        for seed in SEEDS.get(method, (0,)) if not exp.quick else (0,):
            for encoder, encoder_overrides in ENCODERS.items():
                shared = None
                if encoder == "scratch" and method in SHARED:
                    shared = exp.runs_root / okada_table1.NAME / SHARED[method].format(seed)
                exp.add(Run(facades_name(method, encoder, seed), preset, [f"train.seed={seed}", *pairs, *overrides, *encoder_overrides],
                            label=f"{label}, {encoder}, seed {seed}", direction="AtoB", run_dir=shared))
    source = mondal_table1.build(argparse.Namespace(**{**vars(args), "dataset": "cityscapes"}))
    cityscapes = QUICK_CITYSCAPES_RUNS if exp.quick else CITYSCAPES_RUNS
    seed0_then_seed1 = [(name, name) for name in cityscapes] + [(name, n) for name in cityscapes for n in source.seeds(name)[1:]]
    for name, source_name in seed0_then_seed1:
        base, suffix = source.run(source_name), source_name[len(name):]  # suffix: "" or mondal_table1's "_seed1"
        common_settings = dict(preset=base.preset, direction="AtoB", augment=False, iterations=source.iterations,
                               decay_fraction=source.decay_fraction)
        exp.add(Run(f"{name}_scratch{suffix}", overrides=base.overrides, label=f"{base.label}, scratch", run_dir=base.run_dir,
                    **common_settings))
        exp.add(Run(f"{name}_imagenet{suffix}", overrides=[*base.overrides, *ENCODERS["imagenet"]],
                    label=f"{base.label}, ImageNet encoder", **common_settings))
    return exp


def train_minutes(exp: Experiment, names: list[str]) -> str:
    """Training minutes of the finished runs: mean (± sd over seeds)."""
    minutes = [seconds / 60 for n in names if (seconds := exp.train_seconds(exp.run(n))) is not None]
    if not minutes:
        return "—"
    return f"{statistics.mean(minutes):.0f}" + (f" ± {statistics.stdev(minutes):.0f}" if len(minutes) > 1 else "")


def table(exp: Experiment, rows: list[tuple[str, dict[str, list[str]]]]) -> str:
    header = ["method"] + [f"{metric} ({encoder})" for metric, _ in METRICS for encoder in ENCODERS] + \
             [f"train minutes ({encoder})" for encoder in ENCODERS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, by_encoder in rows:
        cells = [label] + [tables.cell([tables.get(exp.metrics.get(n), *path) for n in by_encoder[encoder]], len(by_encoder[encoder]))
                           for _, path in METRICS for encoder in ENCODERS]
        cells += [train_minutes(exp, by_encoder[encoder]) for encoder in ENCODERS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def tabulate(exp: Experiment) -> str:
    names = {run.name for run in exp.runs}
    by_method = {method: {encoder: [n for seed in (0, common.SECOND_SEED) if (n := facades_name(method, encoder, seed)) in names]
                          for encoder in ENCODERS} for method in FACADES}
    facades = [(FACADES[method][2], runs) for method, runs in by_method.items() if any(runs.values())]  # --quick: no FULL_ONLY rows
    cityscapes = [(exp.run(f"{name}_imagenet").label.rsplit(",", 1)[0],
                   {encoder: [n for n in (f"{name}_{encoder}", f"{name}_{encoder}_seed{common.SECOND_SEED}") if n in names]
                    for encoder in ENCODERS})
                  for name in (QUICK_CITYSCAPES_RUNS if exp.quick else CITYSCAPES_RUNS)]
    return ("Ours only (the seed papers train every network from scratch). Cells: mean ± sd over training seeds where "
            "n=2; train minutes: training wall time on the 2-core machine, shared with other runs (the discussion says how many).\n\n### Facades, photo -> label, 10% pairs (40)\n\n"
            + table(exp, facades) + "\n### Cityscapes, photo -> label (19 classes), Partial vs mondal\n\n" + table(exp, cityscapes))


def figures(exp: Experiment) -> list[dict]:
    facades = [(f"{method}, {encoder}", facades_name(method, encoder, 0)) for method in ("segment", "pix2pix", "okada")
               for encoder in ENCODERS]
    cityscapes = [(f"{name}, {encoder}", f"{name}_{encoder}") for name in QUICK_CITYSCAPES_RUNS for encoder in ENCODERS]
    return (samples.samples_figure(exp, facades, "AtoB", f"facades photo -> label, first 4 {exp.split} images (seed 0)",
                                   input_title="photo")
            + samples.samples_figure(exp, cityscapes, "AtoB", f"Cityscapes photo -> label, first 4 {exp.split} images",
                                     name="samples_cityscapes_AtoB.png", input_title="photo"))


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
