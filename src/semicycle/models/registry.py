"""Name -> architecture registry for generators and discriminators (in the manner of
timm's model registry). Created models carry `model.arch`, a plain dict from which
`build_from_arch` rebuilds them, so checkpoints need no architecture flags."""

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from semicycle.errors import ConfigError
from semicycle.models.discriminators import PatchDiscriminator, PixelDiscriminator, PixelwiseDiscriminator
from semicycle.models.generators import MobileNetV2UNet, ResnetGenerator, UnetGenerator
from semicycle.models.layers import init_weights

KINDS = ("generator", "discriminator")


@dataclass(frozen=True)
class SizeRule:
    """The square input sizes a network can train on: multiples of `multiple`, at least
    `minimum`; the reasons are shown in the error for other sizes."""

    multiple: int = 1
    minimum: int = 1
    why_multiple: str = ""
    why_minimum: str = ""

    def problem(self, size: int) -> str | None:
        """None if `size` works, else "needs ... (e.g. N; why)"."""
        needs, why = [], []
        if size % self.multiple:
            needs.append(f"a multiple of {self.multiple}")
            why.append(self.why_multiple)
        if size < self.minimum and (self.minimum > self.multiple or not needs):  # else implied by the multiple
            needs.append(f"at least {self.minimum}")
            why.append(self.why_minimum)
        if not needs:
            return None
        example = -(-max(size, self.minimum) // self.multiple) * self.multiple  # the next size that works
        return f"needs {' and '.join(needs)} (e.g. {example}; {'; '.join(w for w in why if w)})"


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any]
    size_rule: Callable[..., SizeRule] | None = None  # resolved constructor arguments -> SizeRule

    def accepted(self) -> list[str]:
        return list(inspect.signature(self.builder).parameters)

    def resolve(self, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Every constructor argument's value: registry defaults, overridden by kwargs."""
        accepted = self.accepted()
        for key in kwargs:
            if key not in accepted:
                raise ConfigError(
                    f"unknown argument {key!r} for {name!r}; accepted: {', '.join(accepted)}"
                )
        bound = inspect.signature(self.builder).bind(**{**self.defaults, **kwargs})
        bound.apply_defaults()
        return {key: _plain(key, value) for key, value in bound.arguments.items()}


_REGISTRIES: dict[str, dict[str, _Entry]] = {kind: {} for kind in KINDS}


def _plain(key: str, value: Any) -> Any:
    """`value` as a plain Python type (bool, int, float, str, None or list of these)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(key, item) for item in value]
    if hasattr(value, "item"):  # numpy or torch scalar
        return value.item()
    raise ConfigError(
        f"argument {key!r} must be a number, string or list, got {type(value).__name__}"
    )


def _registry(kind: str) -> dict[str, _Entry]:
    if kind not in _REGISTRIES:
        raise ConfigError(f"unknown model kind {kind!r}; choose one of {', '.join(KINDS)}")
    return _REGISTRIES[kind]


def _register(kind: str, name: str, defaults: dict[str, Any], size_rule=None):
    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        entry = _Entry(builder, dict(defaults), size_rule)
        entry.resolve(name, {})  # reject defaults the builder does not accept
        _registry(kind)[name] = entry
        return builder

    return decorator


def register_generator(name: str, *, size_rule: Callable[..., SizeRule] | None = None, **defaults: Any):
    """Decorator registering a generator class or factory under `name` with default
    keyword arguments: `register_generator("resnet_6blocks", n_blocks=6)(ResnetGenerator)`.
    `size_rule(**constructor_arguments) -> SizeRule` tells which training sizes it takes
    (None: any)."""
    return _register("generator", name, defaults, size_rule)


def register_discriminator(name: str, *, size_rule: Callable[..., SizeRule] | None = None, **defaults: Any):
    """Decorator registering a discriminator class or factory; see register_generator."""
    return _register("discriminator", name, defaults, size_rule)


def _entry(kind: str, name: str) -> _Entry:
    registry = _registry(kind)
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of {', '.join(sorted(registry))}")
    return registry[name]


def registered_defaults(kind: str, name: str) -> dict[str, Any]:
    """The keyword arguments that the registry entry `name` fixes (e.g. the norm of Mondal's Ds)."""
    return dict(_entry(kind, name).defaults)


def generator_kwargs(model, name: str = "") -> dict[str, Any]:
    """Constructor arguments of the generator ``name`` (default ``model.generator``) from the run's model
    settings (``ModelConfig``): those of its settings that the generator takes."""
    accepted = _entry("generator", name or model.generator).accepted()
    kw: dict[str, Any] = dict(ngf=model.ngf, norm=model.norm)
    for key in ("upsample", "encoder_bn"):
        if key in accepted:
            kw[key] = getattr(model, key)
    return kw


def discriminator_kwargs(model, in_channels: int = 3) -> dict[str, Any]:
    """Constructor arguments of ``model.discriminator`` from the run's model settings (``ModelConfig``)."""
    kw: dict[str, Any] = dict(in_channels=in_channels, ndf=model.ndf)
    if model.discriminator == "patchgan":
        kw["n_layers"] = model.d_layers
    if "norm" not in registered_defaults("discriminator", model.discriminator):  # e.g. Mondal's Ds keep batch norm
        kw["norm"] = model.norm
    return kw


def size_rule(kind: str, name: str, **kwargs: Any) -> SizeRule:
    """The input sizes the registered model `name`, built with `kwargs`, can train on."""
    entry = _entry(kind, name)
    if entry.size_rule is None:
        return SizeRule()
    return entry.size_rule(**entry.resolve(name, kwargs))


def input_size_problem(kind: str, name: str, size: int, **kwargs: Any) -> str | None:
    """Why `name` (built with `kwargs`) cannot train on size x size inputs, or None if it can:
    e.g. "needs a multiple of 4 (e.g. 32; ...)". Inference pads any size (`run_padded`)."""
    return size_rule(kind, name, **kwargs).problem(size)


def list_generators() -> list[str]:
    return sorted(_REGISTRIES["generator"])


def list_discriminators() -> list[str]:
    return sorted(_REGISTRIES["discriminator"])


def _build(kind: str, name: str, kwargs: dict[str, Any]) -> nn.Module:
    entry = _entry(kind, name)
    resolved = entry.resolve(name, kwargs)
    model = entry.builder(**resolved)
    model.arch = {"name": name, "kwargs": resolved}
    return model


def create_generator(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered generator `name` with N(0, 0.02) weights (global torch RNG)."""
    return init_weights(_build("generator", name, kwargs), std=0.02)


def create_discriminator(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered discriminator `name` with N(0, 0.02) weights (global torch RNG)."""
    return init_weights(_build("discriminator", name, kwargs), std=0.02)


def build_from_arch(arch: dict[str, Any], kind: str) -> nn.Module:
    """Rebuild a model from its `model.arch` dict (weights left at PyTorch defaults,
    to be overwritten by a checkpoint's state dict)."""
    valid = (
        isinstance(arch, dict)
        and isinstance(arch.get("name"), str)
        and isinstance(arch.get("kwargs", {}), dict)
    )
    if not valid:
        raise ConfigError(
            f"invalid {kind} arch {arch!r}; expected {{'name': str, 'kwargs': dict}}"
        )
    return _build(kind, arch["name"], arch.get("kwargs", {}))


# Training sizes, measured by running each network in train mode on batches of one (every norm):
# ResNet: 2 stride-2 convs (k3 p1: ceil(s/2)) then 2 exact 2x upsamplings give 4*ceil(s/4), so only
#   multiples of 4 come back at their own size; at 4 the 1x1 bottleneck cannot be normalised or
#   reflection-padded: 8, 12, 16, ... work.
# U-Net: 2**num_downs multiples only (its forward refuses others).
# MobileNetV2 U-Net: multiples of 32 (its forward refuses others); 32 leaves a 1x1 bottleneck, whose
#   batch norm keeps ImageNet's statistics (encoder_bn=frozen; with encoder_bn=train a batch of one needs 64).
# PatchGAN: n_layers stride-2 k4 p1 convs (floor(s/2) each), then two stride-1 k4 p1 convs (-1
#   each): s // 2**n_layers - 2 >= 1 output pixels, i.e. s >= 3 * 2**n_layers (24 for n_layers=3);
#   odd sizes are fine.
# Pixel discriminators: a norm over one pixel fails: s >= 2.
def _resnet_sizes(**_: Any) -> SizeRule:
    return SizeRule(4, 8, why_multiple="two stride-2 downsamplings and two 2x upsamplings bring other sizes back resized",
                    why_minimum="smaller crops leave a 1x1 bottleneck, which cannot be normalised")


def _unet_sizes(num_downs: int, **_: Any) -> SizeRule:
    multiple = 2**num_downs
    return SizeRule(multiple, multiple, why_multiple=f"{num_downs} stride-2 downsamplings take it to 1x1",
                    why_minimum=f"{num_downs} stride-2 downsamplings take it to 1x1")


def _mobilenet_sizes(encoder_bn: str, **_: Any) -> SizeRule:
    if encoder_bn == "train":  # batch norm needs more than one value per channel: 2x2 at stride 32
        return SizeRule(32, 64, why_multiple="MobileNetV2 downsamples 5 times and the decoder upsamples back",
                        why_minimum="with encoder_bn=train, batch norm at stride 32 needs more than one pixel")
    return SizeRule(32, 32, why_multiple="MobileNetV2 downsamples 5 times and the decoder upsamples back",
                    why_minimum="MobileNetV2 downsamples 5 times")


def _patch_sizes(n_layers: int, **_: Any) -> SizeRule:
    return SizeRule(1, 3 * 2**n_layers, why_minimum=f"its {n_layers} stride-2 and two more 4x4 convolutions leave no patch to score")


def _pixel_sizes(**_: Any) -> SizeRule:
    return SizeRule(1, 2, why_minimum="its normalisation needs more than one pixel")


register_generator("resnet_9blocks", n_blocks=9, size_rule=_resnet_sizes)(ResnetGenerator)
register_generator("resnet_6blocks", n_blocks=6, size_rule=_resnet_sizes)(ResnetGenerator)
register_generator("unet_128", num_downs=7, size_rule=_unet_sizes)(UnetGenerator)
register_generator("unet_256", num_downs=8, size_rule=_unet_sizes)(UnetGenerator)
register_generator("mobilenet_v2_unet", size_rule=_mobilenet_sizes)(MobileNetV2UNet)
register_discriminator("patchgan", n_layers=3, size_rule=_patch_sizes)(PatchDiscriminator)
register_discriminator("pixelgan", size_rule=_pixel_sizes)(PixelDiscriminator)
# Mondal's pixel-wise Ds keep the paper's batch norm, whatever model.norm says.
register_discriminator("pixelwise", norm="batch", size_rule=_pixel_sizes)(PixelwiseDiscriminator)
register_discriminator("pixelwise_1x1", norm="batch", kernel_size=1, size_rule=_pixel_sizes)(PixelwiseDiscriminator)
