"""CycleGAN (Zhu et al. 2017): two generators, two PatchGAN discriminators, LSGAN, cycle + identity.

Names say the direction: ``G_AB`` maps A -> B, ``D_B`` judges images of domain B.
Full objective (Zhu eq. 3): L_GAN(G_AB, D_B) + L_GAN(G_BA, D_A) + lambda_cycle * L_cyc
+ lambda_identity * lambda_cycle * L_identity (sec. 5.2); each discriminator loss is halved.
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import UnpairedBatches
from ..models import create_discriminator, create_generator
from .base import Method, set_requires_grad
from .pool import ImagePool


def build_translation_networks(method: Method) -> None:
    """Two image generators and two discriminators, as configured in ``cfg.model``."""
    m = method.cfg.model
    gen_kw = dict(ngf=m.ngf, norm=m.norm)
    if m.generator.startswith("resnet"):
        gen_kw["upsample"] = m.upsample
    disc_kw = dict(ndf=m.ndf, norm=m.norm)
    if m.discriminator == "patchgan":
        disc_kw["n_layers"] = m.d_layers
    device = method.runtime.device
    method.networks = {
        "G_AB": create_generator(m.generator, **gen_kw).to(device),
        "G_BA": create_generator(m.generator, **gen_kw).to(device),
        "D_A": create_discriminator(m.discriminator, **disc_kw).to(device),
        "D_B": create_discriminator(m.discriminator, **disc_kw).to(device),
    }
    method.translators = {"AtoB": "G_AB", "BtoA": "G_BA"}


class CycleGAN(Method):
    name = "cyclegan"

    def __init__(self, cfg, data, runtime):
        super().__init__(cfg, data, runtime)
        t = cfg.train
        build_translation_networks(self)
        n = self.networks
        self.optimizers = {
            "G": self.adam(n["G_AB"], n["G_BA"]),
            "D": self.adam(n["D_A"], n["D_B"]),
        }
        self.gan = losses.GANLoss(t.gan_loss)
        self.pools = {"A": ImagePool(t.pool_size, seed=t.seed + 1), "B": ImagePool(t.pool_size, seed=t.seed + 2)}
        self.batches = UnpairedBatches(data, t.batch_size, cfg.data.crop_size, cfg.data.flip, t.seed)

    def generator_losses(self, real_A: torch.Tensor, real_B: torch.Tensor) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """CycleGAN generator terms (Zhu eq. 1-3); returns losses and the fakes for the discriminators."""
        n, t = self.networks, self.cfg.train
        fake_B = n["G_AB"](real_A)
        fake_A = n["G_BA"](real_B)
        out = {
            "G_AB_gan": self.gan(n["D_B"](fake_B), True),
            "G_BA_gan": self.gan(n["D_A"](fake_A), True),
            "cycle_A": t.lambda_cycle * losses.cycle_loss(n["G_BA"](fake_B), real_A),
            "cycle_B": t.lambda_cycle * losses.cycle_loss(n["G_AB"](fake_A), real_B),
        }
        if t.lambda_identity > 0:
            weight = t.lambda_identity * t.lambda_cycle
            out["idt_A"] = weight * losses.identity_loss(n["G_BA"](real_A), real_A)
            out["idt_B"] = weight * losses.identity_loss(n["G_AB"](real_B), real_B)
        return out, fake_A, fake_B

    def discriminator_loss(self, name: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """0.5 * (GAN(D(real), real) + GAN(D(pooled fake), fake)) (Zhu sec. 4: D objective halved)."""
        disc = self.networks[name]
        return 0.5 * (self.gan(disc(real), True) + self.gan(disc(fake.detach()), False))

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        batch = self.to_device(batch)
        real_A, real_B = batch["A"], batch["B"]
        n = self.networks
        discriminators = (n["D_A"], n["D_B"])

        set_requires_grad(discriminators, False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            g_losses, fake_A, fake_B = self.generator_losses(real_A, real_B)
        sum(g_losses.values()).backward()
        self.optimizers["G"].step()

        set_requires_grad(discriminators, True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            d_losses = {
                "D_A": self.discriminator_loss("D_A", real_A, self.pools["A"].query(fake_A)),
                "D_B": self.discriminator_loss("D_B", real_B, self.pools["B"].query(fake_B)),
            }
        sum(d_losses.values()).backward()
        self.optimizers["D"].step()
        return {k: v.detach() for k, v in {**g_losses, **d_losses}.items()}

    def state_dict(self) -> dict:
        return {"pools": {k: p.state_dict() for k, p in self.pools.items()}}

    def load_state_dict(self, state: dict) -> None:
        for key, pool in self.pools.items():
            pool.load_state_dict(state["pools"][key], self.runtime.device)
