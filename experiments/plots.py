"""A tiny Pillow line plot for the experiments' figures (metric against rate / label fraction / pairs)."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from semicycle.atomic import atomic_write

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (127, 127, 127)]
TEXT, AXIS, GRID, WHITE = (40, 40, 40), (120, 120, 120), (228, 228, 228), (255, 255, 255)


def _font(size: int):
    return ImageFont.load_default(size=size)


def _ticks(low: float, high: float, target: int = 5) -> list[float]:
    rough = (high - low) / target
    magnitude = 10.0 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= rough)
    first = math.ceil(low / step - 1e-9) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _dashed(draw, points, fill, width, dash=7, gap=5):
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            end = min(pos + dash, length)
            draw.line((x0 + (x1 - x0) * pos / length, y0 + (y1 - y0) * pos / length,
                       x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length), fill=fill, width=width)
            pos = end + gap


def line_panel(series: list[dict], title: str, x_label: str, y_label: str, x_values: list[float],
               x_names: list[str] | None = None, y_range: tuple[float, float] | None = None,
               size: tuple[int, int] = (420, 320), categorical: bool = False) -> Image.Image:
    """One panel. ``series``: dicts with ``label``, ``x`` and ``y`` (None = missing point), optional
    ``dashed`` (paper values), ``color`` (index) and ``hline`` (a constant drawn across the panel).
    ``categorical``: the x values are placed at equal distances and labelled with ``x_names``."""
    image = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 58, 34, size[0] - 14, size[1] - 92
    draw.text(((left + right) // 2, 16), title, font=_font(15), fill=TEXT, anchor="mm")
    values = [y for s in series for y in (s.get("y") or []) if y is not None] + [s["hline"] for s in series if s.get("hline") is not None]
    if y_range is None:
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        pad = (high - low) * 0.1 or 0.05
        y_range = (max(0.0, low - pad), min(1.0, high + pad) if high <= 1 else high + pad)
    y0, y1 = y_range
    positions = {x: i for i, x in enumerate(x_values)}

    def px(x):
        if categorical:
            return left + 20 + (right - left - 40) * positions[x] / max(1, len(x_values) - 1)
        lo, hi = min(x_values), max(x_values)
        return left + 20 + (right - left - 40) * (x - lo) / ((hi - lo) or 1)

    def py(y):
        return bottom - (bottom - top) * (y - y0) / ((y1 - y0) or 1)

    small = _font(11)
    for tick in _ticks(y0, y1):
        draw.line((left, py(tick), right, py(tick)), fill=GRID)
        draw.text((left - 6, py(tick)), f"{round(tick, 6):g}", font=small, fill=TEXT, anchor="rm")
    for i, x in enumerate(x_values):
        draw.line((px(x), bottom, px(x), bottom + 4), fill=AXIS)
        name = x_names[i] if x_names else f"{x:g}"
        draw.text((px(x), bottom + 6), name, font=small, fill=TEXT, anchor="mt")
    draw.rectangle((left, top, right, bottom), outline=AXIS)
    draw.text(((left + right) // 2, bottom + 24), x_label, font=small, fill=AXIS, anchor="mt")
    draw.text((8, top - 14), y_label, font=small, fill=AXIS, anchor="lm")

    legend_y = bottom + 44
    legend_x = left
    for index, s in enumerate(series):
        color = COLORS[s.get("color", index) % len(COLORS)]
        if s.get("hline") is not None:
            points = [(left, py(s["hline"])), (right, py(s["hline"]))]
        else:
            points = [(px(x), py(y)) for x, y in zip(s["x"], s["y"]) if y is not None]
        if len(points) > 1 and s.get("dashed"):
            _dashed(draw, points, fill=color, width=2)
        elif len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points if s.get("hline") is None else []:
            r = 3
            if s.get("dashed"):
                draw.rectangle((x - r, y - r, x + r, y + r), outline=color, width=2)
            else:
                draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        label = s["label"]
        width = draw.textlength(label, font=small) + 34
        if legend_x + width > size[0] - 6:
            legend_x, legend_y = left, legend_y + 16
        if s.get("dashed"):
            _dashed(draw, [(legend_x, legend_y), (legend_x + 22, legend_y)], fill=color, width=2, dash=5, gap=3)
        else:
            draw.line((legend_x, legend_y, legend_x + 22, legend_y), fill=color, width=2)
        draw.text((legend_x + 26, legend_y), label, font=small, fill=TEXT, anchor="lm")
        legend_x += width
    return image


def hstack(panels: list[Image.Image]) -> Image.Image:
    width = sum(p.width for p in panels)
    height = max(p.height for p in panels)
    out = Image.new("RGB", (width, height), WHITE)
    x = 0
    for panel in panels:
        out.paste(panel, (x, 0))
        x += panel.width
    return out


def save(image: Image.Image, path: Path) -> Path:
    """Save as PNG atomically (two workers may rewrite the same figure)."""
    return atomic_write(path, lambda handle: image.save(handle, format="PNG"))
