"""A generator applied to a batch as inference and the trainer's sample grids both apply it: label maps in,
padding to the network's size multiple, the runtime's precision, label maps out in palette colours."""

from __future__ import annotations

import torch

from .data.labels import network_input, output_image
from .data.palettes import Palette
from .models import run_padded
from .runtime import Runtime


@torch.inference_mode()
def translate_tensor(net, images: torch.Tensor, palette: Palette | None, runtime: Runtime) -> torch.Tensor:
    """(N, 3, H, W) float in [-1, 1], any H and W -> ``net``'s translation of the same size on the CPU, float32
    (segmentation outputs as palette colours). ``net`` runs in eval mode and keeps the mode it had (the trainer's
    sample grids translate with the networks it trains)."""
    was_training = net.training
    net.eval()
    inputs = network_input(images.to(runtime.device), net.arch["kwargs"]["in_channels"], palette)
    with runtime.autocast():
        outputs = run_padded(net, runtime.put(inputs.float()))
    net.train(was_training)
    return output_image(outputs.float(), palette).contiguous().cpu()
