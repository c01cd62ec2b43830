"""Okada et al. 2019, sec. 4.2 (Figs. 6-11) at CPU scale: the supervised weight kappa and the cycle weight lambda.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.okada_sweeps [--split val] [--quick]

Runs (facades, seed 0, okada with 10% pairs as in experiments/okada_table1.py, in this experiment's own folder):
  okada_kappa{K}_seed0     kappa = 1, 5, 20, 50 with lambda = 10
  okada_seed0              kappa = lambda = 10 (the point both okada sweeps pass through)
  cyclegan_lambda{L}_seed0 CycleGAN with lambda = 1, 5, 20; cyclegan_seed0 is lambda = 10
  okada_lambda{L}_seed0    okada (kappa = 10) with lambda = 1, 5, 20
kappa is ``okada.kappa``, lambda ``cyclegan.lambda_cycle`` (CycleGAN's identity weight stays 0.5 x lambda, as in the
presets).

CPU-scale configuration: that of okada_table1.py (64 px, resnet_6blocks, ngf = ndf = 32, batch 1, ITERATIONS
iterations). Metric: photo -> label only, decoded by nearest palette colour (pixel acc / class acc / mean IoU over
the split): the paper's "FCN-score" in sec. 4 is this score ("they assigned each pixel of the transformed image to
the class closest to ... This experiment also derives FCN-Score according to this procedure"; of label -> photo it
says only that the images show "no noticeable difference"). Scoring needs no scorer trained on the machine, so the
runs' recorded scores (results.json) are reused on another machine and the 12 runs may be trained over several
sessions. The kappa = lambda = 10 runs are trained again here rather than shared with okada_table1, which scores
both directions with its scorer.
The paper (Okada, Nakano, Miyauchi, ICONIP 2019, sec. 4.2, Figs. 6-11; Cityscapes, 256 px: its sec. 4.3 turns to
facades as "other datasets"; ours are on facades, with experiment 1's configuration) shows these sweeps as
plots only: its FCN-score rises with kappa; CycleGAN's swings with lambda (mode collapse at small lambda, swapped
labels at large), okada's barely moves. There are no paper numbers to put beside ours.
"""

from __future__ import annotations

import sys


from semicycle.figures import hstack, line_panel, save

from experiments import cli, okada_table1, tables
from experiments.common import Experiment, Run

NAME = "okada_sweeps"
ITERATIONS = okada_table1.ITERATIONS
KAPPAS, LAMBDAS, QUICK_KNOBS = [1, 5, 10, 20, 50], [1, 5, 10, 20], [1, 10]
METRICS = okada_table1.METRICS


def run_name(method: str, knob: str, value: int) -> str:
    """The run at ``knob`` = ``value``; at kappa = lambda = 10, okada_table1's name for that configuration."""
    return f"{method}_seed0" if value == 10 else f"{method}_{knob}{value}_seed0"


def sweeps(exp: Experiment) -> dict[str, tuple[list[int], list[str]]]:
    """knob -> (its values, the methods swept over it)."""
    kappas, lambdas = (QUICK_KNOBS, QUICK_KNOBS) if exp.quick else (KAPPAS, LAMBDAS)
    return {"kappa": (kappas, ["okada"]), "lambda": (lambdas, ["cyclegan", "okada"])}


def build(args) -> Experiment:
    exp = Experiment(NAME, "Okada et al. 2019, sec. 4.2: kappa and lambda sweeps (facades, CPU scale)", args, ITERATIONS)
    for knob, (values, methods) in sweeps(exp).items():
        for method in methods:
            for value in values:
                name = run_name(method, knob, value)
                if any(run.name == name for run in exp.runs):  # okada at kappa = lambda = 10: in both sweeps
                    continue
                preset = "okada2019-ssl-facades" if method == "okada" else "zhu2017-cyclegan-facades"
                overrides = ["train.seed=0"] + (["pairs.rate=0.1"] if method == "okada" else [])
                overrides.append(f"okada.kappa={value}" if knob == "kappa" else f"cyclegan.lambda_cycle={value}")
                exp.add(Run(name, preset, overrides, label=f"{method}, {knob} = {value}", direction="AtoB"))
    return exp


def tabulate(exp: Experiment) -> str:
    text = ("One seed (0); photo -> label. Ours only: the paper (sec. 4.2, Figs. 6-11) shows its sweeps as plots, not in "
            "the text. kappa sweep at lambda = 10; lambda sweep at kappa = 10 for okada.\n")
    for knob, (values, methods) in sweeps(exp).items():
        header = [knob, "method"] + [f"photo->label {key}" for key, _ in METRICS]
        lines = ["", f"### {knob}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for method in methods:
            for value in values:
                metrics = exp.metrics.get(run_name(method, knob, value))
                cells = [str(value), method] + [tables.cell([tables.get(metrics, "photo_to_label", *path)], 1) for _, path in METRICS]
                lines.append("| " + " | ".join(cells) + " |")
        text += "\n".join(lines) + "\n"
    return text


def figures(exp: Experiment) -> list[dict]:
    if not any(exp.metrics.get(run.name) for run in exp.runs):
        return []  # no paper values to draw: no figure before the first run
    notes = []
    for knob, (values, methods) in sweeps(exp).items():
        panels = []
        for key, path in METRICS:
            series = [{"label": method, "x": values, "color": m,
                       "y": [tables.get(exp.metrics.get(run_name(method, knob, v)), "photo_to_label", *path) for v in values]}
                      for m, method in enumerate(methods)]
            panels.append(line_panel(series, f"{key} against {knob}", knob, key, values, [str(v) for v in values], categorical=True))
        save(hstack(panels), exp.out_dir / f"sweep_{knob}.png")
        notes.append({"file": f"sweep_{knob}.png", "caption": f"photo -> label scores against {knob} ({exp.split}, one seed; "
                                                             "x axis not to scale)"})
    return notes


def main(argv=None) -> int:
    return cli.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
