"""Mondal et al. 2019, "Revisiting CycleGAN for semi-supervised segmentation".

G_IS: image -> softmax over K classes + void (the segmentation network); G_SI: one-hot mask -> image
(tanh). Void (ignore) pixels are a class of their own, the paper's background class (20 for
Cityscapes), so real masks are valid one-hot vectors everywhere and D_S gets no free "real" cue from
all-zero pixels (``model.label_void_channel=false``: K classes, void ignored by the CE and all zero
in masks, as runs before this channel).
Generator objective (their eq. 8, with the adversarial terms in LSGAN generator form):

    CE(y_l, G_IS(x_l))                          (eq. 1)
  + l1 * ||G_SI(y_l) - x_l||_2^2                (eq. 3)
  + l2 * CE(y_l, G_IS(G_SI(y_l)))               (eq. 7)
  + l3 * ||G_SI(softmax G_IS(x_u)) - x_u||_1    (eq. 6)
  + l4 * (D_S(softmax G_IS(x_u)) - 1)^2         (eq. 4)
  + l5 * (D_I(G_SI(y_l)) - 1)^2                 (eq. 5)

D_S sees real masks as one-hot and generated ones as softmax probabilities, never an argmax (an
argmax has no gradient, which silently disables the l4 term). A weight of 0 removes its term and,
for l4/l5, the matching discriminator update. Each step takes a labelled and an unlabelled batch;
the labelled pairs are replicated (reshuffled) to last the whole epoch.
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.labels import label_channels, label_input, void_as_class
from ..models import create_discriminator, discriminator_kwargs
from .base import Method, build_generator, replicated_pairs_batches, segmentation_network, set_requires_grad


class Mondal(Method):
    name = "mondal"

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        return replicated_pairs_batches(cfg, sets, rank, world_size, needed_by="mondal")

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        m, dev = cfg.model, runtime.device
        void = m.label_void_channel
        self.mask_channels = classes = label_channels(self.palette, void) if self.palette else 0
        self.networks = {
            "G_IS": segmentation_network(cfg, self.palette, runtime, void_class=void),
            "G_SI": build_generator(cfg, runtime, in_channels=classes),
            "D_S": create_discriminator(m.discriminator, **discriminator_kwargs(cfg.model, in_channels=classes)).to(dev),
            "D_I": create_discriminator(m.discriminator, **discriminator_kwargs(cfg.model, in_channels=3)).to(dev),
        }
        self.translators = {"AtoB": "G_IS", "BtoA": "G_SI"}
        n = self.networks
        self.optimizers = {"G": self.adam(n["G_IS"], n["G_SI"]), "D": self.adam(n["D_S"], n["D_I"])}
        self.gan = losses.GANLoss("lsgan")

    def generator_losses(self, x_l, y_l, x_u) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor]:
        n, t = self.replicas, self.cfg.mondal
        y_l_onehot = label_input(y_l, self.palette, self.mask_channels)
        if self.cfg.model.label_void_channel:
            y_l = void_as_class(y_l, self.palette)
        share = self.runtime.mean_over_processes  # the CE averages over the scored pixels of every process
        out = {"seg_ce": losses.pixel_cross_entropy(n["G_IS"](x_l), y_l, share=share)}
        x_from_y = n["G_SI"](y_l_onehot)
        if t.lambda_image_sup:
            out["image_l2"] = t.lambda_image_sup * losses.l2_loss(x_from_y, x_l)
        if t.lambda_label_cycle:
            out["label_cycle"] = t.lambda_label_cycle * losses.pixel_cross_entropy(n["G_IS"](x_from_y), y_l, share=share)
        s_u = torch.softmax(n["G_IS"](x_u).float(), dim=1)
        if t.lambda_image_cycle:
            out["image_cycle"] = t.lambda_image_cycle * losses.cycle_loss(n["G_SI"](s_u), x_u)
        if t.lambda_label_adv:
            out["label_adv"] = t.lambda_label_adv * self.gan(n["D_S"](s_u), True)
        if t.lambda_image_adv:
            out["image_adv"] = t.lambda_image_adv * self.gan(n["D_I"](x_from_y), True)
        return out, y_l_onehot, s_u, x_from_y

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        n, t = self.replicas, self.cfg.mondal
        labelled, x_u = batch.pairs, batch.images.A
        discriminators = (self.networks["D_S"], self.networks["D_I"])

        set_requires_grad(discriminators, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            g_losses, y_l_onehot, s_u, x_from_y = self.generator_losses(labelled.A, labelled.labels_B, x_u)
        self.optimize("G", sum(g_losses.values()))

        d_losses = {}
        set_requires_grad(discriminators, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            if t.lambda_label_adv:
                d_losses["D_S"] = 0.5 * (self.gan(n["D_S"](y_l_onehot), True) + self.gan(n["D_S"](s_u.detach()), False))
            if t.lambda_image_adv:
                d_losses["D_I"] = 0.5 * (self.gan(n["D_I"](x_u), True) + self.gan(n["D_I"](x_from_y.detach()), False))
        if d_losses:
            self.optimize("D", sum(d_losses.values()))
        return {k: v.detach() for k, v in {**g_losses, **d_losses}.items()}
