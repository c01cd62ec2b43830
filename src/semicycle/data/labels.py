"""Network input/output conventions for label maps (class logits out, one-hot masks in).

Translation networks work on RGB images in [-1, 1]; segmentation networks output K class logits
(K + 1 with a void class) and label-to-image networks take one-hot masks of K + 1 channels, void
(ignore) pixels being the last class, or K channels with void all zero in networks trained before
the void channel (their input width is in ``arch``). These helpers convert at the boundary, so
training samples and inference show every network's output as a picture.
"""

from __future__ import annotations

import torch

from .palettes import Palette
from .transforms import to_float, to_uint8
from ..errors import ConfigError


def _check(palette: Palette | None, channels: int) -> Palette:
    if palette is None or channels not in (palette.num_classes, palette.num_classes + 1):
        have = f"palette '{palette.name}' has {palette.num_classes}" if palette else "no palette is set"
        raise ConfigError(
            f"a network with {channels} label channels needs a palette of {channels - 1} classes (+ void) or {channels} "
            f"({have}); set data.palette"
        )
    return palette


def label_channels(palette: Palette, void_channel: bool = True) -> int:
    """Channels of a one-hot mask: the K classes, and void as a class of its own unless disabled."""
    return palette.num_classes + int(void_channel)


def label_input(index: torch.Tensor, palette: Palette, channels: int | None = None) -> torch.Tensor:
    """(N, H, W) class indices -> (N, channels, H, W) one-hot masks.

    ``channels`` = K + 1 (the default): ignore pixels are the void class, the last channel; = K: the
    encoding of networks trained before, ignore pixels all zero.
    """
    void_channel = channels is None or channels == palette.num_classes + 1
    return palette.one_hot(index.cpu(), void_channel=void_channel).to(index.device)


def void_as_class(index: torch.Tensor, palette: Palette) -> torch.Tensor:
    """Class targets of a segmenter with a void class: ignore pixels -> class K (the last)."""
    return index.masked_fill(index == palette.ignore_index, palette.num_classes)


def network_input(images: torch.Tensor, in_channels: int, palette: Palette | None) -> torch.Tensor:
    """RGB images in [-1, 1] -> what a network with ``in_channels`` inputs takes."""
    if in_channels == images.shape[1]:
        return images
    palette = _check(palette, in_channels)
    index = palette.to_index(to_uint8(images).cpu())
    return label_input(index, palette, in_channels).to(images.device)


def output_image(outputs: torch.Tensor, palette: Palette | None) -> torch.Tensor:
    """A network's output as RGB in [-1, 1]: images pass through, logits become palette colours
    (the class with the highest class logit: a void logit is never the answer)."""
    if outputs.shape[1] == 3:
        return outputs
    palette = _check(palette, outputs.shape[1])
    classes = outputs[:, : palette.num_classes].argmax(1)
    return to_float(palette.to_color(classes.cpu())).to(outputs.device)


def soft_label_image(logits: torch.Tensor, palette: Palette) -> torch.Tensor:
    """(N, K, H, W) class logits -> (N, 3, H, W) in [-1, 1]: the class colours weighted by the softmax, so that a
    discriminator or an encoder that sees label maps drawn in palette colours sees the network's output with its
    gradient (an argmax has none); a confident output is the label map :func:`output_image` draws."""
    probs = torch.softmax(logits.float()[:, : palette.num_classes], dim=1)
    colors = to_float(torch.from_numpy(palette.color_array)).to(logits.device)  # (K, 3)
    return torch.einsum("nkhw,kc->nchw", probs, colors)
