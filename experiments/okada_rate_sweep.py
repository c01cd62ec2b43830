"""Okada et al. 2019, Fig. 5 at CPU scale: FCN-score against the supervised rate (0, 2, 5, 10, 20, 100%).

    OMP_WAIT_POLICY=PASSIVE python -m experiments.okada_rate_sweep [--split val] [--quick] [--dataset facades]

Seed 0; the 0%, 10% and 20% rows also seed 1 (not in --quick), their cells the mean ± sd. Rate 0% is CycleGAN (preset zhu2017-cyclegan-<dataset>); the others are preset
okada2019-ssl-<dataset> with pairs.rate = 0.02, 0.05, 0.10, 0.20, 1.0 (kappa = lambda = 10).
On facades the 0% and 10% runs and the label -> photo scorer are those of experiments/okada_table1.py
(same configuration, same folders under runs/experiments/okada_table1/): whichever script comes first
trains them, the other reuses them.

CPU-scale configuration: the one of okada_table1.py (64 px from load 72 + random crop + flip,
resnet_6blocks, ngf = ndf = 32, batch 1, ITERATIONS iterations per run, half constant LR, half decay).
Metrics: photo -> label by nearest palette colour; label -> photo FCN-score with the facades scorer
(Cityscapes: ESPNet at 1024x512, whose upper bound, the real photos, is scored with the 0% seed-0 run only: it is
the same for every run and costs as much as the generated photos). The paper's Fig. 5 is on Cityscapes and gives
its values only in the figure, so there are no paper numbers to put beside ours (`--dataset cityscapes` runs the paper's data; there the 0% and
100% rows are also set beside the CycleGAN paper's Cityscapes CycleGAN and pix2pix numbers, labelled "paper").
"""

from __future__ import annotations

import sys


from semicycle.figures import hstack, line_panel, save

from experiments import cli, common, okada_table1, samples, tables
from experiments.common import Experiment, Run
from experiments.records import rel

NAME = "okada_rate_sweep"
ITERATIONS = okada_table1.ITERATIONS
RATES = [0, 2, 5, 10, 20, 100]  # percent
METRICS = okada_table1.METRICS
# The CycleGAN paper's Cityscapes comparison (Zhu et al. 2017, Tables 1-2: FCN-score of labels -> photo, and photo ->
# labels; per-pixel acc, per-class acc, class IoU) - our 0% row is CycleGAN, our 100% row the fully supervised end.
CYCLEGAN_PAPER = tables.paper_numbers("zhu2017", "cityscapes")


SEEDED_RATES = (0, 10, 20)  # the rows the sweep's conclusions rest on get a second training seed (issue 23)


def run_name(rate: int, seed: int = 0) -> str:
    return f"cyclegan_seed{seed}" if rate == 0 else (f"okada_seed{seed}" if rate == 10 else f"okada_rate{rate}_seed{seed}")


def seed_runs(exp: Experiment, rate: int) -> list[str]:
    """The runs of ``rate`` over the seeds the plan has."""
    names = {run.name for run in exp.runs}
    return [run_name(rate, seed) for seed in (0, common.SECOND_SEED) if run_name(rate, seed) in names]


def build(args) -> Experiment:
    title = f"Okada et al. 2019, Fig. 5: FCN-score against the supervised rate ({args.dataset}, CPU scale)"
    shared = args.dataset == "facades"
    name = NAME if shared else f"{NAME}_{args.dataset}"  # its own runs/results folders and docs block
    exp = Experiment(name, title, args, ITERATIONS, script=NAME, script_args=[] if shared else ["--dataset", args.dataset])
    eval_overrides = []
    if shared:
        scorer = exp.add(okada_table1.scorer_run(exp))
        eval_overrides = [f"eval.scorer={rel(scorer.run_dir)}"]
    second = [] if exp.quick else [(rate, common.SECOND_SEED) for rate in SEEDED_RATES]  # after every seed-0 run
    for rate, seed in [(rate, 0) for rate in RATES] + second:
        if rate == 0:
            preset, overrides, label = f"zhu2017-cyclegan-{args.dataset}", [f"train.seed={seed}"], "0%: CycleGAN"
        else:
            preset, label = f"okada2019-ssl-{args.dataset}", f"{rate}% pairs (okada, kappa = lambda = 10)"
            overrides = [f"train.seed={seed}", f"pairs.rate={rate / 100:g}"]
        name = run_name(rate, seed)
        run_dir = (exp.runs_root / okada_table1.NAME / name) if shared and rate in (0, 10) else None
        # ESPNet's upper bound (the real photos) is the same for every run: scored with the first one only
        upper_bound = shared or (rate, seed) == (RATES[0], 0)
        exp.add(Run(name, preset, overrides, label=label + (f", seed {seed}" if seed else ""), run_dir=run_dir,
                    eval_overrides=eval_overrides + ([] if upper_bound else ["eval.fcn_real_photos=false"]),
                    needs=["scorer"] if shared else []))
    return exp


