"""Supervised training on the paired subset only: the "Partial" baseline ("Full" with every pair).

``paired.task=translate``: pix2pix (Isola et al. 2017): a generator (U-Net in the presets) and a
conditional PatchGAN D(src, dst); G minimises GAN + lambda_l1 * ||G(src) - dst||_1 (pix2pix eq. 4),
D's loss is halved. ``data.direction`` picks src -> dst.
``paired.task=segment``: a segmentation network (the generator with K-class logits) trained with
pixel-wise cross-entropy on the labels (Mondal et al. 2019's Partial/Full baseline, their eq. 1).
``paired.augment=strong`` gives the segmenter the standard augmentation of the pairs-only baseline: random
scale-and-crop (scale 0.5-2), flip and the photo's colour jitter (:func:`~semicycle.data.batches.gather_strong`);
``none`` (the default, as runs before the key): crop and flip.
"""

from __future__ import annotations

import dataclasses

import torch

from .. import losses
from ..errors import ConfigError
from ..models import create_discriminator, discriminator_kwargs
from .base import Method, build_generator, paired_batches, segmentation_network, set_requires_grad


class Paired(Method):
    name = "paired"

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        if not sets.data.paired:
            raise ConfigError("the paired method needs paired data (data.dataset=aligned, cmp or synthetic)")
        if cfg.paired.augment != "none" and cfg.paired.task != "segment":
            raise ConfigError(f"paired.augment={cfg.paired.augment} augments the segmenter's pairs: set paired.task=segment or paired.augment=none")
        if not sets.paired_rows:  # no pair budget: every pair ("Full")
            sets = dataclasses.replace(sets, paired_rows=list(range(len(sets.data.A))))
        return paired_batches(cfg, sets, rank, world_size, batch_size=cfg.train.batch_size, augment=cfg.paired.augment)

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        p, d = cfg.paired, cfg.data
        if p.task == "segment":
            if d.direction != "AtoB":
                raise ConfigError("paired.task=segment maps images (A) to labels (B): set data.direction=AtoB")
            self.networks = {"G_IS": segmentation_network(cfg, self.palette, runtime)}
            self.translators = {"AtoB": "G_IS"}
            self.optimizers = {"G": self.adam(self.networks["G_IS"])}
            return
        self.networks = {
            "G": build_generator(cfg, runtime, a_to_b=d.direction == "AtoB"),
            "D": create_discriminator(cfg.model.discriminator, **discriminator_kwargs(cfg.model, in_channels=6)).to(runtime.device),
        }
        self.translators = {d.direction: "G"}
        self.optimizers = {"G": self.adam(self.networks["G"]), "D": self.adam(self.networks["D"])}
        self.adversarial = losses.Adversarial(p.gan_loss, mean=runtime.batch_mean)

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        pairs = batch.pairs
        if self.cfg.paired.task == "segment":
            self.optimizers["G"].zero_grad(set_to_none=True)
            with self.runtime.autocast():
                loss = losses.pixel_cross_entropy(self.replicas["G_IS"](pairs.A), pairs.labels_B, share=self.runtime.mean_over_processes)
            self.optimize("G", loss)
            return {"ce": loss.detach()}
        return self.pix2pix_step(pairs)

    def pix2pix_step(self, pairs) -> dict[str, torch.Tensor]:
        src, dst = (pairs.A, pairs.B) if self.cfg.data.direction == "AtoB" else (pairs.B, pairs.A)
        G, D, adv = self.replicas["G"], self.replicas["D"], self.adversarial
        set_requires_grad([self.networks["D"]], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake = G(src)
            real_pred = D(torch.cat([src, dst], 1)) if adv.relativistic else None
            g_losses = {
                "G_gan": adv.g_loss(D(torch.cat([src, fake], 1)), real_pred),
                "G_l1": self.cfg.paired.lambda_l1 * losses.supervised_l1(fake, dst),
            }
        self.optimize("G", sum(g_losses.values()))

        set_requires_grad([self.networks["D"]], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            d_loss = 0.5 * adv.d_loss(D(torch.cat([src, dst], 1)), D(torch.cat([src, fake.detach()], 1)))
        self.optimize("D", d_loss)
        return {**{k: v.detach() for k, v in g_losses.items()}, "D": d_loss.detach()}
