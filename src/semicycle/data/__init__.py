"""Datasets, palettes and transforms. :func:`load_data` turns a DataConfig into in-memory data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .paths import expand_path

if TYPE_CHECKING:
    from ..config import DataConfig, PairsConfig
from .domains import TranslationData
from .io import NameList
from .palettes import get_palette
from .pairing import TrainingSets, training_sets
from .unaligned import load_folder


def load_data(cfg: DataConfig, split: str, run_dir: str | Path = ".", progress: bool = True) -> TranslationData:
    """Load one split (``cfg.train_split`` or ``cfg.val_split``) as configured.

    ``cfg.subset`` (a file of names) keeps only the listed training images (before ``max_images``)."""
    palette = get_palette(cfg.palette) if cfg.palette else None
    root = Path(expand_path(cfg.root)) if cfg.root else None
    only = NameList.read(expand_path(cfg.subset), "data.subset") if cfg.subset and split == cfg.train_split else None
    common = dict(only=only, max_images=cfg.max_images, memory_limit_mb=cfg.memory_limit_mb, progress=progress)
    if cfg.dataset == "synthetic":
        from .aligned import load_aligned
        from .synthetic import write_aligned_dataset

        root = root or Path(run_dir) / "synthetic_data"
        if not (root / "synthetic.json").is_file():  # an existing synthetic set is used as it is
            write_aligned_dataset(root, size=cfg.crop_size)
        return load_aligned(root / split, cfg.load_size, "left", palette or get_palette("synthetic"), **common)
    if cfg.dataset == "aligned":
        from .aligned import load_aligned

        return load_aligned(root / split, cfg.load_size, cfg.a_side, palette, **common)
    if cfg.dataset == "unaligned":
        from .unaligned import load_unaligned

        return load_unaligned(root, split, cfg.load_size, palette, **common)
    from .cmp import load_cmp

    return load_cmp(root, split, cfg.load_size, **common)


def load_training_sets(data: DataConfig, pairs: PairsConfig, seed: int, run_dir: str | Path = ".", progress: bool = True) -> TrainingSets:
    """The training split with its pairs chosen and its unpaired streams (domain B from
    ``pairs.unpaired_b_root`` when set): what every method trains on."""
    loaded = load_data(data, data.train_split, run_dir, progress=progress)
    other_B = None
    if pairs.unpaired_b_root:
        images, labels, paths = load_folder(
            expand_path(pairs.unpaired_b_root), data.load_size, loaded.palette, data.max_images, progress,
            hint="pairs.unpaired_b_root takes a folder of domain-B images",
        )
        other_B = TranslationData(A=images[:0], B=images, paths_A=[], paths_B=paths, labels_B=labels, palette=loaded.palette)
    return training_sets(loaded, pairs, seed, other_B)


__all__ = ["TranslationData", "load_data", "load_training_sets"]
