"""Evaluation reports: one self-contained HTML file, and markdown tables comparing runs.

The HTML report opens in any browser straight from disk (no server, no JavaScript, no external
files): images are embedded as base64 PNG data URIs, the per-class IoU bars are plain HTML/CSS.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path

from PIL import Image

from semicycle.atomic import atomic_write_text
from semicycle.config import flatten
from semicycle.data.io import to_uint8_image
from semicycle.errors import DataError

SAMPLE_COLUMNS = ("input", "output", "ground truth")
MISSING = "—"
# How the HTML report shows metrics.json keys that are terse for a reader.
DISPLAY_NAMES = {"real_photos": "real photos (upper bound)"}
# metrics.json keys renamed since: {group: {old key: new key}}; load_metrics reads older files with the new keys.
RENAMED_KEYS = {"label_to_photo": {"real photos (upper bound)": "real_photos"}}

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; background: #fafafa; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0; background: #fff; }
th, td { border: 1px solid #ddd; padding: .3em .7em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
details { background: #fff; border: 1px solid #ddd; padding: .4em .8em; }
summary { cursor: pointer; font-weight: 600; }
pre { font-size: 13px; overflow-x: auto; }
.bars { display: grid; grid-template-columns: max-content 1fr max-content; gap: .25em .6em;
        align-items: center; background: #fff; border: 1px solid #ddd; padding: .6em; }
.bar { background: #eee; height: 1em; position: relative; min-width: 200px; }
.bar span { display: block; height: 100%; background: #3b7dd8; }
.absent { color: #999; font-style: italic; }
.samples img { image-rendering: pixelated; max-width: 256px; height: auto; display: block; }
.samples td { padding: .25em; } .note { color: #666; font-size: 13px; }
img.curves { max-width: 100%; border: 1px solid #ddd; background: #fff; }
"""


