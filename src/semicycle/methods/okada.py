"""Okada et al. 2019, "CycleGAN using Semi-Supervised Learning": CycleGAN + kappa * L_sv on pairs.

L_sv = ||G_AB(x) - y||_1 + ||G_BA(y) - x||_1 on paired (x, y) (their eq. 6), weight kappa (eq. 7).
Algorithm 2 as implemented: in each epoch, at each of the first ceil(P / b) iterations (P pairs,
paired batch size b) a generator-only step on a paired minibatch with kappa * L_sv, followed by
the usual CycleGAN step on an unpaired minibatch; the remaining iterations are CycleGAN steps only.
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import JointBatches
from .base import paired_batches, unpaired_batches
from .cyclegan import CycleGAN


class Okada(CycleGAN):
    name = "okada"

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
