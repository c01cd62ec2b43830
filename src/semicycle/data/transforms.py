"""Image transforms on uint8 arrays/tensors: resize once at load, then crop/flip on tensors per step.

Random choices come from a ``torch.Generator`` seeded per sample (see :func:`sample_seed`), so a
batch depends only on (run seed, epoch, step, slot): resuming mid-epoch reproduces it exactly.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from PIL import Image


def resize_photo(array: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 -> size x size x 3, bicubic (as the pix2pix/CycleGAN loaders)."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    return np.asarray(Image.fromarray(array).resize((size, size), Image.BICUBIC))


def resize_nearest(array: np.ndarray, size: int) -> np.ndarray:
    """Label maps (colour HxWx3 or index HxW) -> size x size, nearest neighbour (no new colours)."""
    if array.shape[0] == size and array.shape[1] == size:
        return array
    if array.ndim == 2:
        return np.asarray(Image.fromarray(array.astype(np.int32), mode="I").resize((size, size), Image.NEAREST)).astype(array.dtype)
    return np.asarray(Image.fromarray(array).resize((size, size), Image.NEAREST))


def sample_seed(*parts: int) -> int:
    """A 63-bit seed derived from integers (stable across runs, platforms and processes)."""
    digest = hashlib.blake2b(",".join(str(int(p)) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def crop_and_flip(tensors: list[torch.Tensor], crop: int, flip: bool, seed: int) -> list[torch.Tensor]:
    """Apply one random crop (crop x crop) and one optional horizontal flip to every tensor.

    Tensors share their last two dimensions (H, W): (C,H,W) images and (H,W) label maps of one pair
    get identical parameters.
    """
    gen = torch.Generator().manual_seed(seed)
    height, width = tensors[0].shape[-2:]
    top = int(torch.randint(0, height - crop + 1, (1,), generator=gen))
    left = int(torch.randint(0, width - crop + 1, (1,), generator=gen))
    do_flip = flip and bool(torch.rand((), generator=gen) < 0.5)
    out = []
    for t in tensors:
        t = t[..., top : top + crop, left : left + crop]
        if do_flip:
            t = t.flip(-1)
        out.append(t)
    return out


def center_crop(t: torch.Tensor, crop: int) -> torch.Tensor:
    height, width = t.shape[-2:]
    top, left = (height - crop) // 2, (width - crop) // 2
    return t[..., top : top + crop, left : left + crop]


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255] (clamped, rounded)."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)
