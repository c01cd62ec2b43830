"""The command line every experiment script shares: ``python -m experiments.<script> [--split val] [--quick] ...``
parses, builds the script's Experiment (common.py), then trains, evaluates and writes its results."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from experiments.common import Experiment
from experiments.records import REPO


def parser(description: str, name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="val", help="split of the same dataset layout to evaluate on (default val)")
    p.add_argument("--quick", action="store_true", help="minutes-long smoke version (32 px, ngf 8, 8 images); separate folders")
    p.add_argument("--out", help=f"results folder (default experiments/results/{name}, quick: experiments/results-quick/{name})")
    p.add_argument("--runs-dir", help="root of the run folders (default runs/experiments, quick: runs/experiments-quick)")
    p.add_argument("--only", help="comma-separated run names: train/evaluate only these (the tables still list every run)")
    p.add_argument("--tabulate-only", action="store_true", help="train nothing: evaluate finished runs, write tables and figures")
    p.add_argument("--no-docs", action="store_true", help="do not update this experiment's block on its docs page (docs_page.PAGES)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra config override for every run (e.g. a fast-path switch); changes the runs' configs")
    return p


def main(description: str, name: str, build, tabulate, figures=None, argv=None, add_arguments=None) -> int:
    """The command line every experiment script shares: parse (``add_arguments(parser)`` adds the script's own
    options), ``build(args)`` the Experiment, then train, evaluate and write its results."""
    return build_experiment(description, name, build, argv, add_arguments).execute(tabulate, figures)


def build_experiment(description: str, name: str, build, argv=None, add_arguments=None) -> Experiment:
    """The Experiment a script's command line asks for, before anything runs."""
    p = parser(description, name)
    if add_arguments:
        add_arguments(p)
    return build(parse(p, argv))


def parse(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, make the paths absolute and work from the repository root ($SEMICYCLE_DATA's default is relative to it)."""
    args = p.parse_args(argv)
    args.out, args.runs_dir = (str(Path(path).resolve()) if path else None for path in (args.out, args.runs_dir))
    os.chdir(REPO)
    return args
