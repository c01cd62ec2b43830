"""Training strategies, one file each; :func:`create_method` picks one by ``train.method``."""

from __future__ import annotations

from ..errors import ConfigError
from .base import Method
from .cyclegan import CycleGAN
from .mondal import Mondal
from .okada import Okada
from .paired import Paired
from .shukla import Shukla

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (CycleGAN, Paired, Okada, Shukla, Mondal)}


def create_method(cfg, sets, runtime) -> Method:
    name = cfg.train.method
    if name not in METHODS:
        raise ConfigError(f"train.method={name!r} is unknown; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name](cfg, sets, runtime)


__all__ = ["METHODS", "Method", "create_method"]
