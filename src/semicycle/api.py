"""Python API: ``semicycle.load(path).translate(pil_image)`` — no architecture flags needed.

Inference runs batched under ``torch.inference_mode``; precision, memory format and compilation come
from :class:`~semicycle.runtime.Runtime` (``precision="auto"``: fp32 until bf16 is shown to match
it, see ``AUTO_PICKS_BF16``; ``"bf16"`` is the fast path where the hardware computes it natively).
Outputs are always float32 (N, 3, H, W) tensors or RGB PIL images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from PIL import Image

from . import checkpoints
from .backends import OnnxRuntimeNetwork
from .data.palettes import Palette, get_palette
from .data.transforms import to_float, to_uint8
from .errors import ConfigError
from .models import build_from_arch
from .runtime import Runtime, resolve_device
from .translation import translate_tensor


class Translator:
    """The generators of a trained run, ready for inference (eval mode, no gradients)."""

    def __init__(
        self,
        generators: dict[str, torch.nn.Module],
        device: torch.device,
        config: dict,
        palette: Palette | None = None,
        runtime: Runtime | None = None,
    ):
        self.generators = generators  # {"AtoB": module, "BtoA": module}; a backends.OnnxRuntimeNetwork stands in for one
        self.device = device
        self.config = config
        self.palette = palette  # label maps: decoded to one-hot inputs, logits rendered in its colours
        self.runtime = runtime if runtime is not None else Runtime(device=device)  # default: fp32, eager

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "auto",
        precision: str = "auto",
        channels_last="auto",
        compile=False,
    ) -> "Translator":
        """``precision``: auto | fp32 | bf16 | fp16; ``channels_last``/``compile``: True, False or "auto"
        (compiling costs tens of seconds up front and pays off for hundreds of images)."""
        state = checkpoints.load(path)
        runtime = Runtime.create(device, precision=precision, channels_last=channels_last, compile=compile, label="translate")
        generators = {}
        for direction, name in state["translators"].items():
            net = build_from_arch(state["arch"][name], "generator")
            net.load_state_dict(state["models"][name])
            for p in net.parameters():
                p.requires_grad_(False)
            generators[direction] = net.to(runtime.device).eval()
        runtime.prepare_models(generators.values(), planned_steps=None, dynamic=None)
        palette = get_palette(state["palette"]) if state.get("palette") else None
        return cls(generators, runtime.device, state["config"], palette, runtime)

    @classmethod
    def from_onnx(cls, path: str | Path, device: str = "auto") -> "Translator":
        """A file written by ``semicycle export``, run by onnxruntime (one direction per file) with the same
        pre- and post-processing as a checkpoint: padding to the network's size multiple, palette colours."""
        net = OnnxRuntimeNetwork(path, resolve_device(device))  # the session's device: tensors stay on the CPU
        runtime = Runtime.create("cpu", precision="fp32", channels_last=False, compile=False, label="translate")
        return cls({net.direction: net}, runtime.device, {}, net.palette, runtime)

    @property
    def directions(self) -> list[str]:
        return sorted(self.generators)

    def _generator(self, direction: str) -> torch.nn.Module:
        if direction not in self.generators:
            raise ConfigError(f"direction {direction!r} is not in this checkpoint; choose one of: {', '.join(self.directions)}")
        return self.generators[direction]

    def translate_tensor(self, images: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """(N, 3, H, W) float in [-1, 1], any H and W -> translated batch of the same size
        (segmentation outputs as palette colours)."""
        return translate_tensor(self._generator(direction), images, self.palette, self.runtime)

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


BACKENDS = ("auto", "pytorch", "onnxruntime")


def load(path: str | Path, device: str = "auto", precision: str = "auto", channels_last="auto", compile=False,
         backend: str = "auto") -> Translator:
    """Load a run folder, its ``ckpt/`` folder or a checkpoint file for inference (see
    :meth:`Translator.from_checkpoint` for the speed options), or a ``.onnx`` file of ``semicycle export``
    (run by onnxruntime). ``backend``: auto (by the file name) | pytorch | onnxruntime."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    is_onnx = Path(path).suffix == ".onnx"
    if backend != "auto" and (backend == "onnxruntime") != is_onnx:
        wants = "a .onnx file written by 'semicycle export'" if backend == "onnxruntime" else "a run folder or a .pt checkpoint"
        raise ConfigError(f"{path}: backend {backend} runs {wants}")
    if is_onnx:
        return Translator.from_onnx(path, device)
    return Translator.from_checkpoint(path, device, precision, channels_last, compile)
