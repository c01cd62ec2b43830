"""CUT and FastCUT (Park, Efros, Zhang, Zhu, "Contrastive Learning for Unpaired Image-to-Image Translation", ECCV
2020): one generator G for ``data.direction``'s source X -> target Y, one discriminator D, and PatchNCE.

G's encoder features F_l (l = 1..L, :meth:`encoder_features` of each registry generator) of the input x and of the
output G(x) are sampled at S shared locations per layer and projected by a two-layer MLP H_l to unit vectors
(sec. 3.2; ``semicycle.models.patch_heads``). The generator minimises (eq. 6)

    lambda_gan * L_GAN(G, D, X, Y) + lambda_nce * L_PatchNCE(G, H, X) + lambda_nce_identity * L_PatchNCE(G, H, Y)

with L_PatchNCE(G, H, X) = E_x mean_l mean_s l(z^_l^s, z_l^s, z_l^{S\\s}) (eq. 5, :func:`~semicycle.losses.patch_nce`;
z^ from G(x), z from x; the layers' sum of eq. 5 taken as their mean), the identity term the same on target images
y and G(y). D's loss is halved (as CycleGAN's); no image pool. FastCUT is lambda_nce = 10, no identity term and
flip-equivariance (``cut.flip_equivariance``): at half the steps (a draw of the method's own generator) G translates
the horizontally flipped input and the output's features are flipped back before they meet the input's.

Few pairs (``pairs.count`` / ``rate`` / ``list``): Okada's schedule (the first ceil(P / b) steps of each epoch carry a
paired minibatch, each pair once per epoch) and, at those steps, kappa * L_sv added to the generator's objective:
||G(x) - y||_1 for images (Okada et al. 2019, eq. 6, one direction) or, where G maps photos (A) to a label map
(``data.palette`` with ``data.direction=AtoB``: G gives class logits), the pixel cross-entropy on the labels, void
ignored. Then D and PatchNCE see the label map drawn with the softmax-weighted palette colours.
"""

from __future__ import annotations

import torch

from .. import losses
from ..data.batches import JointBatches
from ..data.labels import soft_label_image
from ..errors import ConfigError
from ..models import create_discriminator, discriminator_kwargs, init_weights, list_generators
from ..models.patch_heads import PatchProjection, sample_locations
from .base import Method, build_generator, paired_batches, segmentation_network, set_requires_grad, unpaired_batches


def feature_channels(generator, setting: str) -> tuple[int, ...]:
    """The channels of the encoder features ``generator`` returns for PatchNCE, or a one-line error naming ``setting``."""
    channels = getattr(generator, "encoder_feature_channels", None)
    if not channels:
        encoders = [n for n in list_generators() if n != generator.arch["name"]]
        raise ConfigError(f"train.method=cut compares encoder features, which {setting}={generator.arch['name']} does not "
                          f"expose (forward(x, encoder_features=True)); choose one of: {', '.join(encoders)}")
    return tuple(channels)


