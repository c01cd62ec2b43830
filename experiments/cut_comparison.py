"""CUT and FastCUT (Park et al., ECCV 2020) against CycleGAN, and CUT with few pairs against okada (issue 44).

    OMP_WAIT_POLICY=PASSIVE python -m experiments.cut_comparison [--quick] [--dataset horse2zebra|facades]

horse2zebra (horse -> zebra; the data has no val split, so its runs are scored on test whatever --split says): one
run per method and seed (0 and 1; --quick: 0), the same ITERATIONS iterations each, half constant LR, half decay:
  cyclegan_seed{S}  preset zhu2017-cyclegan-horse2zebra
  cut_seed{S}       preset park2020-cut-horse2zebra (lambda_NCE = 1 with the identity PatchNCE term)
  fastcut_seed{S}   preset park2020-fastcut-horse2zebra (lambda_NCE = 10, no identity term, flip-equivariance)
Scores: FID and KID of the translated test horses against as many real test zebras (eval.max_images=60: 60 of each),
and seconds per training iteration (training seconds / iterations, one worker). Each run keeps a checkpoint every
KEEP_EPOCHS epochs (--quick: every epoch); CUT's and FastCUT's kept checkpoints are scored the same way, and the table
says at which iteration (and after how many training minutes) each first reaches CycleGAN's final FID (mean over seeds).
facades (--dataset facades; 40 of the 400 training pairs, pairs.rate=0.1, kappa = 10, 2 seeds):
  scorer                   the facades label -> photo scorer of okada_table1.py (shared)
  okada_seed{S}            preset okada2019-ssl-facades: both directions from one run
  cut_label2photo_seed{S}  the same data and pairs, train.method=cut, data.direction=BtoA: + L1 on the pairs
  cut_photo2label_seed{S}  train.method=cut, data.direction=AtoB: class logits, + cross-entropy on the pairs
Scores on --split: label -> photo FID and FCN-score (the scorer), photo -> label mean IoU.
CPU-scale configuration for every run (experiments/cpu_scale.py): 64 px (load 72 -> crop 64 + flip), the same
generator (resnet_6blocks, ngf 32) and discriminator (70x70 PatchGAN, ndf 32), batch 1, fp32. The papers' numbers
(256 px, 400 epochs) are set beside ours as the papers' (experiments/papers.json).
"""

from __future__ import annotations

import statistics
import sys

from experiments import cli, common, okada_table1, tables, time_to_quality
from experiments.common import Experiment, Run
from experiments.records import read_json, rel

NAME = "cut_comparison"
ITERATIONS = okada_table1.ITERATIONS
SEEDS = (0, common.SECOND_SEED)
KEEP_EPOCHS = 3  # 600 iterations of horse2zebra's 200 training images a domain: 10 points a run
PAPER = tables.paper_numbers("park2020", "horse2zebra")
HORSE2ZEBRA = {  # run prefix: (preset, label)
    "cyclegan": ("zhu2017-cyclegan-horse2zebra", "CycleGAN"),
    "cut": ("park2020-cut-horse2zebra", "CUT"),
    "fastcut": ("park2020-fastcut-horse2zebra", "FastCUT"),
}
FACADES = {  # run prefix: (overrides on okada2019-ssl-facades, direction scored, label)
    "okada": ([], None, "okada (CycleGAN + kappa L_sv)"),
    "cut_label2photo": (["train.method=cut", "data.direction=BtoA"], "BtoA", "CUT + kappa L1 on the pairs"),
    "cut_photo2label": (["train.method=cut", "data.direction=AtoB"], "AtoB", "CUT + kappa cross-entropy on the pairs"),
}
FID = [("FID", ("AtoB_fid", "fid")), ("KID", ("AtoB_fid", "kid"))]


