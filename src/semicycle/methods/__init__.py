"""Training strategies, one file each; :func:`create_method` picks one by ``train.method``."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method
from .cyclegan import CycleGAN

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (CycleGAN,)}


def create_method(cfg, data, runtime) -> Method:
    name = cfg.train.method
    if name not in METHODS:
        raise ConfigError(f"train.method={name!r} is unknown; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name](cfg, data, runtime)


__all__ = ["METHODS", "Method", "create_method"]
