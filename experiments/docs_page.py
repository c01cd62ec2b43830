"""The documentation pages' generated blocks: each experiment owns the text between its two markers on its page and
rewrites only that (docs/reproductions/<paper>.md; the verdict's blocks are on docs/results.md and the README)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from experiments.locks import exclusive_lock
from experiments.records import REPO, read_json
from semicycle.atomic import atomic_write_text
REPRODUCTIONS = REPO / "docs" / "reproductions"
PAGES = {  # block name -> the page that holds it
    "okada_table1": REPRODUCTIONS / "okada.md",
    "okada_rate_sweep": REPRODUCTIONS / "okada.md",
    "okada_rate_sweep_cityscapes": REPRODUCTIONS / "okada.md",
    "okada_sweeps": REPRODUCTIONS / "okada.md",
    "time_to_quality": REPRODUCTIONS / "time_to_quality.md",
    "mondal_table1": REPRODUCTIONS / "mondal.md",
    "shukla_tables": REPRODUCTIONS / "shukla.md",
    "shukla_supplement": REPRODUCTIONS / "shukla.md",
    "shukla_maps": REPRODUCTIONS / "shukla.md",
    "pretrained_encoder": REPRODUCTIONS / "encoders.md",
    "unpaired_payoff": REPRODUCTIONS / "unpaired_payoff.md",
    "cut_comparison": REPRODUCTIONS / "cut.md",
    "cut_comparison_facades": REPRODUCTIONS / "cut.md",
    "label_to_photo_fid": REPRODUCTIONS / "unpaired_payoff.md",
    "verdict": REPO / "docs" / "results.md",
    "what_to_use": REPO / "docs" / "results.md",
    "readme_verdict": REPO / "README.md",
    "serve_load": REPO / "docs" / "serving.md",
    "cut_speed": REPO / "docs" / "performance.md",
    "precision_variants": REPO / "docs" / "performance.md",
    "precision_parity": REPO / "docs" / "performance.md",
}


PRINTED_NUMBERS = REPO / "experiments" / "results" / "printed_numbers.json"  # block name -> the numbers it prints
DECIMAL = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?![\w.])")


def printed_numbers(text: str) -> list[float]:
    """The decimal numbers a block prints (means, sds, differences, paper values), sorted: stored beside the results
    so that every number on a page is a committed value."""
    return sorted({float(token) for token in DECIMAL.findall(text)})


def markers(name: str, script: str | None = None) -> tuple[str, str]:
    """The block of experiment ``name``, written by ``experiments/<script>.py`` (default: ``name``; a script may run
    several experiments, e.g. okada_rate_sweep's ``okada_rate_sweep_cityscapes``)."""
    return f"<!-- BEGIN {name} (written by experiments/{script or name}.py) -->", f"<!-- END {name} -->"


def read_block(name: str, script: str | None = None, path: Path | None = None) -> str | None:
    """The text between the block's markers on its page (None if the page or a marker is missing)."""
    path = path or PAGES[name]
    begin, end = markers(name, script)
    text = path.read_text() if path.is_file() else ""
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def update_docs_section(name: str, content: str, path: Path | None = None, script: str | None = None) -> bool:
    """Replace the text between the block's markers on its page (default ``PAGES[name]``). The read-modify-write holds
    an exclusive lock (two workers finishing runs at once each keep the other's block) and the write is atomic (a
    reader or a kill never sees a truncated page)."""
    path = path or PAGES[name]
    if not path.is_file():
        return False
    begin, end = markers(name, script)
    with exclusive_lock(path.with_name(f".{path.name}.lock")):
        text = path.read_text()
        if begin not in text or end not in text:
            return False
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        atomic_write_text(path, f"{head}{begin}\n{content.strip()}\n{end}{tail}")
    with exclusive_lock(PRINTED_NUMBERS.with_name(f".{PRINTED_NUMBERS.name}.lock")):
        stored = read_json(PRINTED_NUMBERS, {})
        stored[name] = printed_numbers(content)
        atomic_write_text(PRINTED_NUMBERS, json.dumps(dict(sorted(stored.items())), indent=1) + "\n")
    return True