def build(args) -> Experiment:
    horses = args.dataset == "horse2zebra"
    if horses:
        args.split = "test"
    name = NAME if horses else f"{NAME}_{args.dataset}"
    exp = Experiment(name, f"CUT and FastCUT against CycleGAN; CUT with 40 pairs against okada ({args.dataset}, CPU scale)", args,
                     ITERATIONS, script=NAME, script_args=[] if horses else ["--dataset", args.dataset])
    exp.seed_list = SEEDS[:1] if exp.quick else SEEDS
    if horses:
        for prefix, (preset, label) in HORSE2ZEBRA.items():
            for seed in exp.seed_list:
                keep = f"log.keep_every_epochs={1 if exp.quick else KEEP_EPOCHS}"
                exp.add(Run(f"{prefix}_seed{seed}", preset, [f"train.seed={seed}", keep], label=f"{label}, seed {seed}", direction="AtoB",
                            eval_overrides=["eval.fid=true", "eval.max_images=60"]))
        return exp
    scorer = exp.add(okada_table1.scorer_run(exp))
    for prefix, (overrides, direction, label) in FACADES.items():
        for seed in exp.seed_list:
            exp.add(Run(f"{prefix}_seed{seed}", "okada2019-ssl-facades", [f"train.seed={seed}", "pairs.rate=0.1", *overrides],
                        label=f"{label}, 40 pairs, seed {seed}", direction=direction, needs=["scorer"],
                        eval_overrides=["eval.fid=true", f"eval.scorer={rel(scorer.run_dir)}"]))
    return exp


def names(exp: Experiment, prefix: str) -> list[str]:
    return [f"{prefix}_seed{seed}" for seed in exp.seed_list]


def seconds_per_iteration(exp: Experiment, prefix: str) -> str:
    """Training seconds per iteration, mean over the finished seeds (one worker)."""
    values = []
    for run in (exp.run(n) for n in names(exp, prefix)):
        plan = read_json(run.run_dir / "plan.json") or (exp.recorded(run) or {}).get("plan")
        if (seconds := exp.train_seconds(run)) is not None and plan:
            values.append(seconds / plan["iterations"])
    return f"{statistics.mean(values):.3f}" if values else "—"


def fid_curve_point(metrics: dict) -> dict:
    """A kept checkpoint's FID and KID (horse -> zebra)."""
    return {key: metrics["AtoB_fid"][key] for key in ("fid", "kid")}


def time_to_cyclegan_fid(exp: Experiment) -> str:
    """Per CUT / FastCUT seed: the first kept checkpoint at or below CycleGAN's final FID (mean over its seeds)."""
    final = [v for n in names(exp, "cyclegan") if (v := tables.get(exp.metrics.get(n), *FID[0][1])) is not None]
    if not final:
        return "Time to CycleGAN's final FID: not yet measured (no finished CycleGAN run).\n\n"
    target = statistics.mean(final)
    minutes = [s / 60 for n in names(exp, "cyclegan") if (s := exp.train_seconds(exp.run(n))) is not None]
    lines = [f"Time to CycleGAN's final FID ({target:.1f}, mean of {len(final)} seed(s); CycleGAN trained "
             f"{statistics.mean(minutes):.0f} min for it), from the checkpoints kept every {1 if exp.quick else KEEP_EPOCHS} "
             "epoch(s):\n"]
    for prefix in ("cut", "fastcut"):
        for name in names(exp, prefix):
            curve = time_to_quality.quality_curve(exp, exp.run(name), fid_curve_point)
            reached = time_to_quality.first_reaching(curve, target, "fid", lower_is_better=True)
            if not curve:
                lines.append(f"- {HORSE2ZEBRA[prefix][1]}, {name}: not yet run")
            elif reached:
                when = "at or before" if reached is curve[0] else "first at"  # the first kept checkpoint: somewhere before it
                lines.append(f"- {HORSE2ZEBRA[prefix][1]}, {name}: {when} iteration {reached['iteration']} of "
                             f"{curve[-1]['iteration']} ({reached['train_seconds'] / 60:.0f} min of training)")
            else:
                lines.append(f"- {HORSE2ZEBRA[prefix][1]}, {name}: never reaches it (best kept checkpoint: FID "
                             f"{min(p['fid'] for p in curve):.1f})")
    return "\n".join(lines) + "\n\n"


