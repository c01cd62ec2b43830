"""pix2pix side-by-side datasets: each file holds A | B (which half is A is an option)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .domains import TranslationData, check_memory, load_all, stack_images, stack_labels
from .io import NameList, list_images, load_rgb, split_side_by_side
from .palettes import Palette, decode_label_image
from .transforms import resize_nearest, resize_photo


def load_aligned(
    folder: str | Path,
    load_size: int,
    a_side: str = "left",
    palette: Palette | None = None,
    only: NameList | None = None,
    max_images: int = 0,
    memory_limit_mb: int = 8192,
    progress: bool = True,
) -> TranslationData:
    """Load every A|B image of ``folder`` (e.g. facades/train), or those named in ``only``, at ``load_size``."""
    paths = list_images(folder, hint="expected pix2pix-style A|B images (e.g. data.root=../shared/data/facades)")
    if only:
        paths = only.keep(paths, str(folder))
    if max_images:
        paths = paths[:max_images]
    check_memory(len(paths), load_size, memory_limit_mb, str(folder))

    def load_one(path):
        array, note = load_rgb(path)
        photo, other = split_side_by_side(array, path, a_side)
        photo = resize_photo(photo, load_size)
        if palette is None:
            return (photo, resize_photo(other, load_size), None), note
        index = decode_label_image(other, palette, path=str(path)).numpy().astype(np.uint8)
        return (photo, resize_nearest(other, load_size), resize_nearest(index, load_size)), note

    items = load_all(paths, load_one, desc=f"loading {Path(folder).name}", progress=progress)
    return TranslationData(
        A=stack_images([a for a, _, _ in items]),
        B=stack_images([b for _, b, _ in items]),
        paths_A=[str(p) for p in paths],
        paths_B=[str(p) for p in paths],
        labels_B=stack_labels([lab for _, _, lab in items]) if palette is not None else None,
        palette=palette,
        paired=True,
    )
