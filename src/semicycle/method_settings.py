"""Each training method's settings: the config section named after the method, with the valid ranges and
choices of its keys, registered in ``METHOD_SETTINGS`` (in the order of the config's sections).

Torch-free, so that the run config knows its sections without importing the methods; each method in
``semicycle.methods`` reads its section (``cfg.<name>``) and those of the methods it builds on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError
from .settings import GAN_MODES, PAIRED_AUGMENTATIONS, RELATIVISTIC_MODES, WEIGHT, Range


@dataclass
class CycleGANSettings:
    """CycleGAN's terms (also those of the methods built on it: okada, shukla)."""

    gan_loss: str = "lsgan"  # lsgan | vanilla | rasgan | ralsgan (relativistic average)
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle; 0 disables the identity loss
    pool_size: int = 50  # generated images kept per discriminator; 0 disables the pool


@dataclass
class PairedSettings:
    """Supervised training on the pairs: pix2pix or a segmenter."""

    task: str = "translate"  # translate (B as an RGB image: pix2pix) | segment (B as class labels; K-class softmax)
    gan_loss: str = "lsgan"  # pix2pix's adversarial loss: lsgan | vanilla | rasgan | ralsgan
    lambda_l1: float = 100.0  # pix2pix: L1 weight (their eq. 4)
    augment: str = "none"  # segment: none (crop and flip) | strong (+ random scale 0.5-2 and the photo's colour jitter)


@dataclass
class OkadaSettings:
    """Okada's own term; the CycleGAN terms are the ``cyclegan`` section's."""

    kappa: float = 10.0  # weight of the supervised L1 term L_sv (their eq. 7)


@dataclass
class ShuklaSettings:
    """Shukla's own terms; the CycleGAN terms (their relativistic loss: ``cyclegan.gan_loss=rasgan``) are
    the ``cyclegan`` section's."""

    lambda_reconstruction: float = 150.0  # L1 reconstruction on pairs (their eq. 5)
    balance: bool = True  # replicate pairs to match the unpaired count each epoch (sec. 4.1.5)


@dataclass
class MondalSettings:
    """The weights of Mondal's eq. 8 (their lambda1..lambda5)."""

    lambda_image_sup: float = 1.0  # lambda1: ||G_SI(y_l) - x_l||_2^2
    lambda_label_cycle: float = 0.05  # lambda2: CE(y_l, G_IS(G_SI(y_l)))
    lambda_image_cycle: float = 1.0  # lambda3: ||G_SI(G_IS(x_u)) - x_u||_1
    lambda_label_adv: float = 1.0  # lambda4: LSGAN on D_S
    lambda_image_adv: float = 1.0  # lambda5: LSGAN on D_I


@dataclass
class UniMatchSettings:
    """Weak-to-strong consistency (Yang et al. 2023): confidence threshold, loss weights, perturbations."""

    threshold: float = 0.95  # tau: a pseudo-label counts where the weak view's top softmax probability >= tau
    weight_fp: float = 0.5  # lambda: the feature-perturbed weak view's masked cross-entropy
    weight_strong: float = 0.25  # (1 - lambda) / 2: each strong view's masked cross-entropy
    strong_views: int = 2  # 2: UniMatch's dual-stream perturbation; 1: FixMatch's single strong view
    cutmix_prob: float = 0.5  # chance that a strong view is CutMixed with the next unlabelled photo of the batch
    feature_perturbation: str = "auto"  # auto (where the network's encoder splits off) | on | off
    feature_dropout: float = 0.5  # channel dropout on the encoder's features in the FP stream


