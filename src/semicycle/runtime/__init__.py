"""Where and how computation runs: device, threads, precision, memory format, compilation, processes.

One module per concern: :mod:`.devices` (device, threads, precision), :mod:`.compilation` (channels_last and
torch.compile), :mod:`.processes` (torchrun and DistributedDataParallel); :mod:`.context` joins them in the
:class:`Runtime`. The public names are re-exported here.

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


from .compilation import COMPILE_MIN_STEPS, SWITCHES, compiler_problem
from .context import Runtime
from .devices import (
    AMP_DTYPES,
    AUTO_FP32_REASON,
    AUTO_PICKS_BF16,
    PRECISIONS,
    available_cores,
    cpu_has_native_bf16,
    cpu_hardware_bf16,
    cpu_kernels_capped_below_bf16,
    cuda_has_bf16,
    kernel_set,
    onednn_isa_cap,
    resolve_device,
    resolve_precision,
)
from .processes import Replica, process_environment

__all__ = [
    "AMP_DTYPES", "AUTO_FP32_REASON", "AUTO_PICKS_BF16", "COMPILE_MIN_STEPS", "PRECISIONS", "SWITCHES", "Replica",
    "Runtime", "available_cores", "compiler_problem", "cpu_has_native_bf16", "cpu_hardware_bf16",
    "cpu_kernels_capped_below_bf16", "cuda_has_bf16", "kernel_set", "onednn_isa_cap", "process_environment",
    "resolve_device", "resolve_precision",
]
