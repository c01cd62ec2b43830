"""Several processes: under ``torchrun`` (``WORLD_SIZE`` > 1) each process joins the process group (nccl on
CUDA, one GPU per local rank; gloo on CPU); the :class:`Processes` part of :class:`~semicycle.runtime.Runtime`
gives each trained network its own ``DistributedDataParallel`` and reduces what the ranks hold
(docs/distributed.md). In one process every operation here is the identity."""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as distributed_functional
from torch import nn
from torch.nn.parallel import DistributedDataParallel

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


class Processes:
    """The processes part of :class:`~semicycle.runtime.Runtime` (its fields: ``device``, ``rank``,
    ``world_size``)."""

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
