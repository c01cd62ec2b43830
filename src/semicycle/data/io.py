"""Robust image reading and atomic image writing.

Datasets call the readers up front when they preload, so a bad file fails fast with a
one-line `DataError` instead of crashing an epoch. Pixels are kept as stored: EXIF
orientation is *not* applied, because paired datasets are pixel-aligned.
"""

from __future__ import annotations

import io
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from semicycle.atomic import atomic_write
from semicycle.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)
_CONVERSION_NOTES = {
    "1": "1-bit converted to RGB",
    "L": "grayscale converted to RGB",
    "LA": "alpha channel dropped (LA)",
    "RGBA": "alpha channel dropped (RGBA)",
    "P": "palette image converted to RGB",
    "PA": "palette image converted to RGB",
    "CMYK": "CMYK converted to RGB",
}


def _natural_key(name: str) -> tuple:
    """Sort key that orders digit runs by value: 'img2' before 'img10'."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name


def list_images(folder: str | os.PathLike, hint: str = "") -> list[Path]:
    """Image files directly inside `folder` (hidden files skipped), in natural order."""
    folder = Path(folder)
    advice = hint or "check data.root"
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found; {advice}")
    images = [
        path for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    ]
    if not images:
        raise DataError(f"{folder}: no images (.jpg, .png, ...) found; {advice}")
    return sorted(images, key=lambda path: _natural_key(path.name))


def read_names(path: str | os.PathLike, fix: str) -> list[str]:
    """File names in a list file: one per line; '#' starts a comment, blank lines are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {fix}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the name list ({exc}); pass a UTF-8 text file with one file name per line") from None
    names = [line.split("#")[0].strip() for line in text.splitlines()]
    return [name for name in names if name]


@dataclass(frozen=True)
class NameList:
    """The files a list names (``data.subset``, ``pairs.list``): non-empty, each name once."""

    names: tuple[str, ...]
    source: str

    @classmethod
    def read(cls, path: str | os.PathLike, option: str) -> "NameList":
        names = read_names(path, f"write one with 'semicycle select-pairs' or fix {option}")
        if not names:
            raise DataError(f"{path}: lists no files; fix {option}")
        if len({Path(n).stem for n in names}) != len(names):
            raise DataError(f"{path}: lists a file twice; each may appear once")
        return cls(tuple(names), str(path))

    def keep(self, paths: list[Path], where: str) -> list[Path]:
        """The ``paths`` named here (by file name, or by stem when the extension differs), in their order."""
        wanted = {Path(n).name for n in self.names} | {Path(n).stem for n in self.names}
        kept = [p for p in paths if p.name in wanted or p.stem in wanted]
        found = {p.name for p in kept} | {p.stem for p in kept}
        missing = [n for n in self.names if Path(n).name not in found and Path(n).stem not in found]
        if missing:
            raise DataError(f"{self.source}: {len(missing)} name(s) not in {where} (first: {missing[0]}); list file names of that folder")
        return kept


def _decode_error(path, exc: Exception) -> DataError:
    if isinstance(exc, FileNotFoundError):
        return DataError(f"{path}: file not found; check the path or re-create the file list")
    if isinstance(exc, UnidentifiedImageError):
        reason = "not a recognised image format"
    else:
        reason = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    return DataError(f"{path}: cannot decode image ({reason}); re-download the file or remove it from the folder")


def _scale_high_depth(img: Image.Image) -> np.ndarray:
    """Map a 16-bit or 32-bit single-channel image to uint8 without clipping."""
    values = np.asarray(img).astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if img.mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = values * 255.0
    elif img.mode.startswith("I;16") or (low >= 0.0 and high <= 65535.0):
        scaled = values / 257.0
    else:  # 32-bit data outside the 16-bit range: stretch its own range
        scaled = (values - low) * (255.0 / max(high - low, 1e-12))
    return np.round(scaled).clip(0, 255).astype(np.uint8)


