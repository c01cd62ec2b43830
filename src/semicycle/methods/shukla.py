"""Shukla et al. 2019, "Extremely Weak Supervised Image-to-Image Translation for Semantic Segmentation".

CycleGAN with a relativistic average discriminator (their eqs. 1-2; RaSGAN by default), cycle (eq. 3),
identity (eq. 4) and an L1 reconstruction loss on paired samples in both directions (eq. 5); total
(eq. 6) with weights 1, 10, 10, 150. Every epoch mixes unpaired and paired items; with balancing the
pairs are replicated to match the unpaired count (sec. 4.1.5). The cycle reconstructions are computed
with gradients (one forward graph for every term).
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import MixedBatches, PairedBatches
from .cyclegan import CycleGAN


class Shukla(CycleGAN):
    name = "shukla"

    def make_batches(self):
        unpaired = self.unpaired_batches()
        rows = self.sets.paired_rows
        if not rows:  # "unpaired only" row of their Table 2: the same losses without pairs
            return unpaired
        t, d = self.cfg.train, self.cfg.data
        per_epoch = max(len(unpaired.A), len(unpaired.B)) if t.balance else len(rows)
        paired = PairedBatches(self.sets.data, rows, 1, d.crop_size, d.flip, t.seed, per_epoch=per_epoch)
        return MixedBatches(unpaired, paired, t.batch_size)

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        batch = self.to_device(batch)
        real_A, real_B = batch["A"], batch["B"]
        is_pair = batch.get("paired")
        weight = self.cfg.train.lambda_reconstruction

        def reconstruction(fake_A, fake_B):
            if is_pair is None or not bool(is_pair.any()):
                return {"rec": real_A.new_zeros(())}
            rec = losses.supervised_l1(fake_B[is_pair], real_B[is_pair]) + losses.supervised_l1(fake_A[is_pair], real_A[is_pair])
            return {"rec": weight * rec}

        return self.adversarial_step(real_A, real_B, extra=reconstruction)
