"""Generators: the ResNet of Johnson et al. used by CycleGAN, the U-Net of pix2pix, and a U-Net on an
ImageNet MobileNetV2 encoder."""

import torch
import torch.nn.functional as F
from torch import nn

from semicycle.errors import ConfigError
from semicycle.models.imagenet import IMAGENET_MEAN, IMAGENET_STD, MobileNetV2
from semicycle.models.layers import conv_bias, norm_layer, run_float32_tail

UPSAMPLES = ("transpose", "resize")
OUTPUTS = ("tanh", "logits")
ENCODER_BN = ("frozen", "train")


def _check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


def with_perturbed_copy(features: torch.Tensor, dropout: float) -> torch.Tensor:
    """(N, C, H, W) features followed by a copy under channel dropout (2N rows): the decoder then gives the
    clean prediction and UniMatch's feature-perturbed one in one pass (Yang et al. 2023, sec. 3.2)."""
    return torch.cat([features, F.dropout2d(features, dropout, training=True)])


def _output_head(output: str) -> list[nn.Module]:
    """Tanh for images in [-1, 1]; nothing for raw label-map logits."""
    _check_choice("output", output, OUTPUTS)
    return [nn.Tanh()] if output == "tanh" else []


class ResnetBlock(nn.Module):
    """Residual block with two reflection-padded 3x3 convs: x + block(x)."""

    def __init__(self, channels: int, norm: str, dropout: bool):
        super().__init__()
        bias = conv_bias(norm)
        layers = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=bias),
            norm_layer(norm, channels),
        ]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _upsample(in_channels: int, out_channels: int, mode: str, bias: bool) -> list[nn.Module]:
    """2x upsampling: a fractionally-strided conv (CycleGAN paper) or a nearest resize
    followed by a conv (resize-convolution, free of checkerboard artefacts)."""
    if mode == "transpose":
        return [
            nn.ConvTranspose2d(
                in_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=bias
            )
        ]
    return [
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.ReflectionPad2d(1),
        nn.Conv2d(in_channels, out_channels, 3, bias=bias),
    ]


