"""Training strategies, one file each, registered in ``METHODS``; :func:`create_method` picks one by
``train.method``. A new method is one file here plus its entry in ``METHODS`` and its settings in
``semicycle.method_settings.METHOD_SETTINGS`` (the config section of its name)."""

from __future__ import annotations

from ..method_settings import check_method
from .base import Method
from .cut import CUT
from .cyclegan import CycleGAN
from .mondal import Mondal
from .okada import Okada
from .paired import Paired
from .shukla import Shukla
from .unimatch import UniMatch

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (CycleGAN, Paired, Okada, Shukla, Mondal, UniMatch, CUT)}


def method_class(name: str) -> type[Method]:
    return METHODS[check_method(name)]


def create_method(cfg, sets, runtime) -> Method:
    return method_class(cfg.train.method)(cfg, sets, runtime)


__all__ = ["METHODS", "Method", "create_method", "method_class"]