@dataclass
class CUTSettings:
    """Contrastive unpaired translation (Park et al. 2020): one generator, one discriminator, PatchNCE; FastCUT is
    lambda_nce=10, lambda_nce_identity=0, flip_equivariance=true. ``kappa`` weighs the supervised term on pairs."""

    gan_loss: str = "lsgan"  # lsgan (the paper's) | vanilla | rasgan | ralsgan
    lambda_gan: float = 1.0  # weight of L_GAN (their eq. 6)
    lambda_nce: float = 1.0  # lambda_X: PatchNCE between input and output (eq. 5); FastCUT 10
    lambda_nce_identity: float = 1.0  # lambda_Y: PatchNCE on target-domain images through G (eq. 6); FastCUT 0
    temperature: float = 0.07  # tau of eq. 2
    patches: int = 256  # S: locations sampled per layer
    head_units: int = 256  # width of each layer's two-layer MLP head H_l
    flip_equivariance: bool = False  # FastCUT: half the steps translate the flipped input and flip its features back
    kappa: float = 10.0  # weight of the supervised term on pairs (L1, or cross-entropy for label-map outputs); 0 = off


@dataclass(frozen=True)
class MethodSection:
    """A method's config section: its settings dataclass, the valid ranges of its numeric keys and the choices
    of its string keys, and the methods whose sections it also reads (its base classes in ``semicycle.methods``)."""

    settings: type
    ranges: dict[str, Range] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    builds_on: tuple[str, ...] = ()


ADVERSARIAL_LOSSES = GAN_MODES + RELATIVISTIC_MODES

# method name (train.method) -> its section; the config's method sections appear in this order
METHOD_SETTINGS: dict[str, MethodSection] = {
    "cyclegan": MethodSection(
        CycleGANSettings, {"lambda_cycle": WEIGHT, "lambda_identity": WEIGHT,
                           "pool_size": Range(0, why="generated images kept per discriminator; 0 = no pool")},
        {"gan_loss": ADVERSARIAL_LOSSES}),
    "paired": MethodSection(
        PairedSettings, {"lambda_l1": WEIGHT},
        {"task": ("translate", "segment"), "gan_loss": ADVERSARIAL_LOSSES, "augment": PAIRED_AUGMENTATIONS}),
    "okada": MethodSection(OkadaSettings, {"kappa": WEIGHT}, builds_on=("cyclegan",)),
    "shukla": MethodSection(ShuklaSettings, {"lambda_reconstruction": WEIGHT}, builds_on=("cyclegan",)),
    "mondal": MethodSection(MondalSettings, {name: WEIGHT for name in MondalSettings.__dataclass_fields__}),
    "unimatch": MethodSection(
        UniMatchSettings,
        {"threshold": Range(0, 1, why="a softmax probability; 0 keeps every pseudo-label"),
         "weight_fp": WEIGHT,
         "weight_strong": WEIGHT,
         "strong_views": Range(1, 2, why="1 = FixMatch, 2 = UniMatch's dual-stream perturbation"),
         "cutmix_prob": Range(0, 1, why="a probability"),
         "feature_dropout": Range(0, 1, open_high=True, why="a channel dropout probability; 1 would drop every channel")},
        {"feature_perturbation": ("auto", "on", "off")}),
    "cut": MethodSection(
        CUTSettings,
        {"lambda_gan": WEIGHT, "lambda_nce": WEIGHT, "lambda_nce_identity": WEIGHT, "kappa": WEIGHT,
         "temperature": Range(0, open_low=True, why="the softmax temperature tau of PatchNCE, e.g. 0.07"),
         "patches": Range(1, why="locations sampled per layer, e.g. 256"),
         "head_units": Range(1, why="units of each MLP head layer, e.g. 256")},
        {"gan_loss": ADVERSARIAL_LOSSES}),
}


def check_method(name: str) -> str:
    """``name`` if it is a registered method, else a ConfigError listing them."""
    if name not in METHOD_SETTINGS:
        raise ConfigError(f"train.method={name!r} is unknown; choose one of: {', '.join(sorted(METHOD_SETTINGS))}")
    return name


def method_sections(name: str) -> list[str]:
    """The config sections a method reads: its own and those of the methods it builds on (okada: okada,
    cyclegan)."""
    return [check_method(name), *METHOD_SETTINGS[name].builds_on]
