"""Figures drawn with Pillow only: loss curves from a JSONL log, image grids and the experiments' line panels.

All of them share one font, one tick rule, one number format and one palette.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from semicycle.atomic import atomic_write
from semicycle.errors import DataError

PANEL_SIZE = (400, 260)
GRID_COLUMNS = 3
TITLE_HEIGHT = 32

_NON_LOSS_KEYS = frozenset({"iter", "epoch", "step", "lr", "time", "elapsed", "eta"})
_PLOT_MARGINS = (64, 32, 16, 40)  # left, top, right, bottom: room for ticks, title, x label
_COLORS = [  # the tab10 colours, from index 0: blue, red, green, orange, purple, grey, brown, pink, olive, cyan
    (31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
    (127, 127, 127), (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207),
]
_TEXT = (40, 40, 40)
_AXIS = (120, 120, 120)
_GRID = (228, 228, 228)
_WHITE = (255, 255, 255)


@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at `size` pixels."""
    return ImageFont.load_default(size=size)


def save(image: Image.Image, path: str | os.PathLike) -> Path:
    """Write `image` as a PNG file atomically (two workers may rewrite the same figure); returns the path."""
    return atomic_write(path, lambda handle: image.save(handle, format="PNG"))


def ema(values, beta: float) -> list[float]:
    """Bias-corrected exponential moving average: the first output equals the first input."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"EMA beta must be in [0, 1), got {beta}")
    average, smoothed = 0.0, []
    for step, value in enumerate(values, start=1):
        average = beta * average + (1.0 - beta) * value
        smoothed.append(average / (1.0 - beta**step))
    return smoothed


def _is_number(value) -> bool:
    """True for a finite int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_loss_key(key: str) -> bool:
    """False for log keys that are counters, learning rates, times or throughputs."""
    name = key.lower()
    return not (
        name in _NON_LOSS_KEYS or name.startswith("lr_") or name.endswith("_lr")
        or "time" in name or name.endswith("_per_s") or name.startswith("s_per_") or name.endswith("_mb")
    )


def _default_keys(records) -> list[str]:
    """Numeric loss keys in first-seen order (skips iter, epoch, lr*, *time*, *_per_s ...)."""
    keys = {}
    for record in records:
        for key, value in record.items():
            if _is_number(value) and _is_loss_key(key):
                keys.setdefault(key, None)
    return list(keys)


def _series(records, key: str, beta: float) -> tuple[list[float], list[float], list[float]]:
    """(iterations, raw values, EMA) for `key`, sorted by iteration, non-finite values skipped."""
    points = sorted(
        (record["iter"], record[key]) for record in records
        if _is_number(record.get("iter")) and _is_number(record.get(key))
    )
    iterations = [float(it) for it, _ in points]
    values = [float(value) for _, value in points]
    return iterations, values, ema(values, beta)


def _nice_ticks(low: float, high: float, target: int = 5, integer: bool = False) -> list[float]:
    """About `target` round tick values inside [low, high], 1, 2, 2.5 or 5 times a power of ten apart
    (whole steps of at least 1 if `integer`); bounds within float noise of a tick count as on it."""
    rough = (high - low) / target
    magnitude = 10.0 ** math.floor(math.log10(rough))
    multipliers = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multipliers if m * magnitude >= rough)
    if integer:
        step = max(step, 1.0)
    first = math.ceil(low / step - 1e-9) * step
    count = int((high - first) / step + 1e-9) + 1
    return [0.0 if abs(first + i * step) < step * 1e-6 else first + i * step for i in range(count)]


def _padded_range(low: float, high: float, padding: float) -> tuple[float, float]:
    """[low, high] widened by `padding` times its length on each side; a point gets ±10% (or ±1 at 0)."""
    if high - low <= 1e-9 * max(abs(high), abs(low), 1e-12):  # single point or constant (EMA float noise)
        half = abs(low) * 0.1 or 1.0
        return low - half, high + half
    margin = (high - low) * padding
    return low - margin, high + margin


def _format_value(value: float) -> str:
    """A tick label: four significant digits, scientific notation below 1e-3 and from 1e5."""
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    return f"{value:.4g}"


def _format_iteration(value: float) -> str:
    """An iteration tick label: 2500 -> '2.5k'."""
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _shade(color, toward, amount: float) -> tuple[int, int, int]:
    """`color` moved the fraction `amount` of the way to the colour `toward`."""
    return tuple(round(c + (t - c) * amount) for c, t in zip(color, toward))


def _dashed_line(draw: ImageDraw.ImageDraw, points, fill, width: int, dash: float = 7, gap: float = 5) -> None:
    """A polyline through `points` drawn as dashes of `dash` pixels with `gap` pixels between them."""
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            end = min(pos + dash, length)
            draw.line((x0 + (x1 - x0) * pos / length, y0 + (y1 - y0) * pos / length,
                       x0 + (x1 - x0) * end / length, y0 + (y1 - y0) * end / length), fill=fill, width=width)
            pos = end + gap


