"""Augmentations beyond crop-and-flip, one way to do each thing:

- the strong photometric view of weak-to-strong consistency (FixMatch, Sohn et al. 2020, sec. 2.3; UniMatch,
  Yang et al. 2023, sec. 3.1): colour jitter, random grayscale, Gaussian blur (:func:`photometric`);
- CutMix for segmentation (French et al. 2020, sec. 3.2): a box per image, filled from the next image of the
  batch, moving images, pseudo-labels and confidence masks together (:func:`cutmix_box`, :func:`cutmix`);
- the standard augmentation of a paired segmenter: random scale-and-crop and flip of photo and label map
  together, then colour jitter of the photo (:func:`scale_crop_flip`, :func:`photometric`).

Random choices come from a ``torch.Generator`` seeded per sample from (run seed, epoch, slot) (see
:func:`~semicycle.data.transforms.sample_seed`), so batches stay a function of (seed, epoch, step) and resumed
runs see the same views. Photos are float (3, H, W) in [-1, 1]; photometric changes touch photos only;
geometric ones resize label maps by nearest neighbour, so no value appears that was not there.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

JITTER = (0.5, 0.5, 0.5, 0.25)  # brightness, contrast, saturation, hue: UniMatch's strong colour jitter
JITTER_PROB, GRAYSCALE_PROB, BLUR_PROB = 0.8, 0.2, 0.5  # UniMatch's strong view
BLUR_SIGMA = (0.1, 2.0)  # Gaussian blur's standard deviation in pixels
SCALE_RANGE = (0.5, 2.0)  # random scale of the paired segmenter's scale-and-crop (UniMatch's resize range)
CUTMIX_AREA = (0.02, 0.4)  # a CutMix box's share of the image (UniMatch's)
CUTMIX_ASPECT = (0.3, 1 / 0.3)  # its width / height
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's grayscale
# RGB -> YIQ: Y is luma, (I, Q) the chroma plane in which a hue shift is a rotation
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)


def uniform(gen: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=gen))


def chance(gen: torch.Generator, p: float) -> bool:
    """True with probability ``p`` (always one draw, so later draws do not depend on ``p``)."""
    return float(torch.rand((), generator=gen)) < p


def grayscale(image01: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB in [0, 1] -> (1, H, W) luma."""
    weights = torch.tensor(LUMA, dtype=image01.dtype, device=image01.device).view(3, 1, 1)
    return (image01 * weights).sum(0, keepdim=True)


