"""The experiments' records: JSON files written atomically, paths and commands as they are written in them, and
which recorded scores today's protocol accepts. Shared by the driver (common.py), its results page (results_page.py)
and the verdict (verdict.py); imports none of them."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path, PurePath

from semicycle.atomic import atomic_write_text
from semicycle.data.paths import expand_path

REPO = Path(__file__).resolve().parents[1]


def rel(path) -> str:
    """A path as written in commands and configs: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


PATH_KEYS = ("data.root", "data.subset", "pairs.list", "pairs.unpaired_b_root")  # config values that name a file or folder


def resolved_paths(config: dict) -> dict:
    """``config`` (nested) with its PATH_KEYS as absolute paths (a relative one is relative to the repository, as the
    driver writes them, ``rel``; ``$SEMICYCLE_DATA`` expanded)."""
    out = {section: dict(values) if isinstance(values, dict) else values for section, values in config.items()}
    for key in PATH_KEYS:
        section, name = key.split(".")
        if isinstance(out.get(section), dict) and out[section].get(name):
            out[section][name] = str((REPO / expand_path(out[section][name])).resolve())
    return out


def runs_relative(overrides: list[str], run_dir: str) -> list[str]:
    """``overrides`` with each path-valued one (PATH_KEYS) that lies in the runs folder of ``run_dir`` (as written:
    RUNS/EXPERIMENT/RUN) spelt relative to that folder, ``<runs>/...``: the same run asked for from another checkout
    or another ``--runs-dir`` names its lists and data folders by another path."""
    runs_root = PurePath(run_dir).parent.parent
    out = []
    for item in overrides:
        key, _, value = item.partition("=")
        if key in PATH_KEYS and PurePath(value).is_relative_to(runs_root):
            item = f"{key}=<runs>/{PurePath(value).relative_to(runs_root).as_posix()}"
        out.append(item)
    return out


def command_line(args) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def write_json(path: Path, value) -> None:
    """Atomic: a killed process or a second worker never leaves half a file."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def scored_by_todays_protocol(metrics: dict) -> bool:
    """False for label maps scored before eval.label_decoding (semicycle 0.1 also decoded to void colours and counted
    those pixels wrong) where that decoding sent some pixel to void: such a run is scored again. Where it sent none
    (``void_prediction_fraction`` 0: facades and maps have no void colour), every pixel's nearest colour was a class
    colour, which is today's decoding: the scores are the same."""
    scores = metrics.get("photo_to_label")
    return scores is None or "label_decoding" in scores or scores.get("void_prediction_fraction") == 0
