"""Training strategies, one file each, registered in ``METHODS``; :func:`create_method` picks one by
``train.method``. A new method is one file here plus its entry in ``METHODS``: its settings become the
config section of its name."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method
from .cyclegan import CycleGAN
from .mondal import Mondal
from .okada import Okada
from .paired import Paired
from .shukla import Shukla
from .unimatch import UniMatch

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (CycleGAN, Paired, Okada, Shukla, Mondal, UniMatch)}


def method_class(name: str) -> type[Method]:
    if name not in METHODS:
        raise ConfigError(f"train.method={name!r} is unknown; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def method_sections(name: str) -> list[str]:
    """The config sections a method reads: its own and those of the methods it builds on (okada: okada,
    cyclegan)."""
    return [cls.name for cls in method_class(name).__mro__ if isinstance(cls, type) and issubclass(cls, Method) and cls.settings]


def create_method(cfg, sets, runtime) -> Method:
    return method_class(cfg.train.method)(cfg, sets, runtime)


__all__ = ["METHODS", "Method", "create_method", "method_class", "method_sections"]
