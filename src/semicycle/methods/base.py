"""What every training strategy provides to the trainer, and the wiring the strategies share.

A method reads its own settings (the config section named after the method, declared with the valid
ranges and choices of its keys in :mod:`semicycle.method_settings`), builds its batch source from the config and the
training sets without building networks (:meth:`Method.make_batches`, so a run can be planned cheaply),
and implements one optimisation step on a :class:`~semicycle.data.batches.Batch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ..data.batches import BatchSource, JointBatches, PairedBatches, UnpairedBatches
from ..data.pairing import TrainingSets
from ..errors import ConfigError
from ..models import create_generator, generator_kwargs
from ..runtime import Runtime

if TYPE_CHECKING:
    from ..config import Config


class Method:
    """A training strategy: its networks, optimizers, minibatch source and one training step.

    Subclasses set ``name`` (also their config section, registered in ``semicycle.method_settings``), implement
    :meth:`make_batches` and :meth:`train_step`, and in ``__init__`` fill ``networks`` ({name: module}),
    ``optimizers`` ({name: optimizer}) and ``translators`` ({"AtoB"/"BtoA": network name}). A training step
    calls networks through ``replicas`` and uses ``networks`` for everything else (freezing, state).
    """

    name = ""

    def __init__(self, cfg: Config, sets: TrainingSets, runtime: Runtime):
        self.cfg, self.sets, self.runtime = cfg, sets, runtime
        self.palette = sets.palette
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.translators: dict[str, str] = {}
        self.batches = self.make_batches(cfg, sets, runtime.rank, runtime.world_size)
        self._replicas: dict | None = None

    @property
    def replicas(self) -> dict:
        """What a training step calls: the networks, or under several processes their replicas
        (:meth:`replicate`), which average the gradients of what they train over the processes."""
        return self._replicas if self._replicas is not None else self.networks

    def replicate(self) -> None:
        """Let the runtime replicate the networks (once, after they are prepared: compiled, channels_last)."""
        self._replicas = self.runtime.replicate(self.networks)

    @classmethod
    def make_batches(cls, cfg: Config, sets: TrainingSets, rank: int = 0, world_size: int = 1) -> BatchSource:
        """The method's batch source (refusing training sets it cannot use); builds no network."""
        raise NotImplementedError

    def adam(self, *modules: nn.Module) -> torch.optim.Adam:
        """Adam over ``modules`` at ``train.lr``; a pretrained encoder (``module.pretrained_encoder``) gets its
        own parameter group at ``train.lr * model.encoder_lr_scale``, or with a scale of 0 is frozen
        (``requires_grad`` off, outside the optimizer). The schedule scales every group alike."""
        t, scale = self.cfg.train, self.cfg.model.encoder_lr_scale
        encoder = [p for m in modules if getattr(m, "pretrained_encoder", None) for p in m.encoder.parameters()]
        in_encoder = {id(p) for p in encoder}
        groups = [{"params": [p for m in modules for p in m.parameters() if id(p) not in in_encoder]}]
        if encoder and scale > 0:
            groups.append({"params": encoder, "lr": t.lr * scale})
        for p in encoder:
            p.requires_grad_(scale > 0)
        return torch.optim.Adam(groups, lr=t.lr, betas=(t.beta1, t.beta2))

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimizer ``name`` (loss scaling in fp16 is the runtime's job)."""
        self.runtime.backward_step(loss, self.optimizers[name], name)

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        """One optimisation step on a :class:`~semicycle.data.batches.Batch` already on the device;
        returns detached scalar losses by name."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Method-specific state beyond networks and optimizers (e.g. image pools)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def unpaired_batches(cfg: Config, sets: TrainingSets, rank: int, world_size: int) -> UnpairedBatches:
    """The two unpaired streams, ``train.batch_size`` per process, cropped and flipped as ``data`` says."""
    t, d = cfg.train, cfg.data
    return UnpairedBatches(sets.unpaired_A, sets.unpaired_B, t.batch_size, d.crop_size, d.flip, t.seed, rank, world_size)


def paired_batches(cfg: Config, sets: TrainingSets, rank: int, world_size: int, batch_size: int = 0,
                   per_epoch: int = 0, needed_by: str = "", augment: str = "none") -> PairedBatches:
    """The paired rows (``pairs.batch_size`` per process unless ``batch_size``); ``needed_by`` names the
    method in the error when the run has no pairs."""
    rows = sets.paired_rows
    if not rows and needed_by:
        raise ConfigError(f"{needed_by} needs paired samples: set pairs.rate (e.g. 0.1), pairs.count or pairs.list")
    t, d = cfg.train, cfg.data
    size = batch_size or cfg.pairs.batch_size or t.batch_size
    return PairedBatches(sets.data, rows, size, d.crop_size, d.flip, t.seed, per_epoch, rank, world_size, augment)


def replicated_pairs_batches(cfg: Config, sets: TrainingSets, rank: int, world_size: int, needed_by: str) -> JointBatches:
    """An unpaired batch (``train.batch_size``) and a paired one (``pairs.batch_size``) at every step: the pairs
    are replicated (reshuffled) to last the unpaired epoch (Mondal's and UniMatch's schedule)."""
    unpaired = unpaired_batches(cfg, sets, rank, world_size)
    per_epoch = unpaired.steps_per_epoch * (cfg.pairs.batch_size or cfg.train.batch_size) * world_size
    return JointBatches(unpaired, paired_batches(cfg, sets, rank, world_size, per_epoch=per_epoch, needed_by=needed_by))


def build_generator(cfg: Config, runtime: Runtime, a_to_b: bool = False, **kwargs) -> nn.Module:
    """A generator on the runtime's device: for the A -> B (photo -> label/image) network
    ``model.generator_AtoB`` if set, else ``model.generator``; ``kwargs`` override the model settings."""
    m = cfg.model
    name = (m.generator_AtoB or m.generator) if a_to_b else m.generator
    return create_generator(name, **{**generator_kwargs(m, name), **kwargs}).to(runtime.device)


def segmentation_network(cfg: Config, palette, runtime: Runtime, void_class: bool = False) -> nn.Module:
    """The image -> class-logits generator (the segmenter G_IS): K classes, + void with ``void_class``."""
    if palette is None:
        raise ConfigError("segmentation needs class labels: set data.palette (facades, cityscapes, ...) or data.dataset=cmp")
    return build_generator(cfg, runtime, a_to_b=True, out_channels=palette.num_classes + int(void_class), output="logits")


def set_requires_grad(modules, flag: bool) -> None:
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)
