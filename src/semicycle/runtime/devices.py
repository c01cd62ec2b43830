"""The device and the precision: which device runs, which precision it computes in (``auto``: per device,
``AUTO_PICKS_BF16``), what its kernels are, and the :class:`DeviceAndPrecision` part of
:class:`~semicycle.runtime.Runtime`: autocast, loss scaling (fp16), random streams, its description."""

from __future__ import annotations

import contextlib
import os
import warnings

import torch

from ..errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Whether precision=auto (training and inference) may pick bf16: only once the fast path is shown to train
# to fp32's quality over the full schedule (benchmarks/precision_parity.py: okada and CycleGAN, 3 seeds
# each, every metric's mean difference within the seed spread) and its translations decode to fp32's label
# maps on >= 99.5% of pixels. Not yet: bf16 lowered okada's scores (docs/performance.md).
AUTO_PICKS_BF16 = False
AUTO_FP32_REASON = "auto: bf16 is not yet shown to match fp32's quality, docs/performance.md"


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
        raise ConfigError(f"runtime.device={name!r} is not a device (use auto, cpu, cuda, cuda:N or mps)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"runtime.device={name} but CUDA is not available here; use runtime.device=cpu or auto")
    return device


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; all cores where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# oneDNN instruction-set caps (ONEDNN_MAX_CPU_ISA) below AVX512_CORE_BF16: no bf16 instructions.
_ONEDNN_ISAS_WITHOUT_BF16 = frozenset(
    {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI"}
)


def onednn_isa_cap() -> str:
    """The oneDNN instruction-set cap set in the environment (ONEDNN_MAX_CPU_ISA, formerly DNNL_MAX_CPU_ISA), or ""."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA", os.environ.get("DNNL_MAX_CPU_ISA", "")).upper()


def cpu_kernels_capped_below_bf16() -> str | None:
    """The setting that keeps PyTorch's CPU kernels off bf16 instructions, or None.

    ``ATEN_CPU_CAPABILITY=avx2`` (read back through ``torch.backends.cpu.get_cpu_capability()``)
    and ``ONEDNN_MAX_CPU_ISA=AVX2`` make a bf16 CPU run the kernels of an AVX2-only one, where bf16 is
    emulated; with either, the CPU counts as having no native bf16, so one command reproduces an AVX2
    machine's choices.
    """
    capability = torch.backends.cpu.get_cpu_capability()
    if capability in ("DEFAULT", "NO AVX", "AVX2"):
        return f"PyTorch's CPU capability is {capability} (ATEN_CPU_CAPABILITY)"
    onednn = onednn_isa_cap()
    if onednn in _ONEDNN_ISAS_WITHOUT_BF16:
        return f"ONEDNN_MAX_CPU_ISA={onednn}"
    return None


def kernel_set(device: torch.device) -> str:
    """Which kernels compute on ``device``: the GPU's name, or PyTorch's CPU capability (and a oneDNN cap when one
    is set). Runs trained on different kernels differ in their last digits, so their scores differ too
    (GAN runs retrained on another CPU moved about as much as another seed); a checkpoint records this to say where its numbers came from."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type != "cpu":
        return device.type
    onednn = onednn_isa_cap()
    return f"cpu {torch.backends.cpu.get_cpu_capability()}" + (f", oneDNN {onednn}" if onednn else "")


def cpu_hardware_bf16() -> bool:
    """Whether this CPU has bf16 instructions (x86 AVX512-BF16 or AMX tiles), whatever the kernels use."""
    cpu = getattr(torch, "cpu", None)
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(cpu, probe, None)
        try:
            if check is not None and check():
                return True
        except Exception:  # private API: absent or failing on some builds means "no"
            pass
    return False


def cpu_has_native_bf16() -> bool:
    """Whether PyTorch computes bf16 in hardware on this CPU: bf16 instructions, kernels not capped.

    Elsewhere (e.g. AVX2-only CPUs such as AMD Zen 3) PyTorch emulates bf16 convolutions and matrix
    products, which we measured 20-500x slower than fp32, so ``precision=auto`` stays in fp32 there.
    """
    return cpu_kernels_capped_below_bf16() is None and cpu_hardware_bf16()


def cuda_has_bf16(device: torch.device) -> bool:
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # older signature
        return bool(torch.cuda.is_bf16_supported())


def resolve_precision(requested: str, device: torch.device, key: str = "runtime.precision") -> str:
    """``auto`` -> the precision to run in on ``device``; explicit choices are checked."""
    if requested not in PRECISIONS:
        raise ConfigError(f"{key}={requested!r} is not one of: {', '.join(PRECISIONS)}")
    kind = device.type
    if requested == "auto":
        if not AUTO_PICKS_BF16:
            return "fp32"
        if kind == "cuda":
            return "bf16" if cuda_has_bf16(device) else "fp32"
        if kind == "cpu":
            return "bf16" if cpu_has_native_bf16() else "fp32"
        return "fp32"
    if requested == "fp32":
        return requested
    if kind == "cpu":
        if requested == "fp16":
            raise ConfigError(
                f"{key}=fp16 needs a CUDA GPU; on a CPU use {key}=bf16 "
                "(fast on CPUs with AVX512-BF16 or AMX) or fp32 (or auto, which picks for you)"
            )
        if not cpu_has_native_bf16():
            warnings.warn(
                f"{key}=bf16: this CPU has no native bf16 (AVX512-BF16/AMX), so PyTorch emulates it "
                f"and runs many times slower than in fp32; use {key}=auto or fp32 for speed",
                stacklevel=3,
            )
        return requested
    if kind == "cuda":
        if requested == "bf16" and not cuda_has_bf16(device):
            raise ConfigError(f"{key}=bf16: this GPU has no bf16 support; use {key}=fp16 (with loss scaling) or fp32")
        return requested
    raise ConfigError(f"{key}={requested} is supported on cpu and cuda devices, not {kind}; use {key}=fp32")


def set_threads(threads: int, label: str) -> None:
    """``threads > 0``: torch's intra-op threads (warning when they exceed the cores this process may use)."""
    cores = available_cores()
    if threads > cores:
        warnings.warn(
            f"{label}.threads={threads} exceeds the {cores} cores this process may use; oversubscribed "
            f"threads slow torch down (use {label}.threads=0 for one per core)",
            stacklevel=3,
        )
    torch.set_num_threads(threads)


class DeviceAndPrecision:
    """The device and precision part of :class:`~semicycle.runtime.Runtime` (its fields: ``device``,
    ``precision``, ``precision_setting``, ``scalers``, ``channels_last``, ``compile``)."""

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return AMP_DTYPES.get(self.precision)

    # ------------------------------------------------------------------ precision
    def autocast(self):
        """Forward-pass context: bf16/fp16 autocast, or nothing in fp32. Losses cast to float32 themselves."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def scaler(self, key: str):
        """The GradScaler of optimizer ``key`` (fp16 only; None otherwise)."""
        if self.precision != "fp16":
            return None
        if key not in self.scalers:
            self.scalers[key] = torch.amp.GradScaler(self.device.type)
        return self.scalers[key]

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, key: str) -> None:
        """``loss.backward(); optimizer.step()``, with dynamic loss scaling in fp16."""
        scaler = self.scaler(key)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def scaler_state(self) -> dict:
        return {key: scaler.state_dict() for key, scaler in self.scalers.items()}

    def load_scaler_state(self, state: dict) -> None:
        for key, value in (state or {}).items():
            scaler = self.scaler(key)
            if scaler is not None:
                scaler.load_state_dict(value)

    # ------------------------------------------------------------------ RNG
    def rng_state(self) -> dict:
        state = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def set_rng_state(self, state: dict) -> None:
        torch.set_rng_state(state["torch"])
        if self.device.type == "cuda" and "cuda" in state:
            torch.cuda.set_rng_state_all(state["cuda"])

    def describe(self) -> dict:
        return {
            "device": str(self.device),
            "threads": torch.get_num_threads(),
            "precision": self.precision,
            "channels_last": self.channels_last,
            "compile": self.compile,
            "kernels": kernel_set(self.device),
            "torch": str(torch.__version__),  # a plain str: TorchVersion does not load with weights_only
        }

    def summary(self) -> str:
        d = self.describe()
        why = ""
        if self.device.type == "cpu" and self.precision == "fp32" and not cpu_has_native_bf16():
            why = " (no native bf16 on this CPU)"
        elif self.precision_setting == "auto" and self.precision == "fp32" and not AUTO_PICKS_BF16:
            why = f" ({AUTO_FP32_REASON})"
        return (
            f"runtime: {d['device']}, {d['threads']} threads, {d['precision']}{why}, "
            f"channels_last {'on' if d['channels_last'] else 'off'}, compile {'on' if d['compile'] else 'off'}"
        )