def verdict(exp: Experiment, method: str, baseline: str, path: tuple, label: str, lower_is_better: bool) -> str:
    """What beat what on ``path``: a difference of means beyond twice the larger sd over seeds (docs/results.md's rule)."""
    values = {p: [v for n in names(exp, p) if (v := tables.get(exp.metrics.get(n), *path)) is not None] for p in (method, baseline)}
    if any(not v for v in values.values()):
        return f"- {label}: not yet measured\n"
    difference = statistics.mean(values[method]) - statistics.mean(values[baseline])
    if any(len(v) < 2 for v in values.values()):
        return f"- {label}: {difference:+.3f}, not decidable (one run a cell)\n"
    spread = 2 * max(statistics.stdev(v) for v in values.values())
    better = (difference < 0) == lower_is_better
    word = "level (within the spread)" if abs(difference) <= spread else ("better" if better else "worse")
    return f"- {label}: {word}, difference {difference:+.3f} (twice the larger sd over seeds: {spread:.3f})\n"


def tabulate(exp: Experiment) -> str:
    if exp.name == NAME:
        rows = [(label, names(exp, prefix), PAPER.get(prefix)) for prefix, (_, label) in HORSE2ZEBRA.items()]
        text = ("### horse -> zebra, 60 test images (ours: mean ± sd over seeds; paper: 256 px, FID only, Park et al. 2020, "
                "Table 1)\n\n" + tables.comparison_table(exp, FID, rows))
        text += "\nSeconds per training iteration (one worker): " + ", ".join(
            f"{label} {seconds_per_iteration(exp, prefix)}" for prefix, (_, label) in HORSE2ZEBRA.items()) + ".\n\n"
        text += time_to_cyclegan_fid(exp)
        for prefix in ("cut", "fastcut"):
            text += verdict(exp, prefix, "cyclegan", FID[0][1], f"{HORSE2ZEBRA[prefix][1]} against CycleGAN, FID", True)
        return text
    label_to_photo = [("FID", ("BtoA_fid", "fid")), ("FCN mean IoU", ("label_to_photo", "generated", "mean_iou"))]
    photo_to_label = [("mean IoU", ("photo_to_label", "mean_iou"))]
    text = "### Label -> photo, 40 pairs (mean ± sd over seeds)\n\n" + tables.comparison_table(exp, label_to_photo, [
        (FACADES["okada"][2], names(exp, "okada"), None), (FACADES["cut_label2photo"][2], names(exp, "cut_label2photo"), None)])
    text += "\n### Photo -> label, 40 pairs\n\n" + tables.comparison_table(exp, photo_to_label, [
        (FACADES["okada"][2], names(exp, "okada"), None), (FACADES["cut_photo2label"][2], names(exp, "cut_photo2label"), None)])
    text += "\nSeconds per training iteration (one worker): " + ", ".join(
        f"{prefix} {seconds_per_iteration(exp, prefix)}" for prefix in FACADES) + ".\n\n"
    text += verdict(exp, "cut_label2photo", "okada", label_to_photo[0][1], "CUT + L1 against okada, label -> photo FID", True)
    text += verdict(exp, "cut_photo2label", "okada", photo_to_label[0][1], "CUT + cross-entropy against okada, photo -> label mean IoU", False)
    return text


def add_arguments(p) -> None:
    p.add_argument("--dataset", choices=("horse2zebra", "facades"), default="horse2zebra")


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)).replace("KEEP_EPOCHS", str(KEEP_EPOCHS)), NAME, build, tabulate, None, argv, add_arguments)


if __name__ == "__main__":
    sys.exit(main())
