"""Okada et al. 2019, "CycleGAN using Semi-Supervised Learning": CycleGAN + kappa * L_sv on pairs.

L_sv = ||G_AB(x) - y||_1 + ||G_BA(y) - x||_1 on paired (x, y) (their eq. 6), weight kappa (eq. 7).
Algorithm 2 as implemented: in each epoch, at each of the first ceil(P / b) iterations (P pairs,
paired batch size b) a generator-only step on a paired minibatch with kappa * L_sv, followed by
the usual CycleGAN step on an unpaired minibatch; the remaining iterations are CycleGAN steps only.
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import JointBatches, PairedBatches
from ..errors import ConfigError
from .cyclegan import CycleGAN


class Okada(CycleGAN):
    name = "okada"

    def make_batches(self):
        rows = self.sets.paired_rows
        if not rows:
            raise ConfigError("okada needs paired samples: set pairs.rate (e.g. 0.1), pairs.count or pairs.list")
        t, d = self.cfg.train, self.cfg.data
        paired = PairedBatches(self.sets.data, rows, self.cfg.pairs.batch_size or t.batch_size, d.crop_size, d.flip, t.seed)
        return JointBatches(self.unpaired_batches(), paired)

    def supervised_step(self, pair: dict) -> torch.Tensor:
        """Generator update on kappa * L_sv only (Algorithm 2, lines 3-4)."""
        n = self.networks
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            l_sv = self.cfg.train.kappa * (
                losses.supervised_l1(n["G_AB"](pair["A"]), pair["B"]) + losses.supervised_l1(n["G_BA"](pair["B"]), pair["A"])
            )
        self.optimize("G", l_sv)
        return l_sv.detach()

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        batch = self.to_device(batch)
        out = {}
        if "paired" in batch:
            out["sv"] = self.supervised_step(batch["paired"])
        unpaired = batch["unpaired"]
        out.update(self.adversarial_step(unpaired["A"], unpaired["B"]))
        return out
