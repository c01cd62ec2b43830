"""Name -> architecture registry for generators and discriminators (in the manner of
timm's model registry). Created models carry `model.arch`, a plain dict from which
`build_from_arch` rebuilds them, so checkpoints need no architecture flags."""

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from semicycle.errors import ConfigError
from semicycle.models.discriminators import PatchDiscriminator, PixelDiscriminator, PixelwiseDiscriminator
from semicycle.models.generators import ResnetGenerator, UnetGenerator
from semicycle.models.layers import init_weights

KINDS = ("generator", "discriminator")


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., nn.Module]
    defaults: dict[str, Any]

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


def _register(kind: str, name: str, defaults: dict[str, Any]):
    def decorator(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        entry = _Entry(builder, dict(defaults))
        entry.resolve(name, {})  # reject defaults the builder does not accept
        _registry(kind)[name] = entry
        return builder

    return decorator


def register_generator(name: str, **defaults: Any):
    """Decorator registering a generator class or factory under `name` with default
    keyword arguments: `register_generator("resnet_6blocks", n_blocks=6)(ResnetGenerator)`."""
    return _register("generator", name, defaults)


def register_discriminator(name: str, **defaults: Any):
    """Decorator registering a discriminator class or factory; see register_generator."""
    return _register("discriminator", name, defaults)


def _entry(kind: str, name: str) -> _Entry:
    registry = _registry(kind)
    if name not in registry:
        raise ConfigError(f"unknown {kind} {name!r}; choose one of {', '.join(sorted(registry))}")
    return registry[name]


def registered_defaults(kind: str, name: str) -> dict[str, Any]:
    """The keyword arguments that the registry entry `name` fixes (e.g. the norm of Mondal's Ds)."""
    return dict(_entry(kind, name).defaults)


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


register_generator("resnet_9blocks", n_blocks=9)(ResnetGenerator)
register_generator("resnet_6blocks", n_blocks=6)(ResnetGenerator)
register_generator("unet_128", num_downs=7)(UnetGenerator)
register_generator("unet_256", num_downs=8)(UnetGenerator)
register_discriminator("patchgan", n_layers=3)(PatchDiscriminator)
register_discriminator("pixelgan")(PixelDiscriminator)
register_discriminator("pixelwise", norm="batch")(PixelwiseDiscriminator)  # the paper's batch norm, whatever model.norm says
register_discriminator("pixelwise_1x1", norm="batch", kernel_size=1)(PixelwiseDiscriminator)