def _draw_panel(draw: ImageDraw.ImageDraw, origin: tuple[int, int], key: str, series, color) -> None:
    """One loss-curve panel of `PANEL_SIZE` at `origin`: raw values thin and light, EMA thick and dark."""
    left, top = origin
    margin_left, margin_top, margin_right, margin_bottom = _PLOT_MARGINS
    x0, y0 = left + margin_left, top + margin_top
    x1, y1 = left + PANEL_SIZE[0] - margin_right, top + PANEL_SIZE[1] - margin_bottom
    raw_color, ema_color = _shade(color, _WHITE, 0.6), _shade(color, (0, 0, 0), 0.25)
    draw.text((x0, top + margin_top // 2), key, font=_font(15), fill=_TEXT, anchor="lm")

    iterations, values, smoothed = series
    if not iterations:
        draw.rectangle((x0, y0, x1, y1), outline=_AXIS)
        draw.text(((x0 + x1) // 2, (y0 + y1) // 2), "no data", font=_font(13), fill=_AXIS, anchor="mm")
        return

    x_low, x_high = _padded_range(iterations[0], iterations[-1], 0.0)
    y_low, y_high = _padded_range(min(values + smoothed), max(values + smoothed), 0.06)

    def to_pixel(x: float, y: float) -> tuple[float, float]:
        px = x0 + (x - x_low) / (x_high - x_low) * (x1 - x0)
        py = y1 - (y - y_low) / (y_high - y_low) * (y1 - y0)
        return px, py

    tick_font = _font(11)
    for tick in _nice_ticks(y_low, y_high):
        _, py = to_pixel(x_low, tick)
        draw.line((x0, py, x1, py), fill=_GRID)
        draw.text((x0 - 6, py), _format_value(tick), font=tick_font, fill=_TEXT, anchor="rm")
    for tick in _nice_ticks(x_low, x_high, integer=True):
        px, _ = to_pixel(tick, y_low)
        draw.line((px, y0, px, y1), fill=_GRID)
        draw.line((px, y1, px, y1 + 4), fill=_AXIS)
        draw.text((px, y1 + 6), _format_iteration(tick), font=tick_font, fill=_TEXT, anchor="mt")
    draw.text(((x0 + x1) // 2, y1 + 24), "iteration", font=tick_font, fill=_AXIS, anchor="mt")
    draw.rectangle((x0, y0, x1, y1), outline=_AXIS)

    for points, line_color, width in ((values, raw_color, 1), (smoothed, ema_color, 3)):
        pixels = [to_pixel(x, y) for x, y in zip(iterations, points)]
        if len(pixels) == 1:
            (px, py), radius = pixels[0], width + 1
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=line_color)
        else:
            draw.line(pixels, fill=line_color, width=width, joint="curve")

    legend_font = _font(12)
    legend_x = x1
    for label, line_color, width in (("EMA", ema_color, 3), ("raw", raw_color, 2)):
        legend_x -= draw.textlength(label, font=legend_font)
        draw.text((legend_x, top + margin_top // 2), label, font=legend_font, fill=_TEXT, anchor="lm")
        legend_x -= 24
        draw.line((legend_x, top + margin_top // 2, legend_x + 18, top + margin_top // 2), fill=line_color, width=width)
        legend_x -= 12


def plot_loss_curves(records, path: str | os.PathLike, keys=None, ema: float = 0.98, title: str | None = None) -> Path:
    """Draw one panel per loss key (raw thin and light, bias-corrected EMA thick and dark) and save a PNG.

    `records` are dicts with an integer "iter" and loss values, as read from a JSONL log;
    missing, non-numeric and non-finite values are skipped. Panels fill a grid of
    `GRID_COLUMNS` columns, each `PANEL_SIZE` pixels, below an optional title band.
    """
    keys = list(keys) if keys is not None else _default_keys(records)
    if not keys:
        raise DataError(f"{path}: the log records hold no numeric loss values to plot; train for a few iterations first")
    columns = min(GRID_COLUMNS, len(keys))
    rows = math.ceil(len(keys) / columns)
    title_height = TITLE_HEIGHT if title else 0
    canvas = Image.new("RGB", (columns * PANEL_SIZE[0], rows * PANEL_SIZE[1] + title_height), _WHITE)
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((canvas.width // 2, title_height // 2), title, font=_font(17), fill=_TEXT, anchor="mm")
    for index, key in enumerate(keys):
        row, column = divmod(index, columns)
        origin = (column * PANEL_SIZE[0], title_height + row * PANEL_SIZE[1])
        _draw_panel(draw, origin, key, _series(records, key, ema), _COLORS[index % len(_COLORS)])
    return save(canvas, path)


def _rgb_image(image) -> Image.Image:
    """`image` as an RGB PIL image: from a PIL image, a uint8 HxWx3 numpy array, or a uint8 (3, H, W)
    array-like that numpy can read, such as a CPU tensor."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if not isinstance(image, np.ndarray) and array.ndim == 3:
        array = array.transpose(1, 2, 0)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            "expected a PIL image, a uint8 HxWx3 array or a uint8 (3, H, W) tensor, "
            f"got {type(image).__name__} of shape {tuple(np.shape(image))} and dtype {array.dtype}"
        )
    return Image.fromarray(array)


def image_grid(rows, column_titles=None, row_titles=None, pad: int = 4, scale: int = 1) -> Image.Image:
    """Lay out rows of images (PIL images, uint8 HxWx3 arrays or uint8 (3,H,W) CPU tensors) on a white grid.

    Every cell has the size of the largest image (and is at least as wide as its column title);
    images are centred in their cells and upscaled by the integer `scale` with nearest neighbour.
    """
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one row with one image")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    images = [[_rgb_image(image) for image in row] for row in rows]
    if scale > 1:
        images = [[im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) for im in row] for row in images]

    font = _font(12)
    column_titles, row_titles = list(column_titles or []), list(row_titles or [])
    cell_width = max([im.width for row in images for im in row] + [math.ceil(font.getlength(t)) for t in column_titles])
    cell_height = max(im.height for row in images for im in row)
    column_count = max([len(row) for row in images] + [len(column_titles)])
    title_height = font.getbbox("Ag")[3] + pad if column_titles else 0
    label_width = max(math.ceil(font.getlength(t)) for t in row_titles) + pad if row_titles else 0

    width = label_width + column_count * cell_width + (column_count + 1) * pad
    height = title_height + len(images) * cell_height + (len(images) + 1) * pad
    grid = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(grid)
    cell_left = [label_width + pad + j * (cell_width + pad) for j in range(column_count)]
    cell_top = [title_height + pad + i * (cell_height + pad) for i in range(len(images))]
    for j, text in enumerate(column_titles):
        draw.text((cell_left[j] + cell_width // 2, pad), text, font=font, fill=_TEXT, anchor="mt")
    for i, text in enumerate(row_titles):
        draw.text((pad, cell_top[i] + cell_height // 2), text, font=font, fill=_TEXT, anchor="lm")
    for i, row in enumerate(images):
        for j, image in enumerate(row):
            grid.paste(image, (cell_left[j] + (cell_width - image.width) // 2, cell_top[i] + (cell_height - image.height) // 2))
    return grid


def line_panel(series: list[dict], title: str, x_label: str, y_label: str, x_values: list[float],
               x_names: list[str] | None = None, y_range: tuple[float, float] | None = None,
               size: tuple[int, int] = (420, 320), categorical: bool = False) -> Image.Image:
    """A line plot of a metric against `x_values` (rate, label fraction, pairs) with a legend below it.

    ``series``: dicts with ``label``, ``x`` and ``y`` (None = missing point), optional ``dashed``
    (paper values), ``color`` (palette index; default the series' position) and ``hline`` (a constant
    drawn across the panel instead of ``x`` and ``y``). ``y_range`` defaults to the values padded by
    10%, kept inside [0, 1] for values up to 1. ``categorical``: the x values are placed at equal
    distances; ``x_names`` label the x ticks (default: the values).
    """
    image = Image.new("RGB", size, _WHITE)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 58, 34, size[0] - 14, size[1] - 92
    draw.text(((left + right) // 2, 16), title, font=_font(15), fill=_TEXT, anchor="mm")
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
    for tick in _nice_ticks(y0, y1):
        draw.line((left, py(tick), right, py(tick)), fill=_GRID)
        draw.text((left - 6, py(tick)), _format_value(tick), font=small, fill=_TEXT, anchor="rm")
    for i, x in enumerate(x_values):
        draw.line((px(x), bottom, px(x), bottom + 4), fill=_AXIS)
        name = x_names[i] if x_names else f"{x:g}"
        draw.text((px(x), bottom + 6), name, font=small, fill=_TEXT, anchor="mt")
    draw.rectangle((left, top, right, bottom), outline=_AXIS)
    draw.text(((left + right) // 2, bottom + 24), x_label, font=small, fill=_AXIS, anchor="mt")
    draw.text((8, top - 14), y_label, font=small, fill=_AXIS, anchor="lm")

    legend_y = bottom + 44
    legend_x = left
    for index, s in enumerate(series):
        color = _COLORS[s.get("color", index) % len(_COLORS)]
        if s.get("hline") is not None:
            points = [(left, py(s["hline"])), (right, py(s["hline"]))]
        else:
            points = [(px(x), py(y)) for x, y in zip(s["x"], s["y"]) if y is not None]
        if len(points) > 1 and s.get("dashed"):
            _dashed_line(draw, points, fill=color, width=2)
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
            _dashed_line(draw, [(legend_x, legend_y), (legend_x + 22, legend_y)], fill=color, width=2, dash=5, gap=3)
        else:
            draw.line((legend_x, legend_y, legend_x + 22, legend_y), fill=color, width=2)
        draw.text((legend_x + 26, legend_y), label, font=small, fill=_TEXT, anchor="lm")
        legend_x += width
    return image


def hstack(panels: list[Image.Image]) -> Image.Image:
    """`panels` side by side, top-aligned, on a white image as tall as the tallest."""
    width = sum(p.width for p in panels)
    height = max(p.height for p in panels)
    out = Image.new("RGB", (width, height), _WHITE)
    x = 0
    for panel in panels:
        out.paste(panel, (x, 0))
        x += panel.width
    return out
