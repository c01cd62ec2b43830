"""Embedded synthetic paired dataset: procedural label maps and matching textured "photos".

A scene is sky (background) over a ground band (stripe) on which 1-3 buildings stand, each
with a grid of windows, plus 1-2 round trees (disk) in front. Layouts are drawn in
normalised coordinates from ``np.random.default_rng((seed, index))``, so one index gives the
same scene at every size and the data set needs no download.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from semicycle.atomic import atomic_write_text
from semicycle.data.palettes import get_palette
from semicycle.errors import DataError

PALETTE = get_palette("synthetic")
SYNTHETIC_CLASSES = PALETTE.class_names
BACKGROUND, BUILDING, WINDOW, DISK, STRIPE = range(len(SYNTHETIC_CLASSES))

# Validation scenes use indices from here on, so they never repeat a training scene.
VAL_INDEX_OFFSET = 1_000_000

_MARKER = "synthetic.json"

# Photo colours, chosen far from the label palette so swapped halves are detectable.
_SKY_TOP, _SKY_BOTTOM = np.array([95, 150, 215]), np.array([200, 215, 230])
_WALL_COLORS = np.array([[175, 130, 95], [150, 150, 145], [190, 170, 130], [140, 95, 75]])
_GLASS = np.array([45, 60, 80])
_LEAVES = np.array([55, 115, 45])
_ASPHALT = np.array([85, 85, 90])
_ROAD_MARK = np.array([225, 225, 205])


def _draw_layout(rng: np.random.Generator) -> dict:
    """Random scene geometry in normalised [0, 1] image coordinates."""
    ground_top = rng.uniform(0.55, 0.8)
    ground_height = rng.uniform(0.1, 0.18)
    buildings = []
    for _ in range(rng.integers(1, 4)):
        width, height = rng.uniform(0.22, 0.42), rng.uniform(0.28, 0.5)
        left = rng.uniform(0.0, 1.0 - width)
        buildings.append(
            {
                "box": (left, ground_top - height, left + width, ground_top),
                "wall": _WALL_COLORS[rng.integers(len(_WALL_COLORS))],
                "window_pitch": rng.uniform(0.09, 0.13),
            }
        )
    disks = [
        {"center": (rng.uniform(0.1, 0.9), rng.uniform(0.25, 0.85)), "radius": rng.uniform(0.06, 0.11)}
        for _ in range(rng.integers(1, 3))
    ]
    return {"ground": (ground_top, ground_top + ground_height), "buildings": buildings, "disks": disks}


def _window_mask(box: tuple[float, ...], pitch: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether points (x, y) of a building lie in one of its windows: a grid of squares."""
    left, top, right, bottom = box
    cols = max(1, int((right - left) / pitch))
    rows = max(1, int((bottom - top - 0.05) / pitch))
    margin_x = (right - left - cols * pitch) / 2
    u = (x - left - margin_x) / pitch  # window-cell coordinates
    v = (y - top - 0.04) / pitch
    inside = (u >= 0) & (u < cols) & (v >= 0) & (v < rows)
    return inside & (np.abs(u % 1 - 0.5) < 0.25) & (np.abs(v % 1 - 0.5) < 0.25)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int = 12) -> np.ndarray:
    """Unit-variance-ish noise bilinearly interpolated from a (cells+1)^2 grid, (size, size)."""
    grid = rng.normal(0.0, 1.0, (cells + 1, cells + 1))
    t = (np.arange(size) + 0.5) / size * cells
    i, f = t.astype(int), t % 1
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f) + rows[:, i + 1] * f


def make_pair(index: int, size: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return scene ``index`` as (photo uint8 (size, size, 3), label int64 (size, size))."""
    rng = np.random.default_rng((seed, index))
    layout = _draw_layout(rng)
    blotches = _smooth_noise(rng, size)
    noise = rng.normal(0.0, 1.0, (size, size, 3))
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size

    label = np.full((size, size), BACKGROUND, dtype=np.int64)
    photo = _SKY_TOP + (_SKY_BOTTOM - _SKY_TOP) * y[..., None] + 3 * noise

    # Each class paints its texture on its own pixels only: m is the mask, xm/ym/nm the
    # coordinates and noise there.
    ground_top, ground_bottom = layout["ground"]
    m = (y >= ground_top) & (y < ground_bottom)
    xm, ym = x[m], y[m]
    dashes = (np.abs(ym - (ground_top + ground_bottom) / 2) < 0.012) & ((xm * 6) % 1 < 0.5)
    label[m] = STRIPE
    photo[m] = np.where(dashes[:, None], _ROAD_MARK, _ASPHALT) + 10 * noise[m]

    for building in layout["buildings"]:
        left, top, right, bottom = building["box"]
        m = (x >= left) & (x < right) & (y >= top) & (y < bottom)
        xm, ym, nm = x[m], y[m], noise[m]
        mortar = (ym * 24) % 1 < 0.2  # brick courses
        shading = 1.15 - 0.3 * (xm - left) / (right - left)
        wall = building["wall"] * shading[:, None] - 30 * mortar[:, None] + 8 * nm
        glass = _GLASS + 40 * (((xm + ym) * 5) % 1)[:, None] + 4 * nm  # diagonal reflections
        window = _window_mask(building["box"], building["window_pitch"], xm, ym)
        label[m] = np.where(window, WINDOW, BUILDING)
        photo[m] = np.where(window[:, None], glass, wall)

    for disk in layout["disks"]:
        (cx, cy), radius = disk["center"], disk["radius"]
        m = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        # a sphere lit from the upper left
        dx, dy = x[m] - cx + 0.4 * radius, y[m] - cy + 0.4 * radius
        light = 1.3 - (dx**2 + dy**2) / (2 * radius**2)
        label[m] = DISK
        photo[m] = _LEAVES * light[:, None] + 18 * blotches[m][:, None] + 6 * noise[m]

    return np.clip(photo, 0, 255).round().astype(np.uint8), label


def write_aligned_dataset(
    root: str | Path, n_train: int = 200, n_val: int = 50, size: int = 64, seed: int = 0
) -> Path:
    """Write pix2pix-style ``root/{train,val}/{i}.png`` (i from 1), left photo | right label.

    Labels are rendered with the "synthetic" palette in lossless PNG. Returns ``root``; does
    nothing when ``root`` already holds this exact data set.
    """
    root = Path(root)
    settings = {"n_train": n_train, "n_val": n_val, "size": size, "seed": seed}
    marker = root / _MARKER
    if marker.is_file():
        existing = json.loads(marker.read_text())
        if existing == settings:
            return root
        raise DataError(
            f"{marker}: {root} holds a synthetic data set made with {existing}, not {settings}; "
            f"delete {root} or choose another folder"
        )
    occupied = [root / split for split in ("train", "val") if (root / split).is_dir() and any((root / split).iterdir())]
    if occupied:  # never write the synthetic images among a real data set's
        raise DataError(f"{occupied[0]}: holds files but no synthetic data set ({_MARKER}); data.dataset=synthetic "
                        "writes its images to an empty or new data.root (set data.dataset to read this folder)")
    for split, count, first_index in (("train", n_train, 0), ("val", n_val, VAL_INDEX_OFFSET)):
        folder = root / split
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            photo, label = make_pair(first_index + i, size=size, seed=seed)
            side_by_side = np.concatenate([photo, PALETTE.color_array[label]], axis=1)
            Image.fromarray(side_by_side).save(folder / f"{i + 1}.png")
    atomic_write_text(marker, json.dumps(settings))
    return root
