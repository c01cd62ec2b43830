"""Inference backends beside PyTorch: an ONNX file written by ``semicycle export`` run by onnxruntime where
:class:`~semicycle.api.Translator` expects a generator (``semicycle.load("model.onnx")``). onnxruntime is optional:
``pip install 'semicycle[export]'``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from .data.palettes import Palette
from .errors import CheckpointError, ConfigError
from .package_files import import_export_extra


def palette_from_metadata(text: str) -> Palette:
    """The palette that ``metadata`` wrote as JSON."""
    saved = json.loads(text)
    for key in ("colors", "ignore_colors"):
        saved[key] = tuple(map(tuple, saved[key]))
    return Palette(**{**saved, "class_names": tuple(saved["class_names"])})


class OnnxRuntimeNetwork:
    """An exported generator run by onnxruntime where semicycle expects the PyTorch network: called on an
    (N, C, H, W) float tensor whose sides are multiples of ``size_multiple``, it returns a float32 tensor;
    ``arch`` and ``size_multiple`` are read from the file's metadata. Always in eval mode."""

    training = False

    def __init__(self, path: str | Path, device: torch.device = torch.device("cpu")):
        ort = import_export_extra("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file; give the .onnx file that 'semicycle export' wrote")
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
        providers = [name for name in wanted if name in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:160]
            raise CheckpointError(f"{path}: onnxruntime cannot load this file ({reason}); export it again with 'semicycle export'") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if "semicycle.arch" not in props:
            raise CheckpointError(f"{path}: not exported by 'semicycle export' (no semicycle metadata)")
        self.path = path
        self.arch = json.loads(props["semicycle.arch"])
        self.size_multiple = int(props["size_multiple"])
        self.direction = props["direction"]
        self.palette = palette_from_metadata(props["palette"]) if "palette" in props else None
        self.input_name = self.session.get_inputs()[0].name

    def eval(self) -> "OnnxRuntimeNetwork":
        return self

    def train(self, mode: bool = True) -> "OnnxRuntimeNetwork":
        if mode:
            raise ConfigError(f"{self.path}: an exported network runs inference only")
        return self

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(inputs.detach().float().cpu().numpy())
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])