class CUT(Method):
    name = "cut"

    @classmethod
    def make_batches(cls, cfg, sets, rank=0, world_size=1):
        unpaired = unpaired_batches(cfg, sets, rank, world_size)
        if not sets.paired_rows:
            return unpaired
        return JointBatches(unpaired, paired_batches(cfg, sets, rank, world_size))

    def __init__(self, cfg, sets, runtime):
        super().__init__(cfg, sets, runtime)
        c, d, m, device = cfg.cut, cfg.data, cfg.model, runtime.device
        if runtime.world_size > 1:  # tests/test_distributed.py: the PatchNCE gradients differ from one process's
            raise ConfigError("train.method=cut does not train under several processes yet: its averaged PatchNCE gradients "
                              "did not match one process's of the same global batch; train it with one process")
        a_to_b = d.direction == "AtoB"
        self.source, self.target = ("A", "B") if a_to_b else ("B", "A")
        self.label_output = self.palette is not None and a_to_b
        G = segmentation_network(cfg, self.palette, runtime) if self.label_output else build_generator(cfg, runtime, a_to_b=a_to_b)
        channels = feature_channels(G, "model.generator_AtoB" if a_to_b and m.generator_AtoB else "model.generator")
        self.networks = {
            "G": G,
            "H": init_weights(PatchProjection(channels, c.head_units), std=0.02).to(device),
            "D": create_discriminator(m.discriminator, **discriminator_kwargs(m)).to(device),
        }
        self.translators = {d.direction: "G"}
        self.optimizers = {"G": self.adam(G, self.networks["H"]), "D": self.adam(self.networks["D"])}
        self.adversarial = losses.Adversarial(c.gan_loss, mean=runtime.batch_mean)
        # patch locations and FastCUT's flips: the same draws in every process, saved in checkpoints
        self.generator = torch.Generator().manual_seed(cfg.train.seed + 3)

    def translate(self, images: torch.Tensor) -> torch.Tensor:
        """G's output as an image in [-1, 1] (a label map: drawn in softmax-weighted palette colours)."""
        out = self.replicas["G"](images)
        return soft_label_image(out, self.palette) if self.label_output else out

    def patch_nce(self, source: torch.Tensor, output: torch.Tensor, flipped: bool = False) -> torch.Tensor:
        """L_PatchNCE between ``source`` and G's ``output`` for it (eq. 5), averaged over the encoder layers; with
        ``flipped`` the output came from the flipped source and its features are flipped back (FastCUT)."""
        c, G, H = self.cfg.cut, self.replicas["G"], self.replicas["H"]
        queries = G(output, encoder_features=True)
        if flipped:
            queries = [q.flip(-1) for q in queries]
        with torch.no_grad():  # the keys are the loss's targets
            keys = G(source, encoder_features=True)
            locations = sample_locations(keys, c.patches, self.generator)
            keys = H(keys, locations)
        queries = H(queries, locations)
        return sum(losses.patch_nce(q, k, c.temperature) for q, k in zip(queries, keys)) / len(keys)

    def supervised(self, pairs) -> torch.Tensor:
        """L_sv on a paired minibatch: pixel cross-entropy for a label-map output (void ignored), else L1."""
        source = getattr(pairs, self.source)
        if self.label_output:
            return losses.pixel_cross_entropy(self.replicas["G"](source), pairs.labels_B, share=self.runtime.mean_over_processes)
        return losses.supervised_l1(self.replicas["G"](source), getattr(pairs, self.target))

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        c, n, adv = self.cfg.cut, self.replicas, self.adversarial
        real, target = getattr(batch.images, self.source), getattr(batch.images, self.target)
        flipped = c.flip_equivariance and float(torch.rand((), generator=self.generator)) < 0.5
        set_requires_grad([self.networks["D"]], False)
        self.optimizers["G"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            fake = self.translate(real.flip(-1) if flipped else real)
            terms = {}
            if c.lambda_gan:
                terms["G_gan"] = c.lambda_gan * adv.g_loss(n["D"](fake), n["D"](target) if adv.relativistic else None)
            if c.lambda_nce:
                terms["nce"] = c.lambda_nce * self.patch_nce(real, fake, flipped)
            if c.lambda_nce_identity:
                terms["nce_identity"] = c.lambda_nce_identity * self.patch_nce(target, self.translate(target))
            if batch.pairs is not None and c.kappa:
                terms["sv"] = c.kappa * self.supervised(batch.pairs)
        self.optimize("G", sum(terms.values()))

        set_requires_grad([self.networks["D"]], True)
        self.optimizers["D"].zero_grad(set_to_none=True)
        with self.runtime.autocast():
            d_loss = 0.5 * adv.d_loss(n["D"](target), n["D"](fake.detach()))
        self.optimize("D", d_loss)
        return {**{k: v.detach() for k, v in terms.items()}, "D": d_loss.detach()}

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
