"""Unpaired folders: ``<root>/<split>A`` and ``<root>/<split>B`` (the CycleGAN layout)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .domains import TranslationData, check_memory, load_all, stack_images, stack_labels
from .io import list_images, load_rgb
from .palettes import Palette, decode_label_image
from .transforms import resize_nearest, resize_photo


def load_unaligned(
    root: str | Path,
    split: str,
    load_size: int,
    palette: Palette | None = None,
    max_images: int = 0,
    memory_limit_mb: int = 8192,
    progress: bool = True,
) -> TranslationData:
    """Load ``<root>/<split>A`` (domain A) and ``<root>/<split>B`` (domain B) at ``load_size``."""
    root = Path(root)
    folders = [root / f"{split}A", root / f"{split}B"]
    hint = f"expected folders {split}A/ and {split}B/ in {root} (the CycleGAN layout)"
    paths_A, paths_B = (list_images(f, hint=hint) for f in folders)
    if max_images:
        paths_A, paths_B = paths_A[:max_images], paths_B[:max_images]
    check_memory(max(len(paths_A), len(paths_B)), load_size, memory_limit_mb, str(root))

    def load_photo(path):
        array, note = load_rgb(path)
        return resize_photo(array, load_size), note

    def load_label(path):
        array, note = load_rgb(path)
        index = decode_label_image(array, palette, path=str(path)).numpy().astype(np.uint8)
        return (resize_nearest(array, load_size), resize_nearest(index, load_size)), note

    images_A = load_all(paths_A, load_photo, desc=f"loading {split}A", progress=progress)
    if palette is None:
        images_B, labels_B = load_all(paths_B, load_photo, desc=f"loading {split}B", progress=progress), None
    else:
        items = load_all(paths_B, load_label, desc=f"loading {split}B", progress=progress)
        images_B, labels_B = [c for c, _ in items], stack_labels([i for _, i in items])
    if not images_A or not images_B:
        raise DataError(f"{root}: one of the domains is empty; both {split}A/ and {split}B/ need images")
    return TranslationData(
        A=stack_images(images_A),
        B=stack_images(images_B),
        paths_A=[str(p) for p in paths_A],
        paths_B=[str(p) for p in paths_B],
        labels_B=labels_B,
        palette=palette,
        paired=False,
    )
