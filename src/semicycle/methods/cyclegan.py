"""CycleGAN (Zhu et al. 2017): two generators, two PatchGAN discriminators, LSGAN, cycle + identity.

Names say the direction: ``G_AB`` maps A -> B, ``D_B`` judges images of domain B.
Full objective (Zhu eq. 3): L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda_cycle * L_cyc
+ lambda_identity * lambda_cycle * L_identity (sec. 5.2); each discriminator loss is halved.
"""

from __future__ import annotations

from typing import Callable

import torch

from .. import losses
from ..models import create_discriminator, discriminator_kwargs
from .base import Method, build_generator, set_requires_grad, unpaired_batches
from .pool import ImagePool


class CycleGAN(Method):
    name = "cyclegan"

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        t, m, device = cfg.cyclegan, cfg.model, runtime.device
        self.networks = {
            "G_AB": build_generator(cfg, runtime, a_to_b=True),
            "G_BA": build_generator(cfg, runtime),
            "D_A": create_discriminator(m.discriminator, **discriminator_kwargs(cfg.model)).to(device),
            "D_B": create_discriminator(m.discriminator, **discriminator_kwargs(cfg.model)).to(device),
        }
        self.translators = {"AtoB": "G_AB", "BtoA": "G_BA"}
        n = self.networks
        self.optimizers = {"G": self.adam(n["G_AB"], n["G_BA"]), "D": self.adam(n["D_A"], n["D_B"])}
        self.adversarial = losses.Adversarial(t.gan_loss, mean=runtime.batch_mean)
        seed = cfg.train.seed
        self.pools = {"A": ImagePool(t.pool_size, seed=seed + 1), "B": ImagePool(t.pool_size, seed=seed + 2)}

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        return unpaired_batches(cfg, sets, rank, world_size)

    def generator_losses(self, real_A: torch.Tensor, real_B: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """CycleGAN generator terms (Zhu eqs. 1-3, identity sec. 5.2); also returns the fakes."""
        n, t, adv = self.replicas, self.cfg.cyclegan, self.adversarial
        fake_B = n["G_AB"](real_A)
        fake_A = n["G_BA"](real_B)
        real_pred_B = n["D_B"](real_B) if adv.relativistic else None
        real_pred_A = n["D_A"](real_A) if adv.relativistic else None
        out = {
            "G_AB_gan": adv.g_loss(n["D_B"](fake_B), real_pred_B),
            "G_BA_gan": adv.g_loss(n["D_A"](fake_A), real_pred_A),
            "cycle_A": t.lambda_cycle * losses.cycle_loss(n["G_BA"](fake_B), real_A),
            "cycle_B": t.lambda_cycle * losses.cycle_loss(n["G_AB"](fake_A), real_B),
        }
        if t.lambda_identity > 0:
            weight = t.lambda_identity * t.lambda_cycle
            out["idt_A"] = weight * losses.identity_loss(n["G_BA"](real_A), real_A)
            out["idt_B"] = weight * losses.identity_loss(n["G_AB"](real_B), real_B)
        return out, fake_A, fake_B

    def discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """0.5 * (loss on D(real) and on D(pooled fake)) (Zhu sec. 4: the D objective is halved)."""
        disc = self.replicas[name]
        return 0.5 * self.adversarial.d_loss(disc(real), disc(fake.detach()))

    def adversarial_step(self, real_A, real_B, extra: Callable | None = None) -> dict[str, torch.Tensor]:
        """One generator update (CycleGAN terms + ``extra(fake_A, fake_B)`` terms), then one
        discriminator update on pooled fakes."""
        n = self.networks
        discriminators = (n["D_A"], n["D_B"])
        set_requires_grad(discriminators, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            g_losses, fake_A, fake_B = self.generator_losses(real_A, real_B)
            if extra is not None:
                g_losses.update(extra(fake_A, fake_B))
        self.optimize("G", sum(g_losses.values()))

        set_requires_grad(discriminators, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            d_losses = {
                "D_A": self.discriminator_loss("D_A", real_A, self.pools["A"].query(fake_A)),
                "D_B": self.discriminator_loss("D_B", real_B, self.pools["B"].query(fake_B)),
            }
        self.optimize("D", sum(d_losses.values()))
        return {k: v.detach() for k, v in {**g_losses, **d_losses}.items()}

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        return self.adversarial_step(batch.images.A, batch.images.B)

    def state_dict(self) -> dict:
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict) -> None:
        for key, pool in self.pools.items():
            pool.load_state_dict(state["pools"][key], self.runtime.device)
