"""CMP Facade Database (base set): ``base/cmp_bNNNN.jpg`` photos + ``cmp_bNNNN.png`` index labels.

The base set has no official split; semicycle holds out every fifth facade (sorted by name) as
``val`` and trains on the rest, so the split is the same on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .domains import TranslationData, check_memory, load_all, stack_images, stack_labels
from .io import NameList, list_images, load_index_png, load_rgb
from .palettes import Palette, get_palette
from .transforms import resize_nearest, resize_photo

VAL_EVERY = 5


def cmp_split(photos: list[Path], split: str) -> list[Path]:
    if split not in ("train", "val", "all"):
        raise DataError(f"CMP facades have splits train, val and all; got '{split}' (set data.train_split/val_split)")
    if split == "all":
        return photos
    keep_val = split == "val"
    return [p for i, p in enumerate(photos) if (i % VAL_EVERY == VAL_EVERY - 1) == keep_val]


def load_cmp(
    root: str | Path,
    split: str,
    load_size: int,
    only: NameList | None = None,
    max_images: int = 0,
    memory_limit_mb: int = 8192,
    progress: bool = True,
) -> TranslationData:
    """Photos (A) and exact label maps (B, 12 classes, CMP index 1..12 -> 0..11) at ``load_size``.

    ``only`` keeps the photos it names (cmp_bNNNN.jpg, or the stem)."""
    base = Path(root) / "base"
    if not base.is_dir() and Path(root).name == "base":
        base = Path(root)
    photos = [p for p in list_images(base, hint="expected the CMP 'base' folder (cmp_bNNNN.jpg + .png)") if p.suffix.lower() == ".jpg"]
    photos = cmp_split(photos, split)
    if only:
        photos = only.keep(photos, f"the {split} photos of {base}")
    if max_images:
        photos = photos[:max_images]
    if not photos:
        raise DataError(f"{base}: no cmp_b*.jpg photos found; point data.root at cmp_facade_base")
    check_memory(len(photos), load_size, memory_limit_mb, str(base))
    palette: Palette = get_palette("cmp")

    def load_one(photo_path):
        label_path = photo_path.with_suffix(".png")
        if not label_path.is_file():
            raise DataError(f"{photo_path}: missing its label map {label_path.name}; add it or remove the photo")
        photo, note = load_rgb(photo_path)
        raw = load_index_png(label_path)
        if raw.shape != photo.shape[:2]:
            raise DataError(
                f"{label_path}: label size {raw.shape[1]}x{raw.shape[0]} differs from its photo "
                f"{photo.shape[1]}x{photo.shape[0]}; re-export the pair"
            )
        if raw.max() > palette.num_classes:
            raise DataError(f"{label_path}: label value {raw.max()} is outside 1..{palette.num_classes}")
        index = np.where(raw == 0, palette.ignore_index, raw - 1).astype(np.uint8)
        index = resize_nearest(index, load_size)
        return (resize_photo(photo, load_size), index), note

    items = load_all(photos, load_one, desc=f"loading cmp {split}", progress=progress)
    labels = stack_labels([lab for _, lab in items])
    return TranslationData(
        A=stack_images([p for p, _ in items]),
        B=palette.to_color(labels.long()),
        paths_A=[str(p) for p in photos],
        paths_B=[str(p.with_suffix(".png")) for p in photos],
        labels_B=labels,
        palette=palette,
        paired=True,
    )