def rotate_hue(image01: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate the chroma of (3, H, W) RGB in [0, 1] by ``angle`` radians in YIQ space (luma kept)."""
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = torch.tensor([[1, 0, 0], [0, cos, -sin], [0, sin, cos]], dtype=torch.float64)
    matrix = (torch.linalg.inv(_YIQ) @ rotation @ _YIQ).to(image01)
    return torch.einsum("ij,jhw->ihw", matrix, image01).clamp(0, 1)


def color_jitter(image: torch.Tensor, gen: torch.Generator, strength: tuple[float, float, float, float] = JITTER) -> torch.Tensor:
    """Brightness, contrast and saturation scaled by factors uniform in [1 - s, 1 + s], then the hue rotated by
    up to ``hue * 360`` degrees, on a (3, H, W) photo in [-1, 1]."""
    brightness, contrast, saturation, hue = strength
    x = ((image + 1) * 0.5 * uniform(gen, 1 - brightness, 1 + brightness)).clamp(0, 1)
    mean = grayscale(x).mean()
    x = ((x - mean) * uniform(gen, 1 - contrast, 1 + contrast) + mean).clamp(0, 1)
    gray = grayscale(x)
    x = ((x - gray) * uniform(gen, 1 - saturation, 1 + saturation) + gray).clamp(0, 1)
    return rotate_hue(x, uniform(gen, -hue, hue) * 2 * math.pi) * 2 - 1


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """A (3, H, W) image blurred by a separable Gaussian of ``sigma`` pixels (radius 2 sigma, reflected edges)."""
    radius = max(1, min(math.ceil(2 * sigma), min(image.shape[-2:]) - 1))
    offsets = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).expand(image.shape[0], 1, -1)
    x = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.unsqueeze(2), groups=image.shape[0])  # along the width
    return F.conv2d(x, kernel.unsqueeze(3), groups=image.shape[0])[0]  # along the height


def photometric(image: torch.Tensor, gen: torch.Generator, jitter_prob: float = JITTER_PROB,
                grayscale_prob: float = GRAYSCALE_PROB, blur_prob: float = BLUR_PROB) -> torch.Tensor:
    """A (3, H, W) photo in [-1, 1] colour-jittered, turned gray and blurred, each with its probability, in this
    order: by default UniMatch's strong view (its Sec. 3.1). Geometry is untouched: a label map of the photo
    still fits."""
    if chance(gen, jitter_prob):
        image = color_jitter(image, gen)
    if chance(gen, grayscale_prob):
        image = grayscale((image + 1) * 0.5).expand(3, -1, -1) * 2 - 1
    if chance(gen, blur_prob):
        image = gaussian_blur(image, uniform(gen, *BLUR_SIGMA))
    return image


def cutmix_box(height: int, width: int, gen: torch.Generator, prob: float) -> torch.Tensor:
    """An (H, W) bool mask: with probability ``prob`` a box of area ``CUTMIX_AREA`` and aspect ``CUTMIX_ASPECT``
    at a uniform position (clipped to the image), else empty."""
    box = torch.zeros(height, width, dtype=torch.bool)
    use = chance(gen, prob)
    area = uniform(gen, *CUTMIX_AREA) * height * width
    aspect = uniform(gen, *CUTMIX_ASPECT)
    box_w = min(width, max(1, round(math.sqrt(area * aspect))))
    box_h = min(height, max(1, round(math.sqrt(area / aspect))))
    top = int(torch.randint(0, height - box_h + 1, (1,), generator=gen))
    left = int(torch.randint(0, width - box_w + 1, (1,), generator=gen))
    if use:
        box[top : top + box_h, left : left + box_w] = True
    return box


def cutmix(boxes: torch.Tensor, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """CutMix within a batch (French et al. 2020): inside image i's box, every tensor takes the pixels of image
    i + 1 (the last takes the first's). ``boxes`` is (N, H, W) bool; each tensor is (N, H, W) or (N, C, H, W),
    so images, pseudo-labels and their confidence masks are cut by the same box."""
    out = []
    for t in tensors:
        box = boxes.to(t.device).view(len(t), *([1] * (t.dim() - 3)), *boxes.shape[-2:])
        out.append(torch.where(box, t.roll(-1, 0), t))
    return tuple(out)


def scale_crop_flip(tensors: list[torch.Tensor], smooth: list[bool], crop: int, flip: bool, seed: int) -> list[torch.Tensor]:
    """One random scale-and-crop and optional horizontal flip applied to every (C, H, W) / (H, W) uint8 tensor of
    a sample: a window of side ``crop / s`` (s uniform in ``SCALE_RANGE``; at most the image) at a uniform
    position, resized to ``crop`` x ``crop``: bilinearly where ``smooth`` (photos), else by nearest neighbour
    (label maps and their colour renderings: only values already there)."""
    gen = torch.Generator().manual_seed(seed)
    height, width = tensors[0].shape[-2:]
    side = min(height, width, max(1, round(crop / uniform(gen, *SCALE_RANGE))))
    top = int(torch.randint(0, height - side + 1, (1,), generator=gen))
    left = int(torch.randint(0, width - side + 1, (1,), generator=gen))
    do_flip = flip and chance(gen, 0.5)
    out = []
    for t, is_smooth in zip(tensors, smooth):
        window = t[..., top : top + side, left : left + side]
        planes = window.reshape(1, -1, side, side).float()
        if is_smooth:
            resized = F.interpolate(planes, size=(crop, crop), mode="bilinear", align_corners=False, antialias=side > crop)
            resized = resized.round_().clamp_(0, 255)
        else:
            resized = F.interpolate(planes, size=(crop, crop), mode="nearest-exact")  # pixel centres, as bilinear
        resized = resized.to(t.dtype).reshape(*t.shape[:-2], crop, crop)
        out.append(resized.flip(-1) if do_flip else resized)
    return out
