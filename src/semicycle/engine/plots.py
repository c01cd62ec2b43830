"""Figures drawn with Pillow only: loss curves from a JSONL log and image grids."""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from semicycle.data.io import save_image, to_uint8_image
from semicycle.errors import DataError

PANEL_SIZE = (400, 260)
GRID_COLUMNS = 3
TITLE_HEIGHT = 32

_NON_LOSS_KEYS = frozenset({"iter", "epoch", "step", "lr", "time", "elapsed", "eta"})
_PLOT_MARGINS = (64, 32, 16, 40)  # left, top, right, bottom: room for ticks, title, x label
_COLORS = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]
_TEXT = (40, 40, 40)
_AXIS = (120, 120, 120)
_GRID = (228, 228, 228)
_WHITE = (255, 255, 255)


@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


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
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_loss_key(key: str) -> bool:
    name = key.lower()
    return not (
        name in _NON_LOSS_KEYS or name.startswith("lr_") or name.endswith("_lr")
        or "time" in name or name.endswith("_per_s")
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


def _nice_ticks(low: float, high: float, target: int, integer: bool = False) -> list[float]:
    """Round tick values (1, 2, 2.5 or 5 times a power of ten apart) inside [low, high]."""
    rough = (high - low) / target
    magnitude = 10.0 ** math.floor(math.log10(rough))
    multipliers = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multipliers if m * magnitude >= rough)
    if integer:
        step = max(step, 1.0)
    first = math.ceil(low / step) * step
    count = int((high - first) / step + 1e-9) + 1
    return [0.0 if abs(first + i * step) < step * 1e-6 else first + i * step for i in range(count)]


def _padded_range(low: float, high: float, padding: float) -> tuple[float, float]:
    if high - low <= 1e-9 * max(abs(high), abs(low), 1e-12):  # single point or constant (EMA float noise)
        half = abs(low) * 0.1 or 1.0
        return low - half, high + half
    margin = (high - low) * padding
    return low - margin, high + margin


def _format_value(value: float) -> str:
    if value != 0 and not 1e-3 <= abs(value) < 1e5:
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    return f"{value:.4g}"


def _format_iteration(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def _shade(color, toward, amount: float) -> tuple[int, int, int]:
    return tuple(round(c + (t - c) * amount) for c, t in zip(color, toward))


def _draw_panel(draw: ImageDraw.ImageDraw, origin: tuple[int, int], key: str, series, color) -> None:
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
    for tick in _nice_ticks(y_low, y_high, 5):
        _, py = to_pixel(x_low, tick)
        draw.line((x0, py, x1, py), fill=_GRID)
        draw.text((x0 - 6, py), _format_value(tick), font=tick_font, fill=_TEXT, anchor="rm")
    for tick in _nice_ticks(x_low, x_high, 5, integer=True):
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
    return save_image(canvas, path)


def image_grid(rows, column_titles=None, row_titles=None, pad: int = 4, scale: int = 1) -> Image.Image:
    """Lay out rows of images (uint8 HxWx3 arrays, PIL images or (3,H,W) tensors) on a white grid.

    Every cell has the size of the largest image (and is at least as wide as its column title);
    images are centred in their cells and upscaled by the integer `scale` with nearest neighbour.
    """
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one row with one image")
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    images = [[Image.fromarray(to_uint8_image(image)) for image in row] for row in rows]
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
