"""Which images to label: selection strategies, :func:`select_pairs` and the writers.

Methods (``method=``):

``kmedoids``
    Shukla et al. 2019: ImageNet features (MobileNetV2 by default, ResNet-50 with ``extractor=resnet50``),
    k-means with k = budget, then the medoid of each cluster. Output order: largest cluster first.
``kmedoids-pixels``
    The same on network-free features (16x16 thumbnail + colour histogram): no pretrained weights needed.
``random``
    A seeded uniform sample without replacement (the paper's baseline).
``cycle-error``
    For a second labelling round with a trained semicycle model (``model=RUN_DIR``): the images whose cycle
    reconstruction ``G_BA(G_AB(x))`` is farthest from ``x`` (mean absolute error in [-1, 1] units), i.e.
    those the model understands least. Images already paired can be left out with ``exclude=pairs.txt``.

The pair list (one file name per line, as found in the data folder) is what ``pairs.list=`` reads.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_write_text
from ..data.io import NameList, list_images, load_rgb, read_names, save_image
from ..data.transforms import to_float
from ..figures import image_grid
from ..errors import ConfigError, DataError
from .features import SIDES, extract_features, file_hash, image_half
from .kmedoids import kmedoids

METHODS = ("kmedoids", "kmedoids-pixels", "random", "cycle-error")
SHEET_MAX_IMAGES = 256


@dataclass
class Selection:
    """The outcome of a selection.

    ``names``/``indices``: the chosen files (names as in the data folder) and their positions in
    ``candidates``, in priority order (kmedoids: largest cluster first; cycle-error: highest error first;
    random: draw order). Per candidate (same order as ``candidates``): ``clusters`` (the cluster number c,
    whose medoid is ``names[c]``) and ``distances`` (Euclidean feature distance to that medoid) for the
    k-medoids methods, ``scores`` (cycle error) for cycle-error; None where a method has no such value.
    """

    method: str
    budget: int
    seed: int
    data_dir: str
    names: list[str]
    indices: list[int]
    candidates: list[str]
    side: str = "auto"
    extractor: str | None = None
    clusters: list[int] | None = None
    distances: list[float] | None = None
    scores: list[float] | None = None
    cluster_sizes: list[int] | None = None
    excluded: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------- helpers
def read_name_list(path: str | os.PathLike) -> list[str]:
    """File names from a pairs list: one per line; '#' starts a comment, blank lines are skipped (as pairs.list)."""
    return [Path(name).name for name in read_names(path, "pass the pairs list written by an earlier select-pairs")]


def _exclusions(exclude) -> list[str]:
    if exclude is None or exclude == "":
        return []
    if isinstance(exclude, (str, os.PathLike)):
        return read_name_list(exclude)
    return [Path(str(name)).name for name in exclude]


def _check_budget(budget) -> int:
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ConfigError(f"budget={budget!r} is not valid; the budget is the number of images to label, an integer >= 1")
    return int(budget)


# --------------------------------------------------------------------------------------------- strategies
def select_random(n: int, budget: int, seed: int) -> list[int]:
    """``budget`` distinct positions out of ``n``, drawn uniformly with a seeded generator (draw order)."""
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=generator)[: min(budget, n)].tolist()


def cycle_errors(
    paths: Sequence[Path], translator, direction: str = "AtoB", side: str = "auto", size: int | None = None,
    batch_size: int = 8, progress: bool = True,
) -> np.ndarray:
    """Mean |G_back(G_forward(x)) - x| per image (images in [-1, 1], resized to ``size``, default the model's crop)."""
    from tqdm.auto import tqdm

    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"direction={direction!r} is not valid; use AtoB (photo -> label when A is the photo) or BtoA")
    back = "BtoA" if direction == "AtoB" else "AtoB"
    missing = [d for d in (direction, back) if d not in translator.generators]
    if missing:
        raise ConfigError(f"the model has no {missing[0]} generator, so there is no cycle to measure; use a CycleGAN-style run")
    if size is None:
        size = int((translator.config or {}).get("data", {}).get("crop_size", 256))
    scores = np.zeros(len(paths), dtype=np.float64)
    with tqdm(total=len(paths), desc="cycle error", unit="img", disable=not progress, dynamic_ncols=True) as bar:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            arrays = []
            for path in chunk:
                array = image_half(load_rgb(path)[0], path, side)
                if array.shape[:2] != (size, size):
                    array = np.asarray(Image.fromarray(array).resize((size, size), Image.BICUBIC))
                arrays.append(array)
            x = to_float(torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2))
            reconstructed = translator.translate_tensor(translator.translate_tensor(x, direction), back)
            scores[start : start + len(chunk)] = (reconstructed.float() - x).abs().mean((1, 2, 3)).double().numpy()
            bar.update(len(chunk))
    return scores


