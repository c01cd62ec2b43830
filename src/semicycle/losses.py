"""Loss functions of CycleGAN, pix2pix and their semi-supervised variants.

Every loss casts its inputs to float32, so it is safe to call under bf16/fp16
autocast and always returns a float32 scalar.
"""

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from semicycle.errors import ConfigError
from semicycle.settings import GAN_MODES, RELATIVISTIC_MODES


class GANLoss(nn.Module):
    """Adversarial loss against a constant real (1) or fake (0) target.

    "lsgan": least squares (Mao et al. 2017), which CycleGAN uses in place of the
    log likelihood of its eq. (1) (Zhu et al. 2017, sec. 4); Mondal et al. 2019,
    eqs. (4)-(5). "vanilla": sigmoid cross-entropy on logits (Goodfellow et al.
    2014; pix2pix eq. (1)).
    """

    def __init__(self, mode: str = "lsgan"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ConfigError(f"unknown GAN loss {mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.mode = mode

    def forward(self, pred: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        pred = pred.float()
        target = torch.full_like(pred, 1.0 if target_is_real else 0.0)
        if self.mode == "lsgan":
            return F.mse_loss(pred, target)
        return F.binary_cross_entropy_with_logits(pred, target)


BatchMean = Callable[[torch.Tensor], torch.Tensor]


def _relativistic(
    real_pred: torch.Tensor, fake_pred: torch.Tensor, mode: str, for_discriminator: bool, mean: BatchMean = torch.mean
) -> torch.Tensor:
    if mode not in RELATIVISTIC_MODES:
        raise ConfigError(
            f"unknown relativistic loss {mode!r}; choose one of {', '.join(RELATIVISTIC_MODES)}"
        )
    real_pred, fake_pred = real_pred.float(), fake_pred.float()
    real_vs_fake = real_pred - mean(fake_pred)
    fake_vs_real = fake_pred - mean(real_pred)
    # The discriminator wants real more realistic than the average fake and fake less
    # realistic than the average real; the generator wants the opposite.
    pushed_up, pushed_down = (
        (real_vs_fake, fake_vs_real) if for_discriminator else (fake_vs_real, real_vs_fake)
    )
    if mode == "rasgan":
        return F.binary_cross_entropy_with_logits(
            pushed_up, torch.ones_like(pushed_up)
        ) + F.binary_cross_entropy_with_logits(pushed_down, torch.zeros_like(pushed_down))
    return ((pushed_up - 1) ** 2).mean() + ((pushed_down + 1) ** 2).mean()


def relativistic_d_loss(
    real_pred: torch.Tensor, fake_pred: torch.Tensor, mode: str = "rasgan", mean: BatchMean = torch.mean
) -> torch.Tensor:
    """Relativistic average discriminator loss (Jolicoeur-Martineau 2018), as adopted
    by Shukla et al. 2019, eq. (1), with C the raw discriminator output:

    "rasgan":  -E[log sigmoid(C(x_r) - E C(x_f))] - E[log(1 - sigmoid(C(x_f) - E C(x_r)))]
    "ralsgan":  E[(C(x_r) - E C(x_f) - 1)^2] + E[(C(x_f) - E C(x_r) + 1)^2]

    Expectations run over every element (batch and patch positions); ``mean`` takes the inner ones
    (over every process's batch under several processes: ``Runtime.batch_mean``).
    """
    return _relativistic(real_pred, fake_pred, mode, for_discriminator=True, mean=mean)


def relativistic_g_loss(
    real_pred: torch.Tensor, fake_pred: torch.Tensor, mode: str = "rasgan", mean: BatchMean = torch.mean
) -> torch.Tensor:
    """Relativistic average generator loss (Jolicoeur-Martineau 2018; Shukla et al.
    2019, eq. (2)): the discriminator loss with real and fake swapped, so the
    generator also lowers the probability that real data is more realistic.

    "rasgan":  -E[log sigmoid(C(x_f) - E C(x_r))] - E[log(1 - sigmoid(C(x_r) - E C(x_f)))]
    "ralsgan":  E[(C(x_f) - E C(x_r) - 1)^2] + E[(C(x_r) - E C(x_f) + 1)^2]
    """
    return _relativistic(real_pred, fake_pred, mode, for_discriminator=False, mean=mean)


class Adversarial:
    """One interface over every adversarial loss (``cyclegan.gan_loss``, ``paired.gan_loss``).

    ``d_loss(real_pred, fake_pred)`` and ``g_loss(fake_pred, real_pred)``: standard losses judge
    each prediction against a constant target (``real_pred`` is unused by ``g_loss``); the
    relativistic ones compare real with fake, so their generator loss also needs D(real); ``mean`` takes
    their average over the batch (``Runtime.batch_mean``: over every process's batch).
    """

    def __init__(self, mode: str, mean: BatchMean = torch.mean):
        if mode not in GAN_MODES + RELATIVISTIC_MODES:
            raise ConfigError(f"unknown adversarial loss {mode!r}; choose one of {', '.join(GAN_MODES + RELATIVISTIC_MODES)}")
        self.mode, self.mean = mode, mean
        self.relativistic = mode in RELATIVISTIC_MODES
        self.gan = None if self.relativistic else GANLoss(mode)

    def d_loss(self, real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
        if self.relativistic:
            return relativistic_d_loss(real_pred, fake_pred, self.mode, self.mean)
        return self.gan(real_pred, True) + self.gan(fake_pred, False)

    def g_loss(self, fake_pred: torch.Tensor, real_pred: torch.Tensor | None = None) -> torch.Tensor:
        if self.relativistic:
            return relativistic_g_loss(real_pred, fake_pred, self.mode, self.mean)
        return self.gan(fake_pred, True)


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Cycle-consistency loss ||F(G(x)) - x||_1, mean over elements (Zhu et al. 2017,
    eq. (2); Shukla et al. eq. (3); Mondal et al. eq. (6))."""
    return F.l1_loss(reconstructed.float(), original.float())


def identity_loss(same: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Identity mapping loss ||G(y) - y||_1 (Taigman et al. 2017; Zhu et al. 2017,
    sec. 5.2; Shukla et al. eq. (4))."""
    return F.l1_loss(same.float(), original.float())


def supervised_l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 reconstruction loss on paired samples ||G(x) - y||_1 (pix2pix eq. (3);
    Shukla et al. eq. (5); Okada et al. L_sv)."""
    return F.l1_loss(pred.float(), target.float())


def l2_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error, the supervised image loss ||G_SI(y) - x||_2^2 of Mondal et
    al. 2019, eq. (3) (averaged over elements instead of summed)."""
    return F.mse_loss(pred.float(), target.float())


def pixel_cross_entropy(
    logits: torch.Tensor,
    target_index: torch.Tensor,
    ignore_index: int = 255,
    weight: torch.Tensor | None = None,
    share: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Pixelwise cross-entropy H(y, G_IS(x)) between (N, K, H, W) logits and an
    (N, H, W) map of class indices (Mondal et al. 2019, eqs. (1)-(2)), averaged over
    the pixels that are not `ignore_index` (weighted by `weight[class]` if given).
    Under several processes ``share`` (``Runtime.mean_over_processes``) turns this batch's count of
    scored pixels into the mean count per process, so that the processes' averaged gradients are those
    of the average over every scored pixel of the global batch.

    Returns 0 (with a gradient) rather than NaN when every pixel is ignored.
    """
    logits = logits.float()
    target_index = target_index.long()
    if weight is not None:
        weight = weight.float().to(logits.device)
    per_pixel = F.cross_entropy(
        logits, target_index, weight=weight, ignore_index=ignore_index, reduction="none"
    )
    valid = (target_index != ignore_index).float()
    if weight is not None:
        valid = valid * weight[torch.where(valid.bool(), target_index, 0)]
    scored = valid.sum() if share is None else share(valid.sum())
    return per_pixel.sum() / scored.clamp_min(1e-12)


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy -sum_k y_k log softmax(logits)_k between (N, K, H, W) logits and
    per-pixel target probabilities (one-hot masks or soft labels), averaged over pixels
    (Mondal et al. 2019, eq. (2); used for the label cycle loss, eq. (7))."""
    log_probs = F.log_softmax(logits.float(), dim=1)
    return -(target_probs.float() * log_probs).sum(dim=1).mean()


def masked_cross_entropy(logits: torch.Tensor, pseudo_labels: torch.Tensor, confident: torch.Tensor) -> torch.Tensor:
    """The unsupervised loss of weak-to-strong consistency (FixMatch, Sohn et al. 2020, sec. 2.3, l_u; UniMatch,
    Yang et al. 2023, sec. 3.1, L_u): (1 / |pixels|) sum over pixels of 1[max p_w >= tau] H(p_w, p_s), between
    (N, K, H, W) logits p_s and (N, H, W) pseudo-labels (argmax p_w) kept where ``confident`` (N, H, W) bool.
    The mean runs over every pixel, not only the confident ones, so a batch with few confident pixels weighs
    little; every process holds as many pixels, so the processes' mean is the global batch's."""
    per_pixel = F.cross_entropy(logits.float(), pseudo_labels.long(), reduction="none")
    return (per_pixel * confident.float()).mean()


def patch_nce(query: torch.Tensor, key: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """PatchNCE (Park et al. 2020, eqs. 2 and 5) for one layer: (N, S, D) unit vectors of the output's patches
    (queries z^) and of the input's at the same S locations (keys z). For each image and location s the InfoNCE loss

        l(z^_s, z_s, z_{S\\s}) = -log( exp(z^_s . z_s / tau) / (exp(z^_s . z_s / tau) + sum_{s' != s} exp(z^_s . z_s' / tau)) )

    with the positive at the same location of the input and the negatives at the other sampled locations of the same
    image (the paper's internal negatives), averaged over images and locations. The keys are targets: no gradient
    reaches them."""
    logits = torch.bmm(query.float(), key.detach().float().transpose(1, 2)) / temperature  # (N, S, S): row s, column s'
    target = torch.arange(query.shape[1], device=query.device).expand(query.shape[0], -1)
    return F.cross_entropy(logits.flatten(0, 1), target.flatten())
