"""Network input/output conventions for label maps (K-class logits out, one-hot K channels in).

Translation networks work on RGB images in [-1, 1]; segmentation networks output K-class logits
and label-to-image networks take one-hot masks. These helpers convert at the boundary, so
training samples and inference show every network's output as a picture.
"""

from __future__ import annotations

import torch

from ..data.palettes import Palette
from ..data.transforms import to_float, to_uint8
from ..errors import ConfigError


def _check(palette: Palette | None, channels: int) -> Palette:
    if palette is None or palette.num_classes != channels:
        have = f"palette '{palette.name}' has {palette.num_classes}" if palette else "no palette is set"
        raise ConfigError(f"a network with {channels} label channels needs a {channels}-class palette ({have}); set data.palette")
    return palette


def label_input(index: torch.Tensor, palette: Palette) -> torch.Tensor:
    """(N, H, W) class indices -> (N, K, H, W) one-hot (ignore pixels all zero)."""
    return palette.one_hot(index.cpu()).to(index.device)


def network_input(images: torch.Tensor, in_channels: int, palette: Palette | None) -> torch.Tensor:
    """RGB images in [-1, 1] -> what a network with ``in_channels`` inputs takes."""
    if in_channels == images.shape[1]:
        return images
    palette = _check(palette, in_channels)
    index = palette.to_index(to_uint8(images).cpu())
    return label_input(index, palette).to(images.device)


def output_image(outputs: torch.Tensor, palette: Palette | None) -> torch.Tensor:
    """A network's output as RGB in [-1, 1]: images pass through, logits become palette colours."""
    if outputs.shape[1] == 3:
        return outputs
    palette = _check(palette, outputs.shape[1])
    return to_float(palette.to_color(outputs.argmax(1).cpu())).to(outputs.device)
