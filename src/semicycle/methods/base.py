"""What every training strategy provides to the trainer."""

from __future__ import annotations

import torch
from torch import nn

from ..config import Config
from ..data.pairing import TrainingSets
from ..runtime import Runtime
from ..data.labels import network_input, output_image


class Method:
    """A training strategy: its networks, optimizers, minibatch source and one training step.

    Subclasses set ``networks`` ({name: module}), ``optimizers`` ({name: optimizer}),
    ``translators`` ({"AtoB"/"BtoA": network name}) and ``batches`` (an object with
    ``steps_per_epoch`` and ``epoch(epoch, start_step)``), and implement :meth:`train_step`.
    """

    name = ""

    def __init__(self, cfg: Config, sets: TrainingSets, runtime: Runtime):
        self.cfg, self.sets, self.runtime = cfg, sets, runtime
        self.palette = sets.palette
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.translators: dict[str, str] = {}

    def adam(self, *modules: nn.Module) -> torch.optim.Adam:
        params = [p for m in modules for p in m.parameters()]
        t = self.cfg.train
        return torch.optim.Adam(params, lr=t.lr, betas=(t.beta1, t.beta2))

    def to_device(self, batch: dict) -> dict:
        """Move the tensors of a (possibly nested) batch to the training device (in the networks'
        memory format)."""
        out = {}
        for key, value in batch.items():
            if isinstance(value, dict):
                value = self.to_device(value)
            elif isinstance(value, torch.Tensor):
                value = self.runtime.put(value)
            out[key] = value
        return out

    def optimize(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step optimizer ``name`` (loss scaling in fp16 is the runtime's job)."""
        self.runtime.backward_step(loss, self.optimizers[name], name)

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimisation step; returns detached scalar losses by name."""
        raise NotImplementedError

    @torch.no_grad()
    def translate(self, direction: str, images: torch.Tensor) -> torch.Tensor:
        """RGB images in [-1, 1] -> the translation as RGB in [-1, 1] (eval mode, no gradient);
        label maps go in and come out as palette colours."""
        net = self.networks[self.translators[direction]]
        was_training = net.training
        net.eval()
        inputs = network_input(images.to(self.runtime.device), net.arch["kwargs"]["in_channels"], self.palette)
        with self.runtime.autocast():
            out = output_image(net(inputs).float(), self.palette)
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