def tabulate(exp: Experiment) -> str:
    header = ["supervised rate"] + [f"photo->label {k}" for k, _ in METRICS] + [f"label->photo {k}" for k, _ in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for rate in RATES:
        names = seed_runs(exp, rate)
        cells = [f"{rate}%"]
        for prefix in (("photo_to_label",), ("label_to_photo", "generated")):
            for _, path in METRICS:
                cells.append(tables.cell([tables.get(exp.metrics.get(n), *prefix, *path) for n in names], len(names)))
        lines.append("| " + " | ".join(cells) + " |")
    upper = next((m for m in map(exp.metrics.get, [run.name for run in exp.runs]) if tables.get(m, "label_to_photo", "real_photos")), None)
    cells = ["real photos (scorer's upper bound)"] + ["—"] * 3
    cells += [tables.fmt(tables.get(upper, "label_to_photo", "real_photos", *p)) if upper else "not yet run" for _, p in METRICS]
    lines.append("| " + " | ".join(cells) + " |")
    seeded = [rate for rate in RATES if len(seed_runs(exp, rate)) > 1]
    waiting = [f"{rate}% seed {seed}" for rate in seeded for seed in (0, common.SECOND_SEED) if exp.metrics.get(run_name(rate, seed)) is None]
    text = (f"Seed 0; {', '.join(f'{r}%' for r in seeded)}: seeds 0 and {common.SECOND_SEED}, mean ± sd. " if seeded else "One seed (0). ")
    if waiting:  # the plan's seeds before they have all run: the text says so, not only the cells' "(1 of 2)"
        text += f"Not yet run: {', '.join(waiting)}. "
    text += "Ours only: the paper's Fig. 5 (Cityscapes) shows its values in a plot, not in the text.\n\n"
    text += "\n".join(lines) + "\n"
    if exp.args.dataset == "cityscapes":
        text += "\n" + cyclegan_paper_table(exp)
    return text


def cyclegan_paper_table(exp: Experiment) -> str:
    """Our 0% and 100% rows beside the CycleGAN paper's Cityscapes CycleGAN and pix2pix rows (labelled "paper")."""
    header = ["rate", "paper's method"] + [f"{direction} {key} ({who})" for direction in ("photo->label", "label->photo")
                                           for key, _ in METRICS for who in ("ours", "paper")]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for rate, (method, photo_to_label, label_to_photo) in CYCLEGAN_PAPER.items():
        names = seed_runs(exp, rate)
        cells = [f"{rate}%", method]
        for prefix, paper in ((("photo_to_label",), photo_to_label), (("label_to_photo", "generated"), label_to_photo)):
            for (_, path), value in zip(METRICS, paper):
                cells += [tables.cell([tables.get(exp.metrics.get(n), *prefix, *path) for n in names], len(names)), tables.paper(value)]
        lines.append("| " + " | ".join(cells) + " |")
    return ("Beside the CycleGAN paper's Cityscapes comparison (paper: Zhu et al. 2017, Tables 1-2, 256 px, FCN-8s scorer; "
            "ours: 64 px, ESPNet scorer for label -> photo; our 100% row is okada with every pair, not pix2pix):\n\n"
            + "\n".join(lines) + "\n")


def figures(exp: Experiment) -> list[dict]:
    panels = []
    for key, path in METRICS:
        series = []
        for index, (prefix, label) in enumerate(((("photo_to_label",), "photo -> label"), (("label_to_photo", "generated"), "label -> photo"))):
            ys = [tables.values_of(exp, seed_runs(exp, r), *prefix, *path) for r in RATES]  # the seeds' mean
            series.append({"label": label, "x": RATES, "y": ys, "color": index})
        panels.append(line_panel(series, key, "supervised rate (%)", key, RATES, [f"{r}%" for r in RATES], categorical=True))
    notes = []
    if any(exp.metrics.get(run_name(r)) for r in RATES):  # no paper values to draw: no figure before the first run
        save(hstack(panels), exp.out_dir / "rate_sweep.png")
        notes.append({"file": "rate_sweep.png", "caption": f"FCN-score against the supervised rate ({exp.split}, the seeds' mean; x axis not to scale)"})
    columns = [(f"{r}%", run_name(r)) for r in RATES]
    return notes + samples.samples_figure(exp, columns, "AtoB", f"photo -> label for each supervised rate (first 4 {exp.split} images)",
                                         input_title="photo")


def add_arguments(p) -> None:
    p.add_argument("--dataset", default="facades", choices=["facades", "cityscapes"])


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv,
                    add_arguments)


if __name__ == "__main__":
    sys.exit(main())
