"""Memory format and compilation: the :class:`Compilation` part of :class:`~semicycle.runtime.Runtime` decides
channels_last and torch.compile from their settings (``auto``: per device and run length), applies them to the
networks in place (same objects, same ``state_dict`` keys, so checkpoints are unchanged), falls back to eager
execution when the compiler fails, and puts batch tensors on the device in the networks' memory format."""

from __future__ import annotations

import sys
import time
import warnings

import torch
from torch import nn

from ..errors import ConfigError

SWITCHES = ("auto", "true", "false")
# runtime.compile=auto compiles only runs with at least this many iterations left: compiling the four
# CycleGAN networks takes minutes on a 2-core CPU, and pays back after a few hundred steps.
COMPILE_MIN_STEPS = 2000


def switch_setting(value, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value not in SWITCHES:
        raise ConfigError(f"{key}={value!r} is not one of: {', '.join(SWITCHES)}")
    return value


def compiler_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here (a missing compiler), or None."""
    try:
        if device.type == "cpu":
            from torch._inductor import cpp_builder

            cpp_builder.get_cpp_compiler()
        elif device.type == "cuda":
            from torch.utils._triton import has_triton

            if not has_triton():
                return "Triton is not installed (pip install triton)"
    except Exception as exc:  # the C++ compiler lookup raises when there is none
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no working C++ compiler for TorchInductor ({first}); install g++ or set CXX"
    return None


def _is_compiler_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(("torch._dynamo", "torch._inductor"))


class Compilation:
    """The memory-format and compilation part of :class:`~semicycle.runtime.Runtime` (its fields: ``device``,
    ``precision``, ``channels_last`` / ``compile`` and their settings, ``label``, ``compile_seconds``)."""

    def resolve_layout(self, planned_steps: int | None = None) -> None:
        """Decide compile and channels_last from their settings (``auto``: per device and run length)."""
        fast_hw = self.device.type == "cuda" or (self.device.type == "cpu" and self.precision == "bf16")
        if self.compile_setting == "auto":
            long_run = planned_steps is not None and planned_steps >= COMPILE_MIN_STEPS
            self.compile = fast_hw and long_run and self.precision != "fp32" and compiler_problem(self.device) is None
        else:
            self.compile = self.compile_setting == "true"
        if self.channels_last_setting == "auto":
            # oneDNN on CPU runs NCHW eager convolutions faster (measured); CUDA tensor cores want NHWC.
            self.channels_last = self.device.type == "cuda" or self.compile
        else:
            self.channels_last = self.channels_last_setting == "true"

    def prepare_models(self, modules, planned_steps: int | None = None, dynamic: bool | None = False) -> None:
        """Apply channels_last and torch.compile to ``modules`` in place (same objects, same state_dict keys)."""
        self.resolve_layout(planned_steps)
        modules = list(modules)
        if self.channels_last:
            for module in modules:
                module.to(memory_format=torch.channels_last)
        if not self.compile:
            return
        problem = compiler_problem(self.device)
        if problem is not None:
            self._compile_fallback(problem)
            return
        for module in modules:
            try:
                compiled = torch.compile(module._call_impl, dynamic=dynamic)
            except Exception as exc:
                self._compile_fallback(f"{type(exc).__name__}: {exc}")
                for other in modules:
                    other._compiled_call_impl = None
                return
            module._compiled_call_impl = self._guarded(module, compiled)

    def _guarded(self, module: nn.Module, compiled):
        """Call the compiled forward; on a compiler failure, warn once and run eagerly from then on."""

        def call(*args, **kwargs):
            if module._compiled_call_impl is None or self._compile_failed:
                return module._call_impl(*args, **kwargs)
            try:
                return compiled(*args, **kwargs)
            except Exception as exc:
                if not _is_compiler_error(exc):
                    raise
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                self._compile_fallback(f"{type(exc).__name__}: {first}")
                module._compiled_call_impl = None
                return module._call_impl(*args, **kwargs)

        return call

    def _compile_fallback(self, reason: str) -> None:
        self.compile = False
        if not self._compile_failed:
            warnings.warn(
                f"{self.label}.compile: torch.compile is not usable here ({reason}); running without compiling "
                f"(set {self.label}.compile=false to silence this)",
                stacklevel=3,
            )
        self._compile_failed = True

    def put(self, tensor: torch.Tensor) -> torch.Tensor:
        """A batch tensor on the device; 4-D float tensors in channels_last when the networks are."""
        tensor = tensor.to(self.device, non_blocking=True)
        if self.channels_last and tensor.dim() == 4 and tensor.is_floating_point():
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def timed_first_step(self, step, *args, **kwargs):
        """Run ``step`` once; with compilation on, record and report its wall time (the compile time)."""
        if not self.compile or self.compile_seconds is not None:
            return step(*args, **kwargs)
        start = time.perf_counter()
        out = step(*args, **kwargs)
        self.compile_seconds = time.perf_counter() - start
        if self.compile:  # still on: compiling did not fall back
            print(
                f"{self.label}.compile: the first step took {self.compile_seconds:.1f} s (compiling the networks; "
                "done once per process)",
                file=sys.stderr,
            )
        return out
