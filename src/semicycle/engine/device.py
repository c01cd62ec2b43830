"""Where and how computation runs: device, threads, precision, and (later) the process rank.

Everything device- or rank-specific is decided here, so mixed precision and multi-GPU (DDP) can be
added without touching the methods or the trainer loop.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name!r} is not a device (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but CUDA is not available here; use train.device=cpu or auto")
    return device


@dataclass
class Runtime:
    """The execution context shared by the trainer, the methods and inference."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @classmethod
    def create(cls, device: str = "auto", threads: int = 0) -> "Runtime":
        if threads > 0:
            torch.set_num_threads(threads)
        return cls(device=resolve_device(device))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def autocast(self):
        """Forward-pass context (mixed precision hooks in here; fp32 for now)."""
        return contextlib.nullcontext()

    def rng_state(self) -> dict:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state_all(state["cuda"])
