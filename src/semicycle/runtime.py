"""Where and how computation runs: device, threads, precision, memory format, compilation, processes.

Everything device-specific is decided here and applied through one object, :class:`Runtime`:

* ``autocast()`` wraps forward passes (bf16/fp16 mixed precision; a no-op in fp32),
* ``backward_step(loss, optimizer, key)`` runs backward and the optimizer step (with a GradScaler
  in fp16),
* ``prepare_models(modules)`` converts networks to channels_last and compiles them in place
  (``nn.Module.compile``: the module, its parameters and its ``state_dict`` keys stay the same, so
  checkpoints are unchanged),
* ``put(tensor)`` moves a batch tensor to the device in the networks' memory format,
* processes: under ``torchrun`` (``WORLD_SIZE`` > 1) ``create`` joins the process group (nccl on CUDA, one GPU
  per local rank; gloo on CPU), ``replicate(networks)`` gives each trained network its own
  ``DistributedDataParallel``, and ``mean_over_processes`` / ``gather_objects`` reduce what the ranks hold.

``auto`` settings pick, per device, the fastest combination measured to keep quality
(docs/performance.md): fp32 until ``AUTO_PICKS_BF16`` records that bf16 matches fp32's quality, then bf16
where the hardware computes it natively (CUDA with bf16; x86 CPUs with AVX512-BF16 or AMX); channels_last
and compilation with bf16 for long runs.
Parameters, optimizer states, losses, the networks' output layers and checkpoints stay float32 in every
precision.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
import torch.distributed.nn.functional as distributed_functional
from torch.nn.parallel import DistributedDataParallel

from .errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SWITCHES = ("auto", "true", "false")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# runtime.compile=auto compiles only runs with at least this many iterations left: compiling the four
# CycleGAN networks takes minutes on a 2-core CPU, and pays back after a few hundred steps.
COMPILE_MIN_STEPS = 2000
# Whether precision=auto (training and inference) may pick bf16: only once the fast path is shown to train
# to fp32's quality over the full schedule (benchmarks/precision_parity.py: okada and CycleGAN, 3 seeds
# each, every metric's mean difference within the seed spread) and its translations decode to fp32's label
# maps on >= 99.5% of pixels. Not yet: bf16 lowered okada's scores (docs/performance.md).
AUTO_PICKS_BF16 = False
AUTO_FP32_REASON = "auto: bf16 is not yet shown to match fp32's quality, docs/performance.md"
# Several processes: a collective that waits longer than this fails, so a rank that died or hangs makes the
# others exit with an error rather than wait for ever (torchrun usually stops them sooner).
PROCESS_TIMEOUT_S = 45
GLOO_SETTLE_S = 0.5  # see Runtime.close


def process_environment() -> tuple[int, int, int]:
    """(rank, world size, local rank) as torchrun sets them; (0, 1, 0) in a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def start_processes(device: torch.device) -> None:
    """Join torchrun's process group once per process: nccl on CUDA, gloo on the CPU."""
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=PROCESS_TIMEOUT_S))


class Replica:
    """A network as a training step calls it under several processes: through its own
    DistributedDataParallel while it trains (its gradients averaged over the processes), directly while it is
    frozen (``requires_grad`` off: a discriminator scoring the generator's outputs), so that no gradient
    all-reduce starts for it. ``module`` is the plain network (architecture, state_dict, eval)."""

    def __init__(self, module: nn.Module, wrapped: DistributedDataParallel):
        self.module, self.wrapped = module, wrapped
        self.first_parameter = next(module.parameters())

    def __call__(self, *args, **kwargs):
        return (self.wrapped if self.first_parameter.requires_grad else self.module)(*args, **kwargs)


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


def _switch(value, key: str) -> str:
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


@dataclass
class Runtime:
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
            cores = available_cores()
            if threads > cores:
                warnings.warn(
                    f"{label}.threads={threads} exceeds the {cores} cores this process may use; oversubscribed "
                    f"threads slow torch down (use {label}.threads=0 for one per core)",
                    stacklevel=2,
                )
            torch.set_num_threads(threads)
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
            channels_last_setting=_switch(channels_last, f"{label}.channels_last"),
            compile_setting=_switch(compile, f"{label}.compile"),
            label=label,
        )

    @property
    def is_main(self) -> bool:
        """The process that writes files (rank 0)."""
        return self.rank == 0

    # ------------------------------------------------------------------ processes
    def replicate(self, networks: dict[str, nn.Module]) -> dict:
        """What a training step calls: the networks themselves in one process; with several, one
        :class:`Replica` per network (DistributedDataParallel without buffer syncing in forward:
        ``forward_sync_buffers=False``, torch 2.13's name for ``broadcast_buffers=False``; batch norm
        synchronised on CUDA; on the CPU SyncBatchNorm does not run, so batch statistics stay per process)."""
        if self.world_size == 1:
            return dict(networks)
        replicas = {}
        for name, net in networks.items():
            if self.device.type == "cuda":
                nn.SyncBatchNorm.convert_sync_batchnorm(net)  # in place: the network's own layers are replaced
            elif any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules()) and self.is_main:
                warnings.warn(f"{name}: batch norm statistics stay per process on the CPU (SyncBatchNorm needs a GPU)",
                              stacklevel=2)
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            replicas[name] = Replica(net, DistributedDataParallel(net, device_ids=device_ids, forward_sync_buffers=False))
        return replicas

    def mean_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise mean of ``values`` over the processes (``values`` itself in one process)."""
        if self.world_size == 1:
            return values
        total = values.detach().clone()
        dist.all_reduce(total)
        return total / self.world_size

    def share(self, count: int) -> range:
        """This process's contiguous share of ``count`` items (all of them in one process)."""
        return range(self.rank * count // self.world_size, (self.rank + 1) * count // self.world_size)

    def batch_mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over the global batch, differentiable (every process holds as many
        elements): ``values.mean()`` in one process; a relativistic loss's E[.] under several."""
        if self.world_size == 1:
            return values.mean()
        return distributed_functional.all_reduce(values.sum()) / (values.numel() * self.world_size)

    def gather_objects(self, obj) -> list:
        """Every process's ``obj`` (picklable), in rank order, on every process."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    @contextlib.contextmanager
    def main_first(self):
        """The main process runs the block before the others (e.g. it writes a file that they then read)."""
        if self.world_size > 1 and not self.is_main:
            dist.barrier()
        yield
        if self.world_size > 1 and self.is_main:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group (at the end of a torchrun job)."""
        if self.world_size > 1 and dist.is_initialized():
            dist.barrier()  # every process is done with its collectives (leaving one by one can hang gloo)
            if dist.get_backend() == "gloo":
                # gloo's worker threads free the last collectives' tensors after the barrier returns and need the
                # GIL for it; were the process group destroyed (joining those threads) while this thread holds
                # the GIL, both would wait for ever (seen here in ~1 of 6 two-process runs; PyTorch issues
                # #75097, #190489). Sleeping lets them finish first.
                time.sleep(GLOO_SETTLE_S)
            dist.destroy_process_group()

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

    # ------------------------------------------------------------------ models and inputs
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