def select_pairs(
    data_dir: str | os.PathLike,
    budget: int,
    method: str = "kmedoids",
    seed: int = 0,
    out: str | os.PathLike | None = None,
    extractor: str = "mobilenet_v2",
    weights: str | os.PathLike | None = None,
    model=None,
    exclude: str | os.PathLike | Iterable[str] | None = None,
    among: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    side: str = "auto",
    direction: str = "AtoB",
    device: str = "auto",
    batch_size: int = 32,
) -> Selection:
    """Choose ``budget`` images of ``data_dir`` to label (see the module docstring for the methods).

    ``extractor``/``weights``: features for ``kmedoids`` (``mobilenet_v2`` from the weights package, or
    ``resnet50`` with ``weights=PATH``). ``model``: a run folder / checkpoint / :class:`semicycle.api.Translator`
    for ``cycle-error``. ``exclude``: a pairs list file (or names) to leave out; ``among``: a list file
    (e.g. a ``data.subset``) outside which nothing is chosen. ``side``: which part of a
    side-by-side A|B file is looked at (``auto`` = left half of A|B files, else the whole image).
    ``cache_dir``: feature cache (None = ``~/.cache/semicycle/features``, False = no cache).
    With ``out`` (the pairs .txt path), also writes the contact sheet (.png) and the details (.json) beside it.
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r} is not known; choose one of: {', '.join(METHODS)}")
    if side not in SIDES:
        raise ConfigError(f"side={side!r} is not valid; choose one of: {', '.join(SIDES)}")
    budget = _check_budget(budget)
    seed = int(seed)
    if method == "cycle-error" and model is None:
        raise ConfigError("method cycle-error needs model=RUN_DIR (--model), a trained semicycle run")
    if method != "cycle-error" and model is not None:
        raise ConfigError(f"model= is only used by method cycle-error, not {method}; drop it or use --method cycle-error")

    data_dir = Path(data_dir)
    paths = list_images(data_dir, hint="--data takes a folder of images, e.g. ../shared/data/facades/train")
    if among:
        paths = NameList.read(among, "--among").keep(paths, str(data_dir))
    excluded = set(_exclusions(exclude))
    notes: list[str] = []
    unknown = sorted(excluded - {p.name for p in paths})
    if unknown:
        notes.append(f"{len(unknown)} excluded name(s) are not in {data_dir} (e.g. {unknown[0]})")
    paths = [p for p in paths if p.name not in excluded]
    if not paths:
        raise DataError(f"{data_dir}: every image is excluded; nothing left to select (check --exclude)")
    names = [p.name for p in paths]
    n = len(paths)
    if budget >= n:
        notes.append(f"budget {budget} >= the {n} candidate images")

    selection = Selection(
        method=method, budget=budget, seed=seed, data_dir=str(data_dir), names=[], indices=[], candidates=names,
        side=side, excluded=sorted(excluded - set(unknown)), notes=notes,
    )
    if method == "random":
        chosen = select_random(n, budget, seed)
    elif method == "cycle-error":
        translator = model
        if not hasattr(translator, "translate_tensor"):
            from ..api import load

            translator = load(model, device=device)
        scores = cycle_errors(paths, translator, direction=direction, side=side, progress=progress, batch_size=batch_size)
        order = sorted(range(n), key=lambda i: (-scores[i], i))
        chosen, seen = [], set()
        for i in order:  # highest error first, each picture (file content) once
            digest = file_hash(paths[i])
            if digest not in seen:
                seen.add(digest)
                chosen.append(i)
            if len(chosen) == budget:
                break
        selection.scores = [float(s) for s in scores]
        selection.extractor = f"cycle-error {direction}"
    else:
        extractor_name = "pixels" if method == "kmedoids-pixels" else extractor
        hashes = [file_hash(p) for p in paths]
        features = extract_features(
            paths, extractor_name, weights=weights, side=side, cache_dir=cache_dir, batch_size=batch_size,
            device=device, progress=progress, hashes=hashes,
        )
        result = kmedoids(features, budget, seed=seed)
        chosen = result.medoids.tolist()
        duplicates = n - len(set(hashes))
        if duplicates:
            notes.append(f"{duplicates} file(s) duplicate another file's content; each picture is chosen at most once")
        if len(chosen) < budget:
            notes.append(f"only {result.distinct} distinct images: selected {len(chosen)} < budget {budget}")
        selection.extractor = extractor_name
        selection.clusters = result.labels.tolist()
        selection.distances = [float(d) for d in result.distances]
        selection.cluster_sizes = result.sizes.tolist()

    selection.indices = [int(i) for i in chosen]
    selection.names = [names[i] for i in selection.indices]
    if out is not None:
        write_selection(selection, out)
    return selection


# --------------------------------------------------------------------------------------------- writers
def output_paths(out: str | os.PathLike) -> dict[str, Path]:
    """``pairs.txt`` -> {"pairs": pairs.txt, "sheet": pairs.png, "json": pairs.json}."""
    out = Path(out)
    if out.suffix.lower() in (".png", ".json", ".jpg"):
        raise ConfigError(f"{out}: --out names the pairs list (e.g. pairs.txt); the .png and .json are written beside it")
    if out.is_dir():
        raise ConfigError(f"{out}: is a folder; --out names the pairs list file, e.g. {out / 'pairs.txt'}")
    return {"pairs": out, "sheet": out.with_suffix(".png"), "json": out.with_suffix(".json")}


def _caption(selection: Selection, rank: int) -> list[str]:
    index = selection.indices[rank]
    lines = [f"{rank + 1}. {selection.names[rank]}"]
    if selection.cluster_sizes is not None:
        lines.append(f"cluster of {selection.cluster_sizes[rank]}")
    elif selection.scores is not None:
        lines.append(f"cycle error {selection.scores[index]:.3f}")
    return lines


def contact_sheet(selection: Selection, thumb: int = 128, columns: int = 8) -> Image.Image:
    """The chosen images (the part that selection looked at), captioned, largest cluster / highest score first."""
    font = ImageFont.load_default(size=11)
    line_height = font.getbbox("Ag")[3] + 2
    shown = min(len(selection.names), SHEET_MAX_IMAGES)
    tiles = []
    for rank in range(shown):
        path = Path(selection.data_dir) / selection.names[rank]
        array = image_half(load_rgb(path)[0], path, selection.side)
        image = Image.fromarray(array)
        image.thumbnail((thumb, thumb), Image.BICUBIC)
        lines = _caption(selection, rank)
        tile = Image.new("RGB", (thumb, thumb + line_height * len(lines) + 2), (255, 255, 255))
        tile.paste(image, ((thumb - image.width) // 2, (thumb - image.height) // 2))
        draw = ImageDraw.Draw(tile)
        for i, text in enumerate(lines):
            while len(text) > 4 and draw.textlength(text, font=font) > thumb:
                text = text[:-2] + "…"
            draw.text((thumb // 2, thumb + 2 + i * line_height), text, font=font, fill=(40, 40, 40), anchor="mt")
        tiles.append(tile)
    columns = max(1, min(columns, len(tiles)))
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    grid = image_grid(rows)
    title = f"{selection.method}: {len(selection.names)} of {len(selection.candidates)} images in {selection.data_dir}"
    if shown < len(selection.names):
        title += f" (first {shown} shown)"
    title_font = ImageFont.load_default(size=13)
    band = title_font.getbbox("Ag")[3] + 10
    width = max(grid.width, math.ceil(title_font.getlength(title)) + 10)
    sheet = Image.new("RGB", (width, grid.height + band), (255, 255, 255))
    ImageDraw.Draw(sheet).text((6, band // 2), title, font=title_font, fill=(40, 40, 40), anchor="lm")
    sheet.paste(grid, (0, band))
    return sheet


def _values(selection: Selection, index: int) -> dict:
    values = {}
    if selection.clusters is not None:
        values["cluster"] = selection.clusters[index]
    if selection.scores is not None:
        values["cycle_error"] = selection.scores[index]
    return values


def selection_json(selection: Selection) -> dict:
    """The JSON written beside the pairs list: settings, the chosen images and every candidate's values."""
    chosen = set(selection.indices)
    images = []
    for i, name in enumerate(selection.candidates):
        entry = {"name": name, "selected": i in chosen, **_values(selection, i)}
        if selection.distances is not None:
            entry["distance_to_medoid"] = selection.distances[i]
        images.append(entry)
    selected = []
    for rank, (index, name) in enumerate(zip(selection.indices, selection.names)):
        entry = {"rank": rank + 1, "name": name, **_values(selection, index)}
        if selection.cluster_sizes is not None:
            entry["cluster_size"] = selection.cluster_sizes[rank]
        selected.append(entry)
    return {
        "method": selection.method, "budget": selection.budget, "seed": selection.seed,
        "data_dir": selection.data_dir, "side": selection.side, "extractor": selection.extractor,
        "candidates": len(selection.candidates), "excluded": selection.excluded, "notes": selection.notes,
        "selected": selected, "images": images,
    }


def write_selection(selection: Selection, out: str | os.PathLike) -> dict[str, Path]:
    """Write the pairs list (``out``), the contact sheet (``.png``) and the details (``.json``); atomic each."""
    paths = output_paths(out)
    atomic_write_text(paths["pairs"], "".join(f"{name}\n" for name in selection.names))
    save_image(contact_sheet(selection), paths["sheet"])
    selection.outputs = {key: str(path) for key, path in paths.items()}
    atomic_write_text(paths["json"], json.dumps(selection_json(selection), indent=1) + "\n")
    return paths
