"""The :class:`Runtime`: one object through which the trainer, the methods and inference apply every
device-specific decision (see :mod:`semicycle.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .compilation import Compilation, switch_setting
from .devices import DeviceAndPrecision, resolve_device, resolve_precision, set_threads
from .processes import Processes, process_environment, start_processes


@dataclass
class Runtime(Processes, Compilation, DeviceAndPrecision):
    """The execution context shared by the trainer, the methods and inference."""

    device: torch.device
    precision: str = "fp32"  # resolved: fp32 | bf16 | fp16
    channels_last: bool = False  # resolved by prepare_models
    compile: bool = False  # resolved by prepare_models
    precision_setting: str = "fp32"  # auto | fp32 | bf16 | fp16
    channels_last_setting: str = "false"  # auto | true | false
    compile_setting: str = "false"  # auto | true | false
    label: str = "runtime"  # config section named in messages
    rank: int = 0  # this process among world_size (batch sources take their share of the global batch)
    world_size: int = 1
    scalers: dict = field(default_factory=dict)
    compile_seconds: float | None = None  # wall time of the first compiled step (reported once)
    _compile_failed: bool = False

    @classmethod
    def create(
        cls,
        device: str = "auto",
        threads: int = 0,
        precision: str = "fp32",
        channels_last="false",
        compile="false",
        label: str = "runtime",
    ) -> "Runtime":
        """Resolve the device and precision now; channels_last/compile when the models are prepared.

        ``threads > 0`` sets torch's intra-op threads (default: one per core available to the process).
        """
        if threads > 0:
            set_threads(threads, label)
        dev = resolve_device(device)
        rank, world_size, local_rank = process_environment()
        if world_size > 1:
            if dev.type == "cuda":  # one GPU per local rank
                dev = torch.device("cuda", local_rank)
                torch.cuda.set_device(dev)
            start_processes(dev)
        return cls(
            device=dev,
            rank=rank,
            world_size=world_size,
            precision=resolve_precision(precision, dev, f"{label}.precision"),
            precision_setting=precision,
            channels_last_setting=switch_setting(channels_last, f"{label}.channels_last"),
            compile_setting=switch_setting(compile, f"{label}.compile"),
            label=label,
        )
