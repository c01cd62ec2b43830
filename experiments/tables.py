"""Markdown tables for the results pages: our numbers (mean ± sd over seeds or draws) beside the paper's."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

PAPERS = Path(__file__).resolve().parent / "papers.json"  # the papers' reported numbers, with their citations


def paper_numbers(paper: str, table: str) -> dict:
    """One table of experiments/papers.json (its keys that are numbers, such as a count of pairs, as int)."""
    def keyed(value):
        if isinstance(value, dict):
            return {int(k) if k.isdigit() else k: keyed(v) for k, v in value.items() if k != "what"}
        return value

    return keyed(json.loads(PAPERS.read_text())[paper][table])


def fmt(value) -> str:
    return "—" if value is None else f"{value:.3f}"


def cell(values: list[float | None], total: int) -> str:
    """Mean (± standard deviation over seeds/draws) of the finished runs; says how many are missing."""
    got = [v for v in values if v is not None]
    if not got:
        return "not yet run"
    text = f"{statistics.mean(got):.3f}"
    if len(got) > 1:
        text += f" ± {statistics.stdev(got):.3f}"
    if len(got) < total:
        text += f" ({len(got)} of {total})"
    elif total > 1:
        text += f" (n={total})"
    return text


def paper(value) -> str:
    """A paper's number as printed there: at least 3 decimals, 4 when the paper gives 4."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    decimals = len(f"{value:.4f}".rstrip("0").split(".")[1])
    return f"{value:.{max(3, decimals)}f}"


def get(metrics: dict | None, *path):
    """metrics[path[0]][path[1]]... or None."""
    value = metrics
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def comparison_table(exp, columns: list[tuple[str, tuple]], rows: list[tuple[str, list[str], list]],
                     first_header: str = "method", source: str = "paper") -> str:
    """Markdown: one row per method, each metric as 'ours' beside 'paper'.

    columns: (header, path into metrics.json); rows: (label, run names averaged, paper values or None).
    """
    header = [first_header]
    for name, _ in columns:
        header += [f"{name} (ours)", f"{name} ({source})"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label, names, paper_values in rows:
        cells = [label]
        for i, (_, path) in enumerate(columns):
            values = [get(exp.metrics.get(n), *path) for n in names]
            cells.append(cell(values, len(names)) if names else "—")
            cells.append(paper(paper_values[i] if paper_values else None))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def values_of(exp, names: list[str], *path) -> float | None:
    got = [get(exp.metrics.get(n), *path) for n in names]
    got = [v for v in got if v is not None]
    return statistics.mean(got) if got else None