class ResnetGenerator(nn.Module):
    """Johnson et al. (2016) generator as used by CycleGAN (Zhu et al. 2017, sec. 4):
    c7s1-ngf, d(2 ngf), d(4 ngf), n_blocks x R(4 ngf), u(2 ngf), u(ngf), c7s1-out.

    `output="logits"` drops the final tanh so the K output channels are raw class
    scores for label maps. The encoder is c7s1-d-d (the downsampling); with ``feature_dropout`` the residual
    blocks and upsampling also decode its features under channel dropout (:func:`with_perturbed_copy`).
    ``encoder_features=True`` returns the features CUT compares (Park et al. 2020, sec. 4 and appendix: the RGB
    input, the outputs of the two downsampling convolutions and of the first and the fifth residual block; the
    last residual block where there are fewer than five), computing no layer past the last of them.
    """

    size_multiple = 4
    separable_encoder = True  # forward(x, feature_dropout) decodes perturbed encoder features (UniMatch's FP)
    ENCODER_LAYERS = 10  # c7s1 (pad, conv, norm, ReLU) and two downsamplings (conv, norm, ReLU)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        upsample: str = "transpose",
        output: str = "tanh",
        dropout: bool = False,
    ):
        super().__init__()
        _check_choice("upsample", upsample, UPSAMPLES)
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}")
        bias = conv_bias(norm)
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for mult in (1, 2):
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(n_blocks)]
        for mult in (4, 2):
            layers += _upsample(ngf * mult, ngf * mult // 2, upsample, bias)
            layers += [norm_layer(norm, ngf * mult // 2), nn.ReLU(True)]
        output_layers = [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), *_output_head(output)]
        self.float32_layers = len(output_layers)
        self.model = nn.Sequential(*layers, *output_layers)
        blocks = [self.ENCODER_LAYERS + i for i in sorted({0, min(5, n_blocks) - 1}) if n_blocks]
        self.feature_layers = (4, 7, *blocks)  # model[i]'s outputs: the downsampling convolutions, residual blocks
        self.encoder_feature_channels = (in_channels, ngf * 2, ngf * 4, *[ngf * 4] * len(blocks))

    def forward(self, x: torch.Tensor, feature_dropout: float | None = None,
                encoder_features: bool = False) -> torch.Tensor | list[torch.Tensor]:
        if encoder_features:
            features, h = [x], x
            for index, layer in enumerate(self.model[: self.feature_layers[-1] + 1]):
                h = layer(h)
                if index in self.feature_layers:
                    features.append(h)
            return features
        if feature_dropout is None:
            return run_float32_tail(self.model, x, self.float32_layers)
        features = with_perturbed_copy(self.model[: self.ENCODER_LAYERS](x), feature_dropout)
        return run_float32_tail(self.model[self.ENCODER_LAYERS :], features, self.float32_layers)


class UnetBlock(nn.Module):
    """One U-Net level: down-conv, the inner levels, up-conv, with a skip connection
    that concatenates this level's input to its output (pix2pix, Isola et al. 2017)."""

    def __init__(
        self,
        outer_channels: int,
        inner_channels: int,
        norm: str,
        inner: "UnetBlock | None" = None,
        in_channels: int | None = None,
        outermost: bool = False,
        dropout: bool = False,
        head: list[nn.Module] | None = None,
    ):
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        innermost = inner is None
        in_channels = outer_channels if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner_channels, 4, stride=2, padding=1, bias=bias)
        up_conv = nn.ConvTranspose2d(
            inner_channels if innermost else inner_channels * 2,
            outer_channels,
            4,
            stride=2,
            padding=1,
            bias=True if outermost else bias,
        )
        # the outermost up-convolution and the head: the network's output layers (float32 under autocast)
        self.float32_layers = 1 + len(head or []) if outermost else 0
        if outermost:
            layers = [down_conv, inner, nn.ReLU(True), up_conv, *(head or [])]
        elif innermost:  # no norm on the 1x1 bottleneck
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                nn.ReLU(True),
                up_conv,
                norm_layer(norm, outer_channels),
            ]
        else:
            layers = [
                nn.LeakyReLU(0.2, True),
                down_conv,
                norm_layer(norm, inner_channels),
                inner,
                nn.ReLU(True),
                up_conv,
                norm_layer(norm, outer_channels),
            ]
            if dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return run_float32_tail(self.model, x, self.float32_layers)
        # The in-place LeakyReLU that opens self.model also activates x itself, so the
        # skip carries LeakyReLU(x), exactly as in the official pix2pix code.
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix U-Net (Isola et al. 2017, sec. 3.2.1 and appendix 6.1.1):
    encoder C64-C128-C256-C512-C512-..., 4x4 stride-2 convs, skip connections.

    `num_downs` halvings take a 2**num_downs image to 1x1. As in the official code,
    dropout 0.5 sits in the num_downs - 5 decoder blocks next to the innermost one
    (three for num_downs=8).

    ``encoder_features=True`` returns the features CUT compares: the input and the outputs of the first
    ``FEATURE_DOWNS`` down-convolutions (C64-C128-C256-C512 at ngf 64), the U-Net's counterpart of the layers
    Park et al. 2020 pick in the ResNet's encoder (its input and its first convolutions).
    """

    FEATURE_DOWNS = 4

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: str = "batch",
        dropout: bool = True,
        output: str = "tanh",
    ):
        super().__init__()
        if num_downs < 5:
            raise ConfigError(f"num_downs must be >= 5, got {num_downs}")
        self.num_downs = num_downs
        self.size_multiple = 2**num_downs
        block = UnetBlock(ngf * 8, ngf * 8, norm)
        for _ in range(num_downs - 5):
            block = UnetBlock(ngf * 8, ngf * 8, norm, inner=block, dropout=dropout)
        for mult in (4, 2, 1):
            block = UnetBlock(ngf * mult, ngf * mult * 2, norm, inner=block)
        self.model = UnetBlock(
            out_channels, ngf, norm, inner=block, in_channels=in_channels, outermost=True,
            head=_output_head(output),
        )
        self.encoder_feature_channels = (in_channels, ngf, ngf * 2, ngf * 4, ngf * 8)

    def _encoder_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input and the first down-convolutions' outputs, walking the nested blocks' down paths
        (a block's layers: LeakyReLU, down-conv, norm, inner block; the outermost: down-conv, inner block)."""
        block = self.model
        h = block.model[0](x)
        features = [x, h]
        while len(features) <= self.FEATURE_DOWNS:
            if not block.outermost:
                h = block.model[2](h)  # the level's norm, before its inner block
            block = block.model[1 if block.outermost else 3]
            h = block.model[1](F.leaky_relu(h, 0.2))  # not in place: h is a returned feature
            features.append(h)
        return features

    def forward(self, x: torch.Tensor, encoder_features: bool = False) -> torch.Tensor | list[torch.Tensor]:
        height, width = x.shape[-2:]
        if min(height, width) < self.size_multiple:
            largest = max(int(min(height, width)).bit_length() - 1, 0)
            raise ConfigError(
                f"input {height}x{width} is too small for a U-Net with {self.num_downs} "
                f"downsamplings; use num_downs <= {largest} or a larger image"
            )
        if height % self.size_multiple or width % self.size_multiple:
            raise ConfigError(
                f"input {height}x{width} is not a multiple of {self.size_multiple} "
                f"(2**num_downs); pad it, e.g. with semicycle.models.run_padded"
            )
        return self._encoder_features(x) if encoder_features else self.model(x)


