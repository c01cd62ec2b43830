"""Tests for semicycle.figures: loss-curve figures, EMA, image grids and the experiments' line panels."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from semicycle.figures import GRID_COLUMNS, PANEL_SIZE, _nice_ticks, ema, hstack, image_grid, line_panel, plot_loss_curves, save
from semicycle.errors import DataError


def make_records(count=200):
    rng = np.random.default_rng(0)
    records = []
    for i in range(count):
        records.append({
            "iter": i * 10, "epoch": i // 50, "lr": 2e-4, "img_per_s": 31.5,
            "G_GAN": float(1 + rng.normal(0, 0.1)),
            "D_A": float(0.25 + rng.normal(0, 0.05)),
            "cycle_A": float(2 * math.exp(-i / 50)),
            "idt_A": float("nan") if i % 5 == 0 else float(0.5 + rng.normal(0, 0.02)),
        })
    records[3]["note"] = "resumed"  # non-numeric values are ignored
    return records


def test_plot_loss_curves_grid_size_and_panels_drawn(tmp_path):
    path = plot_loss_curves(make_records(), tmp_path / "plots" / "loss.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    width, height = PANEL_SIZE
    assert GRID_COLUMNS == 3
    assert image.shape == (2 * height, 3 * width, 3)  # 4 loss keys -> 3 columns, 2 rows
    for index in range(4):
        row, column = divmod(index, 3)
        panel = image[row * height:(row + 1) * height, column * width:(column + 1) * width]
        assert (panel < 200).any(axis=2).sum() > 500, f"panel {index} looks empty"
    unused = image[height:, 2 * width:]
    assert (unused == 255).all()


def test_plot_loss_curves_single_record_and_title(tmp_path):
    path = plot_loss_curves([{"iter": 7, "G": 0.5}], tmp_path / "one.png", title="run")
    with Image.open(path) as image:
        assert image.size == (PANEL_SIZE[0], PANEL_SIZE[1] + 32)


def test_plot_loss_curves_constant_series_and_explicit_keys(tmp_path):
    records = [{"iter": i, "G": 0.0, "D": 1.0} for i in range(20)]
    path = plot_loss_curves(records, tmp_path / "const.png", keys=["D", "missing"])
    with Image.open(path) as image:
        assert image.size == (2 * PANEL_SIZE[0], PANEL_SIZE[1])


def test_plot_loss_curves_without_losses_raises(tmp_path):
    with pytest.raises(DataError, match="no numeric loss values"):
        plot_loss_curves([{"iter": 1, "lr": 0.1}], tmp_path / "empty.png")


def test_ema_of_constant_is_constant():
    assert ema([3.0] * 50, 0.98) == pytest.approx([3.0] * 50)


def test_ema_bias_correction():
    smoothed = ema([10.0, 0.0, 0.0], 0.5)
    assert smoothed[0] == 10.0
    # m1 = 5, m2 = 2.5 -> 2.5 / (1 - 0.25)
    assert smoothed[1] == pytest.approx(2.5 / 0.75)
    assert ema([1.0, 2.0], 0.0) == [1.0, 2.0]
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_image_grid_size_with_titles_and_scale():
    red = np.zeros((32, 32, 3), np.uint8)
    red[..., 0] = 255
    images = [red, torch.full((3, 32, 32), 128, dtype=torch.uint8), Image.new("RGB", (8, 8), (0, 0, 255))]
    pad, scale = 4, 2
    grid = image_grid([images, images], column_titles=["real A", "fake B", "rec A"], pad=pad, scale=scale)
    cell = 32 * scale  # wider than the titles, so titles do not widen the cells
    assert grid.width == 3 * cell + 4 * pad
    base_height = 2 * cell + 3 * pad
    assert base_height < grid.height < base_height + 40  # room for one line of titles
    title_height = grid.height - base_height
    pixels = np.asarray(grid)
    top, left = title_height + pad, pad
    assert (pixels[top:top + cell, left:left + cell] == [255, 0, 0]).all()  # upscaled first image
    middle = pixels[top:top + cell, left + cell + pad:left + 2 * cell + pad]
    assert (middle == [128, 128, 128]).all()  # (3, H, W) tensor read channels-first


def test_image_grid_row_titles_widen_grid():
    image = np.zeros((8, 8, 3), np.uint8)
    plain = image_grid([[image, image]])
    labelled = image_grid([[image, image]], row_titles=["A to B"])
    assert plain.size == (2 * 8 + 3 * 4, 8 + 2 * 4)
    assert labelled.width > plain.width and labelled.height == plain.height


def test_image_grid_cells_fit_long_titles():
    image = np.zeros((8, 8, 3), np.uint8)
    grid = image_grid([[image]], column_titles=["a rather long column title"])
    assert grid.width > 8 + 2 * 4


def test_image_grid_rejects_float_images():
    with pytest.raises(ValueError, match="uint8"):
        image_grid([[torch.zeros(3, 8, 8)]])


def test_nice_ticks_are_round_and_keep_bounds_on_a_tick():
    assert _nice_ticks(0.3, 0.7) == pytest.approx([0.3, 0.4, 0.5, 0.6, 0.7])
    assert _nice_ticks(-0.1, 1.1) == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert _nice_ticks(0, 2) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert _nice_ticks(0, 2, integer=True) == [0.0, 1.0, 2.0]  # whole steps


BLUE, RED = (31, 119, 180), (214, 39, 40)  # palette indices 0 and 1


def covered_columns(pixels, y, color):
    """Per column of the plot area: whether a pixel near row `y` has `color`."""
    band = pixels[int(y) - 2:int(y) + 3, 60:400]
    return (band == color).all(axis=2).any(axis=0)


def test_line_panel_size_solid_and_dashed_lines():
    size = (420, 320)
    series = [{"label": "ours", "hline": 0.25, "color": 0}, {"label": "paper", "hline": 0.75, "color": 1, "dashed": True}]
    panel = line_panel(series, "title", "x", "y", [0, 1, 2], y_range=(0.0, 1.0), size=size)
    assert panel.size == size
    pixels = np.asarray(panel)
    top, bottom = 34, size[1] - 92  # the plot area's rows

    def row(value):
        return bottom - (bottom - top) * value

    assert covered_columns(pixels, row(0.25), BLUE).all()
    dashed = covered_columns(pixels, row(0.75), RED).mean()
    assert 0.4 < dashed < 0.8, dashed  # 7 px dashes, 5 px gaps


def test_line_panel_points_with_missing_values_and_default_range():
    series = [{"label": "a", "x": [1, 2, 5], "y": [0.2, None, 0.6]},
              {"label": "b", "x": [1, 2, 5], "y": [0.3, 0.4, 0.5], "dashed": True}]
    for categorical in (False, True):
        pixels = np.asarray(line_panel(series, "t", "x", "y", [1, 2, 5], ["1", "2", "5"], categorical=categorical))
        assert (pixels == BLUE).all(axis=2).sum() > 50
        assert (pixels == RED).all(axis=2).sum() > 50


def test_hstack_widths_add_up_and_panels_keep_their_pixels():
    panels = [Image.new("RGB", (30, 20), (255, 0, 0)), Image.new("RGB", (50, 40), (0, 0, 255))]
    stacked = hstack(panels)
    assert stacked.size == (80, 40)
    pixels = np.asarray(stacked)
    assert (pixels[:20, :30] == [255, 0, 0]).all() and (pixels[20:, :30] == 255).all()
    assert (pixels[:, 30:] == [0, 0, 255]).all()


def test_save_writes_a_png_and_no_temporary_file(tmp_path):
    path = save(Image.new("RGB", (4, 3), (1, 2, 3)), tmp_path / "figs" / "out.png")
    assert path == tmp_path / "figs" / "out.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (4, 3) and image.getpixel((0, 0)) == (1, 2, 3)
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]