def to_rgb_array(img: Image.Image) -> tuple[np.ndarray, str | None]:
    """A decoded PIL image as an HxWx3 uint8 array plus a conversion note (None for plain 8-bit RGB): the one
    conversion every reader applies (training data, ``semicycle translate``, the server's uploads)."""
    if img.mode == "RGB":
        return np.array(img), None
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        gray = _scale_high_depth(img)
        note = "32-bit float scaled to 8-bit" if img.mode == "F" else "16-bit scaled to 8-bit"
        return np.repeat(gray[..., None], 3, axis=2), note
    note = _CONVERSION_NOTES.get(img.mode, f"{img.mode} converted to RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # Pillow warns when such palettes go straight to RGB
    return np.array(img.convert("RGB")), note


def load_rgb(path: str | os.PathLike) -> tuple[np.ndarray, str | None]:
    """Read an image as an HxWx3 uint8 array plus a conversion note (None for plain 8-bit RGB).

    Alpha is dropped (not composited onto a background); 16-bit values are scaled by 1/257.
    """
    try:
        with Image.open(path) as img:
            img.load()  # full decode, so truncated files fail here and not mid-epoch
            return to_rgb_array(img)
    except _DECODE_ERRORS as exc:  # ValueError also covers modes Pillow cannot convert, e.g. LAB
        raise _decode_error(path, exc) from exc


def load_index_png(path: str | os.PathLike) -> np.ndarray:
    """Read a label-index PNG (mode P or L) as an (H, W) int64 array of raw pixel values."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            indices = np.array(img, dtype=np.int64) if mode in ("P", "L") else None
    except _DECODE_ERRORS as exc:
        raise _decode_error(path, exc) from exc
    if indices is None:
        raise DataError(
            f"{path}: expected a palette or grayscale index PNG, got mode {mode}; "
            "save label maps as 8-bit indexed (P) or grayscale (L) PNGs"
        )
    return indices


def split_side_by_side(array: np.ndarray, path, a_side: str = "left") -> tuple[np.ndarray, np.ndarray]:
    """Split a pix2pix A|B image (width exactly twice the height) into (A, B)."""
    if a_side not in ("left", "right"):
        raise ValueError(f"a_side must be 'left' or 'right', got {a_side!r}")
    height, width = array.shape[:2]
    if width != 2 * height:
        raise DataError(
            f"{path}: {width}x{height} is not a side-by-side A|B image (width must be twice the height); "
            "use data.dataset=unaligned for separate folders"
        )
    left, right = array[:, :height], array[:, height:]
    return (left, right) if a_side == "left" else (right, left)


def to_uint8_image(image) -> np.ndarray:
    """HxWx3 uint8 array from a uint8 HxWx3 array, a PIL image or a (3,H,W) tensor (uint8 or float in [-1,1])."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a (3, H, W) tensor, got shape {tuple(image.shape)}")
        image = image.detach().cpu()
        if image.is_floating_point():
            image = ((image.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        elif image.dtype != torch.uint8:
            raise ValueError(f"expected a uint8 or float tensor, got {image.dtype}")
        return image.permute(1, 2, 0).contiguous().numpy()
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"expected a uint8 HxWx3 array, a PIL image or a (3, H, W) tensor, got {type(image).__name__}")


def encode_image(image, image_format: str = "PNG") -> bytes:
    """`image` (see `to_uint8_image`) as the bytes of a PNG or JPEG file, as `save_image` writes it."""
    buffer = io.BytesIO()
    options = {"quality": 95} if image_format == "JPEG" else {}
    Image.fromarray(to_uint8_image(image)).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def save_image(image, path: str | os.PathLike) -> Path:
    """Write `image` (see `to_uint8_image`) as PNG or JPEG by extension, atomically; returns the path."""
    path = Path(path)
    image_format = _SAVE_FORMATS.get(path.suffix.lower())
    if image_format is None:
        raise DataError(f"{path}: cannot save images as '{path.suffix}'; use a .png or .jpg file name")
    data = encode_image(image, image_format)
    return atomic_write(path, lambda handle: handle.write(data))


class ConversionLog:
    """Counts images loaded and the conversion notes they produced, for one summary warning."""

    def __init__(self) -> None:
        self.total = 0
        self.counts: Counter[str] = Counter()
        self.first_path: dict[str, str] = {}

    def add(self, path, note: str | None) -> None:
        """Record one loaded image; `note` is the second value returned by `load_rgb`."""
        self.total += 1
        if note is not None:
            self.counts[note] += 1
            self.first_path.setdefault(note, str(path))

    def summary(self) -> str | None:
        """One line such as '7 of 400 images were converted (...)', or None if none were."""
        converted = sum(self.counts.values())
        if not converted:
            return None
        details = "; ".join(f"{note}: {count}, first: {self.first_path[note]}" for note, count in self.counts.items())
        return f"{converted} of {self.total} images were converted ({details})"
