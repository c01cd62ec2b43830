"""The valid values of settings, shared by the run config, the methods' own settings and the code that reads
them (torch-free: the config imports this)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric key: between ``low`` and ``high`` (None: unbounded), inclusive
    unless ``open_low``/``open_high``; floats must also be finite. ``why`` ends the error message."""

    low: int | float | None = None
    high: int | float | None = None
    open_low: bool = False
    open_high: bool = False
    why: str = ""

    def admits(self, value: int | float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):  # nan compares False with everything
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)

    def describe(self, value: int | float) -> str:
        kind = "a whole number" if isinstance(value, int) else "a finite number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"
        if self.low is not None:
            return f"{kind} {'>' if self.open_low else '>='} {self.low}"
        return f"{kind} {'<' if self.open_high else '<='} {self.high}"


WEIGHT = Range(0, why="a loss weight; 0 switches the term off")

GAN_MODES = ("lsgan", "vanilla")  # adversarial losses against a constant target (semicycle.losses)
RELATIVISTIC_MODES = ("rasgan", "ralsgan")  # relativistic average adversarial losses
PAIRED_AUGMENTATIONS = ("none", "strong")  # the pairs' augmentation: crop and flip | + scale and colour jitter
