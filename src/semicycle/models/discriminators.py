"""Discriminators: PatchGAN and PixelGAN (pix2pix, Isola et al. 2017, sec. 3.2.2), Mondal's pixel-wise D."""

import torch
from torch import nn

from semicycle.errors import ConfigError
from semicycle.models.layers import conv_bias, norm_layer, run_float32_tail


class PatchDiscriminator(nn.Module):
    """PatchGAN: one real/fake logit per overlapping input patch.

    C(ndf) without norm, then n_layers - 1 stride-2 convs with min(2**i, 8) * ndf
    channels, a stride-1 conv and a 1-channel stride-1 conv, all 4x4. n_layers=3 is
    the 70x70 PatchGAN of pix2pix and CycleGAN.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3,
                 norm: str = "instance"):
        super().__init__()
        if n_layers < 1:
            raise ConfigError(f"n_layers must be >= 1, got {n_layers}")
        bias = conv_bias(norm)
        layers = [nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = ndf
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            next_channels = min(2**i, 8) * ndf
            layers += [
                nn.Conv2d(channels, next_channels, 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, next_channels),
                nn.LeakyReLU(0.2, True),
            ]
            channels = next_channels
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.float32_layers = 1  # the score convolution, in float32 under autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_float32_tail(self.model, x, self.float32_layers)


class PixelDiscriminator(nn.Module):
    """1x1 PixelGAN: classifies every pixel on its own (receptive field 1)."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "instance"):
        super().__init__()
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        self.float32_layers = 1  # the score convolution, in float32 under autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_float32_tail(self.net, x, self.float32_layers)


class PixelwiseDiscriminator(nn.Module):
    """Mondal et al. 2019 (sec. 3.3): three conv blocks with LeakyReLU(0.2) and batch norm
    after the second; the real/fake score map has the input's size. The paper gives no kernel
    sizes: ``kernel_size`` 3 makes a 3x3, 3x3, 1x1 stack (receptive field 5, each score sees a
    pixel and its neighbours); 1 makes the all-1x1 stack of the authors' released code."""

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "batch", kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, kernel_size, padding=pad),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size, padding=pad, bias=conv_bias(norm)),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1),
        )
        self.float32_layers = 1  # the score convolution, in float32 under autocast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_float32_tail(self.net, x, self.float32_layers)


def receptive_field(model: nn.Module) -> int:
    """Receptive field (pixels per side) of a plain stack of Conv2d layers, walked in
    definition order: rf += (kernel - 1) * dilation * jump, then jump *= stride."""
    rf, jump = 1, 1
    for m in model.modules():
        if isinstance(m, (nn.ConvTranspose2d, nn.Upsample)):
            raise ConfigError("receptive_field only handles stacks of Conv2d (no upsampling)")
        if isinstance(m, nn.Conv2d):
            rf += (m.kernel_size[0] - 1) * m.dilation[0] * jump
            jump *= m.stride[0]
    return rf
