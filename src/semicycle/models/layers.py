"""Building blocks shared by the generators and discriminators."""

import torch
import torch.nn.functional as F
from torch import nn

from semicycle.errors import ConfigError

NORMS = ("instance", "batch", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """Return a normalisation layer: "instance" (no affine, no running stats, as the
    official CycleGAN code), "batch" or "none" (identity)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by `norm` needs a bias (batch norm has its own shift)."""
    return norm != "batch"


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialise in place as pix2pix/CycleGAN: conv and linear weights ~ N(0, std),
    batch-norm weights ~ N(1, std), all biases 0. Draws from the global torch RNG."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, std)
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    return module


def run_float32_tail(layers: nn.Sequential, x: torch.Tensor, count: int) -> torch.Tensor:
    """``layers(x)``, with the last ``count`` layers (a network's output layers) in float32 under autocast.

    Mixed precision runs the convolutions in bf16/fp16; at a network's output that costs more than
    inside it: bf16 keeps 8 significant bits, so a tanh output within 2^-9 of +-1 rounds to exactly +-1,
    where its gradient 1 - y^2 is 0 (3% of okada's label-map outputs at the end of training), and
    near the label colours' +-1 that gradient falls on a few coarse levels (docs/performance.md, "Why
    bf16 lowered okada's scores"). These layers cost ~1-2% of a generator's FLOPs. Without autocast
    this is ``layers(x)``; the state_dict keys do not change.
    """
    children = list(layers)
    split = len(children) - count
    for layer in children[:split]:
        x = layer(x)
    if count == 0:
        return x
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        for layer in children[split:]:
            x = layer(x)
    return x


def run_padded(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `model` on an NCHW batch of any size.

    The input is padded on the bottom and right up to multiples of
    `model.size_multiple` (reflect padding, or replicate when the pad is larger than
    the image allows) and the output is cropped back to the input height and width.
    """
    height, width = x.shape[-2:]
    multiple = model.size_multiple
    pad_h = -height % multiple
    pad_w = -width % multiple
    if pad_h == 0 and pad_w == 0:
        return model(x)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return model(padded)[..., :height, :width]
