"""Python API: ``semicycle.load(path).translate(pil_image)`` — no architecture flags needed."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from PIL import Image

from .data.palettes import Palette, get_palette
from .data.transforms import to_float, to_uint8
from .engine import checkpoint
from .engine.device import resolve_device
from .errors import ConfigError
from .models import build_from_arch, run_padded
from .models.heads import network_input, output_image


class Translator:
    """The generators of a trained run, ready for inference (eval mode, no gradients)."""

    def __init__(self, generators: dict[str, torch.nn.Module], device: torch.device, config: dict, palette: Palette | None = None):
        self.generators = generators  # {"AtoB": module, "BtoA": module}
        self.device = device
        self.config = config
        self.palette = palette  # label maps: decoded to one-hot inputs, logits rendered in its colours

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> "Translator":
        state = checkpoint.load(path)
        dev = resolve_device(device)
        generators = {}
        for direction, name in state["translators"].items():
            net = build_from_arch(state["arch"][name], "generator")
            net.load_state_dict(state["models"][name])
            generators[direction] = net.to(dev).eval()
        palette = get_palette(state["palette"]) if state.get("palette") else None
        return cls(generators, dev, state["config"], palette)

    @property
    def directions(self) -> list[str]:
        return sorted(self.generators)

    def _generator(self, direction: str) -> torch.nn.Module:
        if direction not in self.generators:
            raise ConfigError(f"direction {direction!r} is not in this checkpoint; choose one of: {', '.join(self.directions)}")
        return self.generators[direction]

    @torch.inference_mode()
    def translate_tensor(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """(N, 3, H, W) float in [-1, 1], any H and W -> translated batch of the same size
        (segmentation outputs as palette colours)."""
        net = self._generator(direction)
        inputs = network_input(images.to(self.device), net.arch["kwargs"]["in_channels"], self.palette)
        return output_image(run_padded(net, inputs).float(), self.palette).cpu()

    def translate(self, image: Image.Image, direction: str = "AtoB") -> Image.Image:
        """One PIL image (any size, converted to RGB) -> its translation as a PIL image."""
        return self.translate_batch([image], direction)[0]

    def translate_batch(self, images: Iterable[Image.Image], direction: str = "AtoB", batch_size: int = 8) -> list[Image.Image]:
        """Translate many PIL images, batching those of equal size; output order = input order."""
        arrays = [np.asarray(img.convert("RGB")) for img in images]
        results: list[Image.Image | None] = [None] * len(arrays)
        by_size: dict[tuple, list[int]] = {}
        for i, arr in enumerate(arrays):
            by_size.setdefault(arr.shape, []).append(i)
        for indices in by_size.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                batch = to_float(torch.from_numpy(np.stack([arrays[i] for i in chunk])).permute(0, 3, 1, 2))
                out = to_uint8(self.translate_tensor(batch, direction)).permute(0, 2, 3, 1).numpy()
                for i, arr in zip(chunk, out):
                    results[i] = Image.fromarray(arr)
        return results


def load(path: str | Path, device: str = "auto") -> Translator:
    """Load a run folder, its ``ckpt/`` folder or a checkpoint file for inference."""
    return Translator.from_checkpoint(path, device)
