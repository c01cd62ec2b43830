"""Okada et al. 2019, "CycleGAN using Semi-Supervised Learning": CycleGAN + kappa * L_sv on pairs.

L_sv = ||G_AB(x) - y||_1 + ||G_BA(y) - x||_1 on paired (x, y) (their eq. 6), weight kappa (eq. 7).
Algorithm 2 as implemented: in each epoch, at each of the first ceil(P / b) iterations (P pairs,
paired batch size b) a generator-only step on a paired minibatch with kappa * L_sv, followed by
the usual CycleGAN step on an unpaired minibatch; the remaining iterations are CycleGAN steps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import losses
from ..data.batches import JointBatches
from ..settings import WEIGHT
from .base import paired_batches, unpaired_batches
from .cyclegan import CycleGAN


@dataclass
class OkadaSettings:
    """Okada's own term; the CycleGAN terms are the ``cyclegan`` section's."""

    kappa: float = 10.0  # weight of the supervised L1 term L_sv (their eq. 7)


class Okada(CycleGAN):
    name = "okada"
    settings = OkadaSettings
    setting_choices = {}
    setting_ranges = {"kappa": WEIGHT}

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        paired = paired_batches(cfg, sets, rank, world_size, needed_by=cls.name)
        return JointBatches(unpaired_batches(cfg, sets, rank, world_size), paired)

    def supervised_step(self, pair) -> torch.Tensor:
        """Generator update on kappa * L_sv only (Algorithm 2, lines 3-4)."""
        n = self.replicas
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            l_sv = self.cfg.okada.kappa * (
                losses.supervised_l1(n["G_AB"](pair.A), pair.B) + losses.supervised_l1(n["G_BA"](pair.B), pair.A)
            )
        self.optimize("G", l_sv)
        return l_sv.detach()

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        out = {}
        if batch.pairs is not None:
            out["sv"] = self.supervised_step(batch.pairs)
        out.update(self.adversarial_step(batch.images.A, batch.images.B))
        return out
