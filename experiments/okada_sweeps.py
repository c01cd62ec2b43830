"""Okada et al. 2019, sec. 4.2 (Figs. 6-11) at CPU scale: the supervised weight kappa and the cycle weight lambda.

    OMP_WAIT_POLICY=PASSIVE python experiments/okada_sweeps.py [--split val] [--quick]

Runs (facades, seed 0, okada with 10% pairs as in experiments/okada_table1.py):
  okada_kappa{K}_seed0     kappa = 1, 5, 20, 50 with lambda = 10 (kappa = 10 is okada_table1's okada_seed0)
  cyclegan_lambda{L}_seed0 CycleGAN with lambda = 1, 5, 20 (lambda = 10 is okada_table1's cyclegan_seed0)
  okada_lambda{L}_seed0    okada (kappa = 10) with lambda = 1, 5, 20 (lambda = 10 is okada_seed0)
kappa is ``okada.kappa``, lambda ``cyclegan.lambda_cycle`` (CycleGAN's identity weight stays 0.5 x lambda, as in the
presets). The runs of lambda = kappa = 10 and the label -> photo scorer are okada_table1's (same folders under
runs/experiments/okada_table1/): whichever script comes first trains them, the other reuses them.

CPU-scale configuration and metrics: those of okada_table1.py (64 px, resnet_6blocks, ngf = ndf = 32, batch 1,
ITERATIONS iterations; photo -> label by nearest palette colour, label -> photo FCN-score with the facades scorer).
The paper (Okada, Nakano, Miyauchi, ICONIP 2019, sec. 4.2, Figs. 6-11; CMP facades, 256 px) shows these sweeps as
plots only: its FCN-score rises with kappa; CycleGAN's swings with lambda (mode collapse at small lambda, swapped
labels at large), okada's barely moves. There are no paper numbers to put beside ours.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from semicycle.figures import hstack, line_panel, save  # noqa: E402

import common  # noqa: E402
import okada_table1  # noqa: E402
import tables  # noqa: E402
from common import Experiment, Run, rel  # noqa: E402

NAME = "okada_sweeps"
ITERATIONS = okada_table1.ITERATIONS
KAPPAS, LAMBDAS, QUICK_KNOBS = [1, 5, 10, 20, 50], [1, 5, 10, 20], [1, 10]
METRICS = okada_table1.METRICS
DIRECTIONS = ((("photo_to_label",), "photo -> label"), (("label_to_photo", "generated"), "label -> photo"))


def run_name(method: str, knob: str, value: int) -> str:
    """okada_table1's run names where the sweep meets its configuration (kappa = lambda = 10)."""
    return f"{method}_seed0" if value == 10 else f"{method}_{knob}{value}_seed0"


def sweeps(exp: Experiment) -> dict[str, tuple[list[int], list[str]]]:
    """knob -> (its values, the methods swept over it)."""
    kappas, lambdas = (QUICK_KNOBS, QUICK_KNOBS) if exp.quick else (KAPPAS, LAMBDAS)
    return {"kappa": (kappas, ["okada"]), "lambda": (lambdas, ["cyclegan", "okada"])}


def build(args) -> Experiment:
    exp = Experiment(NAME, "Okada et al. 2019, sec. 4.2: kappa and lambda sweeps (facades, CPU scale)", args, ITERATIONS)
    scorer = exp.add(okada_table1.scorer_run(exp))
    scorer_eval = [f"eval.scorer={rel(scorer.run_dir)}"]
    for knob, (values, methods) in sweeps(exp).items():
        for method in methods:
            for value in values:
                name = run_name(method, knob, value)
                if any(run.name == name for run in exp.runs):  # okada at kappa = lambda = 10: in both sweeps
                    continue
                preset = "okada2019-ssl-facades" if method == "okada" else "zhu2017-cyclegan-facades"
                overrides = ["train.seed=0"] + (["pairs.rate=0.1"] if method == "okada" else [])
                overrides.append(f"okada.kappa={value}" if knob == "kappa" else f"cyclegan.lambda_cycle={value}")
                shared = exp.runs_root / okada_table1.NAME / name if value == 10 else None
                exp.add(Run(name, preset, overrides, label=f"{method}, {knob} = {value}", eval_overrides=scorer_eval,
                            needs=["scorer"], run_dir=shared))
    return exp


def tabulate(exp: Experiment) -> str:
    text = ("One seed (0). Ours only: the paper (sec. 4.2, Figs. 6-11) shows its sweeps as plots, not in the text. "
            "kappa sweep at lambda = 10; lambda sweep at kappa = 10 for okada.\n")
    for knob, (values, methods) in sweeps(exp).items():
        header = [knob, "method"] + [f"{label} {key}" for _, label in DIRECTIONS for key, _ in METRICS]
        lines = ["", f"### {knob}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        for method in methods:
            for value in values:
                metrics = exp.metrics.get(run_name(method, knob, value))
                cells = [str(value), method] + [tables.cell([tables.get(metrics, *prefix, *path)], 1)
                                                for prefix, _ in DIRECTIONS for _, path in METRICS]
                lines.append("| " + " | ".join(cells) + " |")
        text += "\n".join(lines) + "\n"
    return text


def figures(exp: Experiment) -> list[dict]:
    if not any(exp.metrics.get(run.name) for run in exp.runs if run.name != "scorer"):
        return []  # no paper values to draw: no figure before the first run
    notes = []
    for knob, (values, methods) in sweeps(exp).items():
        panels = []
        for key, path in METRICS:
            series = [{"label": f"{method}, {label}", "x": values, "color": 2 * m + d, "dashed": d == 1,
                       "y": [tables.get(exp.metrics.get(run_name(method, knob, v)), *prefix, *path) for v in values]}
                      for m, method in enumerate(methods) for d, (prefix, label) in enumerate(DIRECTIONS)]
            panels.append(line_panel(series, f"{key} against {knob}", knob, key, values, [str(v) for v in values], categorical=True))
        save(hstack(panels), exp.out_dir / f"sweep_{knob}.png")
        notes.append({"file": f"sweep_{knob}.png", "caption": f"the three metrics against {knob} ({exp.split}, one seed; solid: "
                                                             "photo -> label, dashed: label -> photo FCN-score; x axis not to scale)"})
    return notes


def main(argv=None) -> int:
    return common.main(__doc__.replace("ITERATIONS", str(ITERATIONS)), NAME, build, tabulate, figures, argv)


if __name__ == "__main__":
    sys.exit(main())
