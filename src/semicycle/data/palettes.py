"""Colour palettes that turn colour-coded label images into class indices and back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from semicycle.errors import ConfigError, DataError

Color = tuple[int, int, int]

# Pixels per chunk in the nearest-colour search; bounds the (pixels x colours) distance
# matrix to about 8 MB for the 29 colours of the cityscapes palette.
_CHUNK_PIXELS = 1 << 16

# decode_label_image calls a pixel "far" when no pixel of its 5x5 neighbourhood is within
# DEFAULT_FAR of a palette colour: region interiors carry only JPEG noise, and blended edges
# and thin structures (JPEG chroma subsampling smears 1-3 px pillars into new colours) lie
# within 2 px of a clean interior. Measured on the 256x256 halves as stored, train + val,
# fraction of far pixels per image (far = 25):
#   facades    labels:  median 1.5%, max 21.8%  | photos decoded as labels: min 99.7%
#   cityscapes labels:  median 0.3%, max  1.9%  | photos decoded as labels: min 10.5%,
#                                                 median 34.3% (greys and browns of street
#                                                 photos lie near cityscapes colours)
# hence Palette.max_far_fraction 0.5 for facades and 0.05 for cityscapes: each at least 2x
# from the worst real label and from the most label-like photo.
DEFAULT_FAR = 25.0


@dataclass(frozen=True)
class Palette:
    """Class colours of a label rendering; ignore colours decode to ``ignore_index``."""

    name: str
    class_names: tuple[str, ...]
    colors: tuple[Color, ...]
    ignore_colors: tuple[Color, ...] = ()
    ignore_index: int = 255
    citation: str = ""
    max_far_fraction: float = 0.05  # default limit of decode_label_image's check

    def __post_init__(self) -> None:
        if len(self.class_names) != len(self.colors):
            raise ConfigError(
                f"palette {self.name!r}: {len(self.class_names)} class names but "
                f"{len(self.colors)} colours; give one colour per class"
            )
        if 0 <= self.ignore_index < len(self.colors):
            raise ConfigError(
                f"palette {self.name!r}: ignore_index {self.ignore_index} is a class index; "
                f"use a value outside 0..{len(self.colors) - 1} (e.g. 255)"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def color_array(self) -> np.ndarray:
        """Class colours as a (K, 3) uint8 array."""
        return np.array(self.colors, dtype=np.uint8).reshape(-1, 3)

    def _candidates(self, with_ignore: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Candidate colours (M, 3) float32 of the nearest search and the index each decodes to (M,)."""
        colors = self.colors + (self.ignore_colors if with_ignore else ())
        labels = list(range(self.num_classes)) + [self.ignore_index] * (len(colors) - self.num_classes)
        return torch.tensor(colors, dtype=torch.float32), torch.tensor(labels, dtype=torch.long)

    def _nearest(self, rgb: torch.Tensor | np.ndarray, with_ignore: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (decoded index, squared distance to the nearest colour) per pixel; the candidates
        are the class colours, and the ignore colours too with ``with_ignore``."""
        images = _as_channels_first(rgb)
        batched = images.dim() == 4
        if not batched:
            images = images.unsqueeze(0)
        n, _, h, w = images.shape
        pixels = images.permute(0, 2, 3, 1).reshape(-1, 3)
        colors, labels = self._candidates(with_ignore)
        color_sq = (colors * colors).sum(dim=1)
        slots = torch.empty(pixels.shape[0], dtype=torch.long)
        dist_sq = torch.empty(pixels.shape[0], dtype=torch.float32)
        for start in range(0, pixels.shape[0], _CHUNK_PIXELS):
            chunk = pixels[start : start + _CHUNK_PIXELS].float()
            # ||p - c||^2 - ||p||^2 = ||c||^2 - 2 p.c; exact in float32 for 8-bit values.
            partial = torch.addmm(color_sq, chunk, colors.T, alpha=-2.0)
            best, slot = partial.min(dim=1)
            slots[start : start + chunk.shape[0]] = slot
            dist_sq[start : start + chunk.shape[0]] = best + (chunk * chunk).sum(dim=1)
        index = labels[slots].reshape(n, h, w)
        dist_sq = dist_sq.clamp_(min=0).reshape(n, h, w)
        if not batched:
            return index[0], dist_sq[0]
        return index, dist_sq

    def to_index(self, rgb: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Nearest-colour class index of each pixel.

        ``rgb`` is uint8 (3, H, W) or (N, 3, H, W), or a numpy (H, W, 3) array; returns
        long (H, W) or (N, H, W), with ignore colours mapped to ``ignore_index``: how label images
        given as data (ground truth, label inputs) are read.
        """
        return self._nearest(rgb)[0]

    def to_class_index(self, rgb: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Nearest *class* colour of each pixel (never ``ignore_index``); shapes as :meth:`to_index`."""
        return self._nearest(rgb, with_ignore=False)[0]

    def distance_to_palette(self, rgb: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Euclidean RGB distance of each pixel to its nearest class or ignore colour."""
        return self._nearest(rgb)[1].sqrt_()

    def to_color(self, index: torch.Tensor) -> torch.Tensor:
        """Render a long (H, W) or (N, H, W) index map as uint8 (3, H, W) or (N, 3, H, W)."""
        valid = self._check_index(index)
        colors = torch.tensor(self.color_array)
        rgb = colors[index.where(valid, 0)] * valid.unsqueeze(-1)
        return rgb.movedim(-1, -3).contiguous()

    def one_hot(self, index: torch.Tensor, dtype: torch.dtype = torch.float32, void_channel: bool = True) -> torch.Tensor:
        """(H, W) or (N, H, W) index map -> (K + 1, H, W) or (N, K + 1, H, W) one-hot masks.

        Ignore pixels (Cityscapes void) are the last channel, a class of their own as Mondal et al.
        2019's background class, so every pixel is a valid one-hot vector. ``void_channel=False``
        gives the K-channel encoding of networks trained before (semicycle 0.1), ignore -> all zeros.
        """
        valid = self._check_index(index)
        if void_channel:
            encoded = torch.nn.functional.one_hot(index.where(valid, self.num_classes), self.num_classes + 1)
        else:
            encoded = torch.nn.functional.one_hot(index.where(valid, 0), self.num_classes) * valid.unsqueeze(-1)
        return encoded.movedim(-1, -3).to(dtype)

    def _check_index(self, index: torch.Tensor) -> torch.Tensor:
        """Return the non-ignore mask of ``index``; reject values that are not classes."""
        if index.dtype != torch.long or index.dim() not in (2, 3):
            raise TypeError(
                f"expected a long (H, W) or (N, H, W) index map, got {index.dtype} "
                f"{tuple(index.shape)}"
            )
        valid = index != self.ignore_index
        if valid.any():
            present = index[valid]
            if present.min() < 0 or present.max() >= self.num_classes:
                raise ValueError(
                    f"index map has values outside 0..{self.num_classes - 1} and "
                    f"{self.ignore_index} for palette {self.name!r}"
                )
        return valid


def _as_channels_first(rgb: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Check a uint8 colour image and return it as a (3, H, W) or (N, 3, H, W) tensor."""
    if isinstance(rgb, np.ndarray):
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise TypeError(f"expected a uint8 (H, W, 3) array, got {rgb.dtype} {rgb.shape}")
        return torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    if rgb.dtype != torch.uint8 or rgb.dim() not in (3, 4) or rgb.shape[-3] != 3:
        raise TypeError(
            f"expected a uint8 (3, H, W) or (N, 3, H, W) tensor, got {rgb.dtype} "
            f"{tuple(rgb.shape)}"
        )
    return rgb


def decode_label_image(
    rgb: torch.Tensor | np.ndarray,
    palette: Palette | str,
    path: str = "<array>",
    far: float = DEFAULT_FAR,
    max_far_fraction: float | None = None,
) -> torch.Tensor:
    """Decode a colour label image to class indices, rejecting images that are no labels.

    A pixel is far when its whole 5x5 neighbourhood is farther than ``far`` from every
    palette colour. Raises DataError naming ``path`` when the far pixels exceed
    ``max_far_fraction`` (default: the palette's) of all pixels given: a photo, or the wrong
    palette.
    """
    if isinstance(palette, str):
        palette = get_palette(palette)
    if max_far_fraction is None:
        max_far_fraction = palette.max_far_fraction
    index, dist_sq = palette._nearest(rgb)
    neighbourhood_min = -torch.nn.functional.max_pool2d(
        -dist_sq.reshape(-1, 1, *dist_sq.shape[-2:]), kernel_size=5, stride=1, padding=2
    )
    far_fraction = (neighbourhood_min > far * far).float().mean().item()
    if far_fraction > max_far_fraction:
        raise DataError(
            f"{path}: {100 * far_fraction:.1f}% of pixels are far (> {far:g}) from every "
            f"{palette.name!r} palette colour; is data.palette right, or are the A/B halves "
            f"swapped (data.a_side)?"
        )
    return index


# How generated label images are turned into classes for scoring (eval.label_decoding).
LABEL_DECODINGS = {
    "classes": "nearest class colour (Shukla et al. 2019 sec. 4.1.2; the CycleGAN FCN-score protocol)",
    "classes_and_void": "nearest class or void colour, void counted wrong (semicycle 0.1)",
}


def decode_generated_labels(rgb: torch.Tensor | np.ndarray, palette: Palette, decoding: str = "classes") -> torch.Tensor:
    """Classes of a *generated* label image, to score it against the ground truth.

    ``classes`` (the papers' protocol) assigns every pixel to the nearest of the palette's class
    colours, so a prediction is never void; ``classes_and_void`` also offers the ignore colours, whose
    pixels then decode to ``ignore_index`` and count as errors.
    """
    if decoding not in LABEL_DECODINGS:
        raise ConfigError(f"eval.label_decoding={decoding!r} is not one of: {', '.join(LABEL_DECODINGS)}")
    return palette.to_class_index(rgb) if decoding == "classes" else palette.to_index(rgb)


def cmp_png_to_index(values: torch.Tensor | np.ndarray, ignore_index: int = 255) -> torch.Tensor:
    """Map a CMP base PNG index map (classes 1..12, 0 unused) to 0..11, 0 -> ignore."""
    if isinstance(values, np.ndarray):
        values = torch.from_numpy(values.astype(np.int64))
    values = values.long()
    if values.numel() and (values.min() < 0 or values.max() > len(FACADE_CLASSES)):
        raise ValueError(
            f"CMP index maps hold values 0..{len(FACADE_CLASSES)}, got "
            f"{values.min().item()}..{values.max().item()}"
        )
    return torch.where(values == 0, ignore_index, values - 1)


FACADE_CLASSES = (
    "background", "facade", "window", "door", "cornice", "sill",
    "balcony", "blind", "deco", "molding", "pillar", "shop",
)  # fmt: skip

_CMP_CITATION = (
    "CMP Facade Database (R. Tylecek, R. Sara: Spatial Pattern Templates for Recognition "
    "of Objects with Regular Structure, GCPR 2013)"
)

_PALETTES = {
    palette.name: palette
    for palette in (
        Palette(
            name="facades",
            class_names=FACADE_CLASSES,
            colors=(
                (0, 0, 221), (1, 48, 253), (2, 127, 253), (2, 206, 254),
                (35, 253, 226), (113, 253, 147), (192, 254, 66), (251, 239, 11),
                (253, 159, 5), (252, 81, 4), (247, 2, 7), (173, 0, 3),
            ),  # fmt: skip
            citation=(
                "pix2pix facades label halves (Isola et al., CVPR 2017): mean JPEG colours "
                "measured on region interiors of the 243 train images that match CMP base "
                f"facades (shared/data/README.md); classes from the {_CMP_CITATION}"
            ),
            max_far_fraction=0.5,
        ),
        Palette(
            name="cmp",
            class_names=FACADE_CLASSES,
            colors=(
                (0, 0, 170), (0, 0, 255), (0, 85, 255), (0, 170, 255),
                (0, 255, 255), (85, 255, 170), (170, 255, 85), (255, 255, 0),
                (255, 170, 0), (255, 85, 0), (255, 0, 0), (170, 0, 0),
            ),  # fmt: skip
            citation=f"PNG palette (MATLAB jet(12)) of the {_CMP_CITATION}",
        ),
        Palette(
            name="cityscapes",
            class_names=(
                "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                "truck", "bus", "train", "motorcycle", "bicycle",
            ),  # fmt: skip
            colors=(
                (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
                (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
                (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
                (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
                (0, 0, 230), (119, 11, 32),
            ),  # fmt: skip
            # unlabeled/ego vehicle/border/out of roi/static, dynamic, ground, parking,
            # rail track, guard rail, bridge, tunnel, caravan, trailer.
            ignore_colors=(
                (0, 0, 0), (111, 74, 0), (81, 0, 81), (250, 170, 160), (230, 150, 140),
                (180, 165, 180), (150, 100, 100), (150, 120, 90), (0, 0, 90), (0, 0, 110),
            ),  # fmt: skip
            citation=(
                "Cityscapes gtFine colours, trainIds 0..18 (Cordts et al., CVPR 2016; "
                "cityscapesScripts labels.py)"
            ),
            max_far_fraction=0.05,
        ),
        Palette(
            name="synthetic",
            class_names=("background", "building", "window", "disk", "stripe"),
            colors=(
                (30, 30, 110), (220, 60, 50), (250, 220, 60), (60, 200, 90), (190, 90, 230),
            ),  # fmt: skip
            citation="semicycle.data.synthetic (procedurally generated, no external source)",
        ),
    )
}


def list_palettes() -> list[str]:
    """Names accepted by get_palette, sorted."""
    return sorted(_PALETTES)


def get_palette(name: str) -> Palette:
    """Return the palette called ``name``; ConfigError lists the valid names otherwise."""
    try:
        return _PALETTES[name]
    except KeyError:
        raise ConfigError(
            f"unknown palette {name!r}; set data.palette to one of: {', '.join(list_palettes())}"
        ) from None
