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
from ..data.batches import MixedBatches
from .base import paired_batches, unpaired_batches
from .cyclegan import CycleGAN


class Shukla(CycleGAN):
    name = "shukla"

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        unpaired = unpaired_batches(cfg, sets, rank, world_size)
        if not sets.paired_rows:  # "unpaired only" row of their Table 2: the same losses without pairs
            return unpaired
        per_epoch = max(len(unpaired.A), len(unpaired.B)) if cfg.shukla.balance else len(sets.paired_rows)
        paired = paired_batches(cfg, sets, rank, world_size, batch_size=1, per_epoch=per_epoch)
        return MixedBatches(unpaired, paired, cfg.train.batch_size)

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        real_A, real_B, is_pair = batch.images.A, batch.images.B, batch.images.is_pair
        weight = self.cfg.shukla.lambda_reconstruction

        # the mean over the paired rows of the global batch: under several processes each one's mean, times
        # its share of those rows (1.0 in one process)
        pairs_here = is_pair.sum().float()
        share = pairs_here / self.runtime.mean_over_processes(pairs_here)

        def reconstruction(fake_A, fake_B):
            if not bool(is_pair.any()):
                return {"rec": real_A.new_zeros(())}
            rec = losses.supervised_l1(fake_B[is_pair], real_B[is_pair]) + losses.supervised_l1(fake_A[is_pair], real_A[is_pair])
            return {"rec": weight * rec * share}

        return self.adversarial_step(real_A, real_B, extra=reconstruction)