class MobileNetV2UNet(nn.Module):
    """A U-Net on an ImageNet encoder: MobileNetV2's first 18 feature layers (Sandler et al. 2018, Table 2
    up to the 320-channel block, stride 32), then five decoder steps, each a 2x bilinear upsampling, the
    concatenation of the encoder's features of that stride (16, 8, 4, 2; at stride 1 the input itself) and
    a 3x3 conv - norm - ReLU (widths 4, 2, 1, 1, 1 x ngf), and a 3x3 conv to ``out_channels`` (+ tanh).

    Inputs are RGB in [-1, 1] as everywhere in semicycle; the network maps them to [0, 1] and normalises
    with the ImageNet mean and std itself. ``create_generator`` initialises every weight randomly: the
    ImageNet weights are copied into ``encoder`` (whose keys are torchvision's ``features.0`` ... ``17``) by
    :func:`semicycle.pretrained.load_pretrained_encoders` when a run starts; checkpoints then hold them.
    ``encoder_bn="frozen"`` keeps the encoder's batch-norm layers in eval mode (ImageNet statistics) even
    while training: small batches would otherwise overwrite them. With ``feature_dropout`` the decoder also
    reads the encoder's features (bottleneck and skips) under channel dropout (:func:`with_perturbed_copy`).
    ``encoder_features=True`` returns the features CUT compares: the input and the encoder's stride 2, 4, 8 and
    16 features (the skips), computing no encoder layer past them.
    """

    separable_encoder = True  # forward(x, feature_dropout) decodes perturbed encoder features (UniMatch's FP)
    pretrained_encoder = "mobilenet_v2"  # the ImageNet network whose features the encoder holds
    size_multiple = 32
    ENCODER_LAYERS = 18
    SKIP_LAYERS = (1, 3, 6, 13)  # encoder layers whose outputs are the stride 2, 4, 8 and 16 features
    SKIP_CHANNELS = (16, 24, 32, 96)
    BOTTLENECK_CHANNELS = 320

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        norm: str = "instance",
        output: str = "tanh",
        encoder_bn: str = "frozen",
    ):
        super().__init__()
        if in_channels != 3:
            raise ConfigError(
                f"mobilenet_v2_unet takes RGB photos (in_channels=3), not {in_channels} channels; use it for the "
                "photo -> label/image network (model.generator_AtoB) and another model.generator for label-map inputs"
            )
        _check_choice("encoder_bn", encoder_bn, ENCODER_BN)
        self.encoder_bn = encoder_bn
        self.encoder = nn.Sequential(*MobileNetV2.feature_layers()[: self.ENCODER_LAYERS])
        self.register_buffer("input_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        bias = conv_bias(norm)
        widths = (ngf * 4, ngf * 2, ngf, ngf, ngf)
        channels, blocks = self.BOTTLENECK_CHANNELS, []
        for width, skip in zip(widths, (*reversed(self.SKIP_CHANNELS), in_channels)):
            blocks.append(nn.Sequential(nn.Conv2d(channels + skip, width, 3, padding=1, bias=bias),
                                        norm_layer(norm, width), nn.ReLU(True)))
            channels = width
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Conv2d(channels, out_channels, 3, padding=1), *_output_head(output))
        self.encoder_feature_channels = (in_channels, *self.SKIP_CHANNELS)
        self.train()  # applies encoder_bn (nn.Module starts in training mode without calling train())

    def train(self, mode: bool = True) -> "MobileNetV2UNet":
        super().train(mode)
        if self.encoder_bn == "frozen":
            for module in self.encoder.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor, feature_dropout: float | None = None,
                encoder_features: bool = False) -> torch.Tensor | list[torch.Tensor]:
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise ConfigError(f"input {height}x{width} is not a multiple of {self.size_multiple} (MobileNetV2's stride); "
                              "pad it, e.g. with semicycle.models.run_padded")
        h = ((x + 1) * 0.5 - self.input_mean) / self.input_std
        skips = [x]
        encoder = self.encoder[: self.SKIP_LAYERS[-1] + 1] if encoder_features else self.encoder
        for index, layer in enumerate(encoder):
            h = layer(h)
            if index in self.SKIP_LAYERS:
                skips.append(h)
        if encoder_features:
            return skips
        if feature_dropout is not None:
            h = with_perturbed_copy(h, feature_dropout)
            skips = [torch.cat([x, x])] + [with_perturbed_copy(skip, feature_dropout) for skip in skips[1:]]
        for block, skip in zip(self.decoder, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = block(torch.cat([h, skip.to(h.dtype)], 1))
        return run_float32_tail(self.head, h, len(self.head))
