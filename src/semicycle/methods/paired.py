"""Supervised training on the paired subset only: the "Partial" baseline ("Full" with every pair).

``train.task=translate``: pix2pix (Isola et al. 2017): a generator (U-Net in the presets) and a
conditional PatchGAN D(src, dst); G minimises GAN + lambda_l1 * ||G(src) - dst||_1 (pix2pix eq. 4),
D's loss is halved. ``data.direction`` picks src -> dst.
``train.task=segment``: a segmentation network (the generator with K-class logits) trained with
pixel-wise cross-entropy on the labels (Mondal et al. 2019's Partial/Full baseline, their eq. 1).
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import PairedBatches
from ..errors import ConfigError
from ..models import create_discriminator, create_generator, discriminator_kwargs, generator_kwargs
from .base import Method, set_requires_grad


def segmentation_network(cfg, palette, runtime, void_class: bool = False) -> torch.nn.Module:
    """The image -> class-logits generator (the segmenter G_IS): K classes, + void with ``void_class``."""
    if palette is None:
        raise ConfigError("segmentation needs class labels: set data.palette (facades, cityscapes, ...) or data.dataset=cmp")
    kw = dict(generator_kwargs(cfg.model), out_channels=palette.num_classes + int(void_class), output="logits")
    return create_generator(cfg.model.generator, **kw).to(runtime.device)


class Paired(Method):
    name = "paired"

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        t, d = cfg.train, cfg.data
        if not sets.data.paired:
            raise ConfigError("the paired method needs paired data (data.dataset=aligned, cmp or synthetic)")
        rows = sets.paired_rows or list(range(len(sets.data.A)))  # no pair budget: every pair ("Full")
        self.batches = PairedBatches(sets.data, rows, t.batch_size, d.crop_size, d.flip, t.seed)
        if t.task == "segment":
            if d.direction != "AtoB":
                raise ConfigError("train.task=segment maps images (A) to labels (B): set data.direction=AtoB")
            self.networks = {"G_IS": segmentation_network(cfg, self.palette, runtime)}
            self.translators = {"AtoB": "G_IS"}
            self.optimizers = {"G": self.adam(self.networks["G_IS"])}
            return
        self.networks = {
            "G": create_generator(cfg.model.generator, **generator_kwargs(cfg.model)).to(runtime.device),
            "D": create_discriminator(cfg.model.discriminator, **discriminator_kwargs(cfg.model, in_channels=6)).to(runtime.device),
        }
        self.translators = {d.direction: "G"}
        self.optimizers = {"G": self.adam(self.networks["G"]), "D": self.adam(self.networks["D"])}
        self.adversarial = losses.Adversarial(t.gan_loss)

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        batch = self.to_device(batch)
        if self.cfg.train.task == "segment":
            self.optimizers["G"].zero_grad(set_to_none=True)
            with self.runtime.autocast():
                loss = losses.pixel_cross_entropy(self.networks["G_IS"](batch["A"]), batch["labels_B"])
            self.optimize("G", loss)
            return {"ce": loss.detach()}
        return self.pix2pix_step(batch)

    def pix2pix_step(self, batch: dict) -> dict[str, torch.Tensor]:
        src, dst = (batch["A"], batch["B"]) if self.cfg.data.direction == "AtoB" else (batch["B"], batch["A"])
        G, D, adv = self.networks["G"], self.networks["D"], self.adversarial
        set_requires_grad([D], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake = G(src)
            real_pred = D(torch.cat([src, dst], 1)) if adv.relativistic else None
            g_losses = {
                "G_gan": adv.g_loss(D(torch.cat([src, fake], 1)), real_pred),
                "G_l1": self.cfg.train.lambda_l1 * losses.supervised_l1(fake, dst),
            }
        self.optimize("G", sum(g_losses.values()))

        set_requires_grad([D], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            d_loss = 0.5 * adv.d_loss(D(torch.cat([src, dst], 1)), D(torch.cat([src, fake.detach()], 1)))
        self.optimize("D", d_loss)
        return {**{k: v.detach() for k, v in g_losses.items()}, "D": d_loss.detach()}