# --------------------------------------------------------------------------- helpers
def _esc(value) -> str:
    return html.escape(str(value), quote=True)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _format(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and not 1e-3 <= abs(value) < 1e5:
            return f"{value:.3e}"
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def _png_data_uri(image) -> str:
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: cannot read image for the report ({exc}); re-create it") from exc
    buffer = io.BytesIO()
    Image.fromarray(to_uint8_image(image)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _config_text(config: dict) -> str:
    try:
        import yaml

        return yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)
    except Exception:  # non-YAML-able values: fall back to JSON with str()
        return json.dumps(config, indent=2, default=str)


# --------------------------------------------------------------------------- sections
def _display_names(metrics: dict) -> dict:
    """``metrics`` with its keys, at every depth, as :data:`DISPLAY_NAMES` shows them."""
    return {
        DISPLAY_NAMES.get(k, k): _display_names(v) if isinstance(v, dict) else v for k, v in metrics.items()
    }


def _metrics_section(metrics: dict) -> str:
    """Scalars -> one two-column table; each dict of scalars -> rows of a grouped table."""
    metrics = _display_names(metrics)
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    groups = {k: v for k, v in metrics.items() if isinstance(v, dict)}
    parts = []
    if scalars:
        rows = "".join(
            f"<tr><th>{_esc(k)}</th><td class=\"{'num' if _is_number(v) else ''}\">{_esc(_format(v))}</td></tr>"
            for k, v in scalars.items()
        )
        parts.append(f'<table class="metrics"><tr><th>metric</th><th>value</th></tr>{rows}</table>')
    # Groups with the same kind of numbers (e.g. "generated" vs "real photos") share a table;
    # nested per-class dicts and long strings are left out of the table (they have own sections).
    if groups:
        flat_groups = {
            name: {k: v for k, v in flatten(values).items()
                   if not (isinstance(v, str) and len(v) > 60) and not k.startswith("per_class")}
            for name, values in groups.items()
        }  # fmt: skip
        columns: list[str] = []
        for values in flat_groups.values():
            for key in values:
                if key not in columns:
                    columns.append(key)
        header = "".join(f"<th>{_esc(c)}</th>" for c in columns)
        body = ""
        for name, values in flat_groups.items():
            cells = "".join(
                f"<td class=\"num\">{_esc(_format(values[c]))}</td>" if c in values
                else f"<td>{MISSING}</td>"
                for c in columns
            )  # fmt: skip
            body += f"<tr><th>{_esc(name)}</th>{cells}</tr>"
        parts.append(f'<table class="metrics"><tr><th></th>{header}</tr>{body}</table>')
        notes = [
            f"<li><b>{_esc(name)}.{_esc(k)}</b>: {_esc(v)}</li>"
            for name, values in groups.items()
            for k, v in flatten(values).items()
            if isinstance(v, str) and len(v) > 60
        ]
        if notes:
            parts.append(f'<ul class="note">{"".join(notes)}</ul>')
    return "".join(parts) or '<p class="absent">no metrics</p>'


def _iou_bars(per_class_iou: dict) -> str:
    rows = []
    for name, value in per_class_iou.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            rows.append(
                f'<div>{_esc(name)}</div><div class="absent">absent from the ground truth</div>'
                f'<div class="absent">n/a</div>'
            )
            continue
        width = max(0.0, min(1.0, float(value))) * 100
        rows.append(
            f'<div>{_esc(name)}</div><div class="bar" title="{_esc(_format(value))}">'
            f'<span style="width:{width:.1f}%"></span></div><div class="num">{_esc(_format(value))}</div>'
        )
    return f'<div class="bars">{"".join(rows)}</div>'


def _samples_table(sample_rows, column_titles) -> str:
    header = "".join(f"<th>{_esc(t)}</th>" for t in column_titles)
    body = ""
    for i, row in enumerate(sample_rows):
        cells = "".join(
            f'<td><img alt="{_esc(column_titles[j] if j < len(column_titles) else j)} {i}" '
            f'src="{_png_data_uri(image)}"></td>'
            for j, image in enumerate(row)
        )
        body += f"<tr><th>{i}</th>{cells}</tr>"
    return f'<table class="samples"><tr><th>#</th>{header}</tr>{body}</table>'


# --------------------------------------------------------------------------- public
def write_html_report(
    path: str | os.PathLike,
    *,
    title: str,
    config: dict,
    metrics: dict,
    per_class_iou: dict | None = None,
    sample_rows: list | None = None,
    loss_curves_png: str | os.PathLike | None = None,
    column_titles=SAMPLE_COLUMNS,
    notes: str | None = None,
) -> Path:
    """Write ONE self-contained HTML file and return its path (written atomically).

    * ``config``: shown collapsed (YAML).
    * ``metrics``: scalars in a metric/value table; values that are dicts (e.g. ``{"generated":
      {...}, "real_photos": {...}}``) become the rows of one grouped table; keys are shown by
      their :data:`DISPLAY_NAMES`.
    * ``per_class_iou``: ``{class name: IoU or None}`` drawn as horizontal bars (``None``/NaN:
      class absent from the ground truth).
    * ``sample_rows``: rows of images ``[input, output, ground truth]`` (uint8 HxWx3 arrays,
      PIL images, (3, H, W) tensors, or image file paths).
    * ``loss_curves_png``: a PNG file (e.g. RUN_DIR/loss_curves.png), embedded.
    """
    path = Path(path)
    column_titles = list(column_titles)
    sections = [f"<h1>{_esc(title)}</h1>"]
    if notes:
        sections.append(f'<p class="note">{_esc(notes)}</p>')
    sections.append(f"<h2>Metrics</h2>{_metrics_section(metrics)}")
    if per_class_iou:
        sections.append(f"<h2>Per-class IoU</h2>{_iou_bars(per_class_iou)}")
    if sample_rows:
        sections.append(f"<h2>Samples</h2>{_samples_table(sample_rows, column_titles)}")
    if loss_curves_png is not None:
        curves = Path(loss_curves_png)
        if not curves.is_file():
            raise DataError(f"{curves}: loss curve image not found; pass loss_curves_png=None or plot them first")
        sections.append(
            f'<h2>Loss curves</h2><img class="curves" alt="loss curves" src="{_png_data_uri(curves)}">'
        )
    sections.append(
        f"<h2>Configuration</h2><details><summary>resolved config</summary>"
        f"<pre>{_esc(_config_text(config))}</pre></details>"
    )
    document = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    return atomic_write_text(path, document)


def compare_table(metrics_by_run: dict, include_per_class: bool = False) -> str:
    """Markdown table with one column per run and one row per metric (union of the runs' keys).

    Nested dicts are flattened to dotted keys (``fcn_score.mean_iou``); per-class entries are
    left out unless ``include_per_class``; strings longer than 40 characters (protocols) are
    left out. A metric a run lacks is shown as "—"; ``None``/NaN as "n/a".
    """
    flat_runs = {}
    for run, metrics in metrics_by_run.items():
        flat = flatten(metrics)
        flat_runs[run] = {
            k: v for k, v in flat.items()
            if (include_per_class or "per_class" not in k)
            and not (isinstance(v, str) and len(v) > 40)
            and not isinstance(v, list)
        }  # fmt: skip
    keys: list[str] = []
    for flat in flat_runs.values():
        for key in flat:
            if key not in keys:
                keys.append(key)
    runs = list(flat_runs)

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| metric | " + " | ".join(cell(str(r)) for r in runs) + " |",
        "| --- | " + " | ".join("---:" for _ in runs) + " |",
    ]
    for key in keys:
        values = [
            cell(_format(flat_runs[r][key])) if key in flat_runs[r] else MISSING for r in runs
        ]
        lines.append(f"| {cell(key)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def load_metrics(path: str | os.PathLike) -> dict:
    """Read a run's metrics: ``RUN_DIR/metrics.json`` or the JSON file itself.

    Files written before a key was renamed (:data:`RENAMED_KEYS`) are read with the new keys.
    """
    path = Path(path)
    file = path / "metrics.json" if path.is_dir() else path
    if not file.is_file():
        raise DataError(f"{file}: no metrics.json; run 'semicycle evaluate {path}' first")
    try:
        metrics = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{file}: not valid JSON ({exc}); re-run the evaluation") from exc
    if not isinstance(metrics, dict):
        raise DataError(f"{file}: expected a JSON object of metrics; re-run the evaluation")
    for group, renames in RENAMED_KEYS.items():
        if isinstance(metrics.get(group), dict):
            metrics[group] = {renames.get(k, k): v for k, v in metrics[group].items()}
    return metrics


def compare_runs(paths) -> str:
    """Markdown table of the metrics.json of several runs (columns named by run folder)."""
    paths = [Path(p) for p in paths]
    names = [p.name if p.is_dir() else p.parent.name for p in paths]
    if len(set(names)) != len(names):  # same folder names in different places: full paths
        names = [str(p) for p in paths]
    return compare_table({name: load_metrics(p) for name, p in zip(names, paths)})
