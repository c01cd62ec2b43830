"""docs/results.md: each experiment owns the text between its two markers and rewrites only that."""

from __future__ import annotations

from pathlib import Path

from locks import exclusive_lock
from semicycle.atomic import atomic_write_text

DOCS_RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def markers(name: str, script: str | None = None) -> tuple[str, str]:
    """The block of experiment ``name``, written by ``experiments/<script>.py`` (default: ``name``; a script may run
    several experiments, e.g. okada_rate_sweep's ``okada_rate_sweep_cityscapes``)."""
    return f"<!-- BEGIN {name} (written by experiments/{script or name}.py) -->", f"<!-- END {name} -->"


def update_docs_section(name: str, content: str, path: Path = DOCS_RESULTS, script: str | None = None) -> bool:
    """Replace the text between the experiment's markers. The read-modify-write holds an exclusive lock
    (two workers finishing runs at once each keep the other's block) and the write is atomic (a reader
    or a kill never sees a truncated page)."""
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
    return True
