"""Shipping a trained generator: ONNX export (the file; :mod:`semicycle.backends` runs it with onnxruntime).

``export_onnx`` writes one direction's generator (eval mode: batch norm with its running statistics,
dropout off, as ``semicycle translate`` computes; float32) with a dynamic batch, height and width, and
describes its inputs and outputs in the file's metadata, so that a consumer needs no semicycle code:

* ``input`` / ``output``: how pixels become the network's input and its output becomes pixels;
* ``size_multiple``: height and width must be multiples of it (pad the bottom and right by reflection,
  crop the output back, as ``run_padded`` does);
* ``palette`` (label maps): class names and colours, the ignore colours and which channel is void.

``backends.OnnxRuntimeNetwork`` runs such a file where a generator is expected, so ``semicycle.load("model.onnx")``
translates with the same pre- and post-processing as a checkpoint (``api.Translator``). onnx, onnxscript and
onnxruntime are optional: ``pip install 'semicycle[export]'``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from . import checkpoints
from .atomic import atomic_write
from .data.palettes import Palette, get_palette
from .errors import CheckpointError, ConfigError
from .models import build_from_arch
from .package_files import import_export_extra

ONNX_OPSET = 18  # every layer of the registry's generators exports at 18; onnxruntime 1.18+ (the extra's minimum) runs it
METADATA_VERSION = "1"
INPUT_NAME, OUTPUT_NAME = "input", "output"


def describe_input(in_channels: int, palette: Palette | None) -> str:
    if in_channels == 3:
        return "float32 (N, 3, H, W): RGB pixels scaled to [-1, 1] (value / 127.5 - 1)"
    void = in_channels == palette.num_classes + 1
    return (f"float32 (N, {in_channels}, H, W): one-hot label map, channel k = 1 where the pixel's nearest colour "
            f"(RGB distance) among 'palette' colors and ignore_colors is class k's" +
            (f"; channel {in_channels - 1} = void (nearest to an ignore colour)" if void
             else "; pixels nearest to an ignore colour are all zero"))


def describe_output(out_channels: int, palette: Palette | None) -> str:
    if out_channels == 3:
        return "float32 (N, 3, H, W): RGB in [-1, 1] (tanh); pixel value = round((y + 1) * 127.5) clamped to 0..255"
    return (f"float32 (N, {out_channels}, H, W): class logits; class = argmax over the first {palette.num_classes} "
            f"channels" + (f" (channel {palette.num_classes} is void and never the answer)" if out_channels > palette.num_classes
                           else "") + "; colour = palette colour of that class")


def metadata(net: torch.nn.Module, direction: str, palette: Palette | None, source: str) -> dict[str, str]:
    """The strings written into an exported file's ``metadata_props``."""
    kwargs = net.arch["kwargs"]
    props = {
        "semicycle.metadata_version": METADATA_VERSION,
        "semicycle.arch": json.dumps(net.arch),
        "semicycle.source": source,
        "direction": direction,
        "input": describe_input(kwargs["in_channels"], palette),
        "output": describe_output(kwargs["out_channels"], palette),
        "size_multiple": str(net.size_multiple),
        "size_rule": f"height and width: multiples of {net.size_multiple}; pad other sizes at the bottom and right "
                     "by reflection (replicate when the pad exceeds the image) and crop the output back",
    }
    if palette is not None:
        props["palette"] = json.dumps(asdict(palette))  # name, class_names, colors (RGB), ignore_colors, ...
        props["num_classes"] = str(palette.num_classes)
    return props


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's notes about itself (deprecations inside torch, absent torchvision operators) are not the
    user's business: hidden while it runs; its errors still surface."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx(source: str | Path, direction: str, output: str | Path, opset: int = ONNX_OPSET) -> Path:
    """Write the ``direction`` generator of the checkpoint ``source`` (run folder, ckpt/ folder or .pt file)
    to ``output`` as ONNX; returns the written path. Refuses, with one line, what it cannot export."""
    state = checkpoints.load(source)
    if direction not in state["translators"]:
        raise ConfigError(f"direction {direction!r} is not in {source}; choose one of: {', '.join(sorted(state['translators']))}")
    name = state["translators"][direction]
    net = build_from_arch(state["arch"][name], "generator")
    net.load_state_dict(state["models"][name])
    palette = get_palette(state["palette"]) if state.get("palette") else None
    iteration = state.get("progress", {}).get("iteration", "?")
    return export_network(net, output, direction=direction, palette=palette, opset=opset,
                          source=f"{Path(source).name} at iteration {iteration}")


def export_network(net: torch.nn.Module, output: str | Path, *, direction: str, palette: Palette | None,
                   source: str = "", opset: int = ONNX_OPSET) -> Path:
    """Write a registry generator ``net`` (with its ``arch``) to ``output`` as ONNX, in eval mode; see the module
    docstring. Used by ``export_onnx``; the network keeps the mode it had."""
    onnx = import_export_extra("onnx")
    import_export_extra("onnxscript")
    output = Path(output)
    if output.suffix != ".onnx":
        raise ConfigError(f"{output}: the exported file's name must end in .onnx")
    channels, out_channels = net.arch["kwargs"]["in_channels"], net.arch["kwargs"]["out_channels"]
    if (channels != 3 or out_channels != 3) and palette is None:
        raise ConfigError(f"{source or output}: the {direction} network has label-map channels but no palette describes them")
    size = max(net.size_multiple, 64)
    example = torch.zeros(2, channels, size, size)  # batch 2: a batch of one would be fixed into the graph
    dims = {0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}
    was_training = net.training
    net.eval()  # what translate computes: batch norm with running statistics, no dropout
    try:
        with _quiet_exporter():
            program = torch.onnx.export(net, (example,), dynamo=True, opset_version=opset, input_names=[INPUT_NAME],
                                        output_names=[OUTPUT_NAME], dynamic_shapes=(dims,), verbose=False)
    except Exception as exc:  # an operator without an ONNX form, a shape the exporter cannot follow, ...
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{source or output}: the {direction} network ({net.arch['name']}) cannot be exported to ONNX: {reason}") from None
    finally:
        net.train(was_training)
    model = program.model_proto
    onnx.helper.set_model_props(model, metadata(net, direction, palette, source))
    model.doc_string = f"semicycle {direction} generator ({net.arch['name']}); see the metadata for inputs and outputs"
    return atomic_write(output, lambda handle: handle.write(model.SerializeToString()))
