"""In-memory training data: every image decoded and resized once, kept as uint8 tensors."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import DataError
from .io import ConversionLog
from .palettes import Palette


@dataclass
class TranslationData:
    """Images of domain A and domain B at load size (uint8), with class maps when B is a label map.

    ``paired`` means A[i] and B[i] show the same scene (pix2pix layout, CMP photo + label).
    """

    A: torch.Tensor  # (N_A, 3, S, S) uint8
    B: torch.Tensor  # (N_B, 3, S, S) uint8; label maps are rendered in their palette colours
    paths_A: list[str]
    paths_B: list[str]
    labels_B: torch.Tensor | None = None  # (N_B, S, S) uint8 class index, 255 = ignore
    palette: Palette | None = None
    paired: bool = False

    @property
    def size(self) -> int:
        return int(self.A.shape[-1])


def check_memory(count: int, size: int, limit_mb: int, where: str) -> None:
    """Refuse to preload more than ``limit_mb`` (two RGB images and one label map per item)."""
    need_mb = count * size * size * 7 / 2**20
    if need_mb > limit_mb:
        raise DataError(
            f"{where}: preloading {count} images at {size}px needs {need_mb:.0f} MB > "
            f"data.memory_limit_mb={limit_mb}; lower data.load_size, set data.max_images, or raise the limit"
        )


def load_all(paths: Sequence, load_one: Callable, desc: str, progress: bool = True) -> list:
    """Decode files in a few threads (Pillow releases the GIL), in order, with a progress bar.

    ``load_one(path) -> (item, note)``; conversion notes are summarised in one warning.
    """
    log = ConversionLog()
    results = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path, (item, note) in tqdm(
            zip(paths, pool.map(load_one, paths)), total=len(paths), desc=desc, disable=not progress, leave=False
        ):
            log.add(path, note)
            results.append(item)
    summary = log.summary()
    if summary:
        warnings.warn(f"{desc}: {summary}", stacklevel=2)
    return results


def stack_images(arrays: list[np.ndarray]) -> torch.Tensor:
    """List of HxWx3 uint8 -> (N, 3, H, W) uint8 tensor."""
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def stack_labels(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays).astype(np.uint8))
