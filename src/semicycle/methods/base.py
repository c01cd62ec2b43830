"""What every training strategy provides to the trainer."""

from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..data.domains import TranslationData
from ..engine.device import Runtime


class Method:
    """A training strategy: its networks, optimizers, minibatch source and one training step.

    Subclasses set ``networks`` ({name: module}), ``optimizers`` ({name: optimizer}),
    ``translators`` ({"AtoB"/"BtoA": network name}) and ``batches`` (an object with
    ``steps_per_epoch`` and ``epoch(epoch, start_step)``), and implement :meth:`train_step`.
    """

    name = ""

    def __init__(self, cfg: Config, data: TranslationData, runtime: Runtime):
        self.cfg, self.data, self.runtime = cfg, data, runtime
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.translators: dict[str, str] = {}

    def adam(self, *modules: nn.Module) -> torch.optim.Adam:
        params = [p for m in modules for p in m.parameters()]
        t = self.cfg.train
        return torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2))

    def to_device(self, batch: dict) -> dict:
        dev = self.runtime.device
        return {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses by name."""
        raise NotImplementedError

    @torch.no_grad()
    def translate(self, direction: str, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> translated images in [-1, 1] (eval mode, no gradient)."""
        net = self.networks[self.translators[direction]]
        was_training = net.training
        net.eval()
        with self.runtime.autocast():
            out = net(images.to(self.runtime.device)).float()
        net.train(was_training)
        return out

    def state_dict(self) -> dict:
        """Method-specific state beyond networks and optimizers (e.g. image pools)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def set_requires_grad(modules, flag: bool) -> None:
    for module in modules:
        for p in module.parameters():
            p.requires_grad_(flag)
