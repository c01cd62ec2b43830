"""Unpaired folders: ``<root>/<split>A`` and ``<root>/<split>B`` (the CycleGAN layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .domains import TranslationData, check_memory, load_all, stack_images, stack_labels
from .io import NameList, list_images, load_rgb
from .palettes import Palette, decode_label_image
from .transforms import resize_nearest, resize_photo


def load_folder(
    folder: str | Path, load_size: int, palette: Palette | None = None, max_images: int = 0, progress: bool = True, hint: str = ""
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """All images of one folder at ``load_size``: see :func:`load_images`."""
    return load_images(list_images(folder, hint=hint), load_size, palette, max_images, progress)


def load_images(
    paths: list[Path], load_size: int, palette: Palette | None = None, max_images: int = 0, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """Images at ``load_size``: (images uint8, class maps or None, paths).

    With a palette the images are label maps: resized nearest, decoded to classes."""
    if max_images:
        paths = paths[:max_images]

    def load_photo(path):
        array, note = load_rgb(path)
        return resize_photo(array, load_size), note

    def load_label(path):
        array, note = load_rgb(path)
        index = decode_label_image(array, palette, path=str(path)).numpy().astype(np.uint8)
        return (resize_nearest(array, load_size), resize_nearest(index, load_size)), note

    desc = f"loading {Path(paths[0]).parent.name}" if paths else "loading"
    if palette is None:
        return stack_images(load_all(paths, load_photo, desc=desc, progress=progress)), None, [str(p) for p in paths]
    items = load_all(paths, load_label, desc=desc, progress=progress)
    return stack_images([c for c, _ in items]), stack_labels([i for _, i in items]), [str(p) for p in paths]


def load_unaligned(
    root: str | Path,
    split: str,
    load_size: int,
    palette: Palette | None = None,
    only: NameList | None = None,
    max_images: int = 0,
    memory_limit_mb: int = 8192,
    progress: bool = True,
) -> TranslationData:
    """Load ``<root>/<split>A`` (domain A) and ``<root>/<split>B`` (domain B) at ``load_size``.

    With ``only``, each folder keeps the images named there; every name must be in one of the two."""
    root = Path(root)
    hint = f"expected folders {split}A/ and {split}B/ in {root} (the CycleGAN layout)"
    paths = {side: list_images(root / f"{split}{side}", hint=hint) for side in "AB"}
    if only:
        listed = set(only.keep(paths["A"] + paths["B"], f"{root / split}A or {root / split}B"))
        paths = {side: [p for p in found if p in listed] for side, found in paths.items()}
        empty = [side for side in "AB" if not paths[side]]
        if empty:
            raise DataError(f"{only.source}: names no image of {root / split}{empty[0]}; list images of both domains")
    count = max(len(p) for p in paths.values())
    check_memory(min(count, max_images or count), load_size, memory_limit_mb, str(root))
    images_A, _, paths_A = load_images(paths["A"], load_size, None, max_images, progress)
    images_B, labels_B, paths_B = load_images(paths["B"], load_size, palette, max_images, progress)
    return TranslationData(A=images_A, B=images_B, paths_A=paths_A, paths_B=paths_B, labels_B=labels_B, palette=palette, paired=False)
