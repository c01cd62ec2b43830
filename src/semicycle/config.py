"""Typed run configuration: dataclasses, loadable from YAML, overridable with ``section.key=value``.

A run is described by one :class:`Config`; it is saved as ``config.yaml`` in the run directory and
inside every checkpoint, so a run can be resumed and its networks rebuilt without flags.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import field
from pathlib import Path

import yaml

from .atomic import atomic_write_text
from .config_sections import DataConfig, EvalConfig, LogConfig, ModelConfig, PairsConfig, RuntimeConfig, TrainConfig
from .errors import ConfigError
from .method_settings import METHOD_SETTINGS, method_sections
from .settings import Range


class _Run:
    """What a run config does (its fields are made below, with one section per method)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


def _section(cls):
    return field(default_factory=cls)


# A whole run: the shared sections, then one per method (semicycle.method_settings).
Config = dataclasses.make_dataclass(
    "Config",
    [("run_dir", str, field(default="runs/semicycle")), ("data", DataConfig, _section(DataConfig)),
     ("model", ModelConfig, _section(ModelConfig)), ("pairs", PairsConfig, _section(PairsConfig)),
     ("train", TrainConfig, _section(TrainConfig))]
    + [(name, section.settings, _section(section.settings)) for name, section in METHOD_SETTINGS.items()]
    + [("runtime", RuntimeConfig, _section(RuntimeConfig)), ("log", LogConfig, _section(LogConfig)),
       ("eval", EvalConfig, _section(EvalConfig))],
    bases=(_Run,),
    namespace={"__doc__": "A whole run: shared sections, one section per method, runtime, log and eval."},
)
Config.__module__ = __name__

# Keys that may differ between a run and its resumption: they do not change what is computed.
RESUME_NEUTRAL_KEYS = frozenset(
    {"run_dir", "train.max_steps", "runtime.device", "runtime.threads", "runtime.channels_last", "runtime.compile"}
    | {f"log.{name}" for name in LogConfig.__dataclass_fields__}
)

# The flat train.* keys of semicycle 0.1 and their places now (train.gan_loss was shared by CycleGAN and
# pix2pix, so it sets both). Saved run configs are read through it silently; on the command line and in
# YAML files each old key gives one deprecation line naming the new key.
RENAMED_KEYS = {
    **{f"train.{k}": (f"runtime.{k}",) for k in ("device", "threads", "precision", "channels_last", "compile")},
    **{f"train.{k}": (f"log.{k}",) for k in ("log_every", "sample_every", "checkpoint_every", "keep_every_epochs", "progress")},
    "train.task": ("paired.task",), "train.lambda_l1": ("paired.lambda_l1",),
    "train.gan_loss": ("cyclegan.gan_loss", "paired.gan_loss"),
    **{f"train.{k}": (f"cyclegan.{k}",) for k in ("lambda_cycle", "lambda_identity", "pool_size")},
    "train.kappa": ("okada.kappa",),
    **{f"train.{k}": (f"shukla.{k}",) for k in ("lambda_reconstruction", "balance")},
    **{f"train.{k}": (f"mondal.{k}",) for k in ("lambda_image_sup", "lambda_label_cycle", "lambda_image_cycle",
                                                  "lambda_label_adv", "lambda_image_adv")},
}


_WARNED: set[str] = set()  # old keys already named in this process (one line each)


def upgrade_keys(flat: dict) -> dict:
    """A flattened config dict with the keys of earlier versions renamed (values unchanged)."""
    out = {}
    for key, value in flat.items():
        for new in RENAMED_KEYS.get(key, (key,)):
            out[new] = value
    return out


# Keys added after runs may have started, with the value such runs had in effect: resuming a run whose
# saved config lacks one keeps that value rather than today's default (e.g. precision=auto, which may
# pick bf16 on this machine).
# A request for such a run may say today's default or that value; anything else is a difference.
LEGACY_VALUES = {
    "runtime.precision": "fp32", "runtime.channels_last": False, "runtime.compile": False, "data.subset": "",
    "model.label_void_channel": False,
    "model.generator_AtoB": "", "model.encoder_lr_scale": 0.1, "model.encoder_bn": "frozen",
    "paired.augment": "none",
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


def _apply(cfg: Config, dotted: str, value, warn: bool) -> None:
    if dotted in RENAMED_KEYS:
        new = RENAMED_KEYS[dotted]
        if warn and dotted not in _WARNED:
            _WARNED.add(dotted)
            print(f"semicycle: {dotted} is deprecated; use {' and '.join(new)}", file=sys.stderr)
        for key in new:
            _apply(cfg, key, value, warn)
        return
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
                    _apply(cfg, f"{dotted}.{key}", sub, warn)
            else:
                setattr(obj, part, _coerce(value, types[part], dotted))
        else:
            if not dataclasses.is_dataclass(types[part]):
                raise ConfigError(f"'{dotted}': {'.'.join(parts[: i + 1])} is not a section")
            obj = getattr(obj, part)


def from_dict(values: dict, base: Config | None = None, warn_renamed: bool = False) -> Config:
    """Build a Config from a nested mapping, on top of ``base`` (defaults if None). Keys of earlier versions
    are renamed (silently: saved run configs hold them; ``warn_renamed`` for what a person wrote)."""
    cfg = base if base is not None else Config()
    for key, value in (values or {}).items():
        _apply(cfg, key, value, warn_renamed)
    validate(cfg)
    return cfg


def load_yaml(path: str | Path, base: Config | None = None, warn_renamed: bool = True) -> Config:
    """A YAML file of sections on top of ``base``; keys of earlier versions give a deprecation line unless
    ``warn_renamed`` is False (a run's own saved config.yaml)."""
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
        return from_dict(values, base, warn_renamed)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``section.key=value`` strings (the CLI's trailing arguments)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like section.key=value (e.g. train.epochs=5)")
        key, value = item.split("=", 1)
        _apply(cfg, key.strip(), value, warn=True)
    validate(cfg)
    return cfg


_CHOICES = {
    "data.dataset": ("synthetic", "aligned", "unaligned", "cmp"),
    "data.a_side": ("left", "right"),
    "data.direction": ("AtoB", "BtoA"),
    "model.upsample": ("transpose", "resize"),
    "model.norm": ("instance", "batch", "none"),
    "model.encoder_bn": ("frozen", "train"),
    "train.method": tuple(METHOD_SETTINGS),
    "runtime.precision": ("auto", "fp32", "bf16", "fp16"),
    "runtime.channels_last": ("auto", "true", "false"),
    "runtime.compile": ("auto", "true", "false"),
    "eval.fcn_void_predictions": ("skip", "wrong"),
    "eval.label_decoding": ("classes", "classes_and_void"),
}


# Every int and float key (tests check that none is missing); the methods' keys are added below.
_RANGES = {
    "data.load_size": Range(1, why="pixels; images are resized to this square once"),
    "data.crop_size": Range(1, why="pixels; the random training crop"),
    "data.max_images": Range(0, why="0 = every image"),
    "data.memory_limit_mb": Range(1, why="megabytes of preloaded images allowed"),
    "model.ngf": Range(1, why="generator width"),
    "model.ndf": Range(1, why="discriminator width"),
    "model.encoder_lr_scale": Range(0, 1, why="the pretrained encoder's learning rate as a fraction of train.lr; 0 freezes it"),
    "model.d_layers": Range(1, 16, why="PatchGAN depth; 3 = 70x70; it needs crops of at least 3 * 2**d_layers"),
    "pairs.count": Range(0, why="number of paired samples; 0 = unset"),
    "pairs.rate": Range(0, 1, why="the fraction of training images paired: 0.1 = 10%"),
    "pairs.batch_size": Range(0, why="0 = train.batch_size"),
    "train.epochs": Range(0, why="epochs at the initial learning rate"),
    "train.decay_epochs": Range(0, why="epochs of linear decay to 0"),
    "train.batch_size": Range(1, why="images per step"),
    "train.lr": Range(0, 1, open_low=True, why="Adam's step size: far larger steps make training diverge; typical 2e-4"),
    "train.beta1": Range(0, 1, open_high=True, why="Adam's moving-average decay; 1 never updates it; typical 0.5"),
    "train.beta2": Range(0, 1, open_high=True, why="Adam's moving-average decay; 1 never updates it; typical 0.999"),
    "train.seed": Range(0, 2**63 - 1, why="a random seed"),
    "runtime.threads": Range(0, why="0 = torch's default"),
    "train.max_steps": Range(0, why="0 = the full schedule"),
    "log.log_every": Range(1, why="iterations between loss-log lines"),
    "log.sample_every": Range(0, why="iterations between sample grids; 0 = only at the end"),
    "log.checkpoint_every": Range(0, why="iterations between checkpoints; 0 = every epoch end"),
    "log.keep_every_epochs": Range(0, why="0 = only 'latest'"),
    "eval.size": Range(0, why="pixels; 0 = data.crop_size"),
    "eval.max_images": Range(0, why="0 = every image"),
    "eval.fcn_max_color_distance": Range(0, why="an RGB distance"),
    "eval.samples": Range(0, why="image rows in the report per direction"),
    "eval.batch_size": Range(1, why="images per forward pass"),
}
for _name, _method_section in METHOD_SETTINGS.items():
    _CHOICES.update({f"{_name}.{key}": choices for key, choices in _method_section.choices.items()})
    _RANGES.update({f"{_name}.{key}": valid for key, valid in _method_section.ranges.items()})


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
    for key, kind, name in (("generator", "generator", m.generator), ("generator_AtoB", "generator", m.generator_AtoB),
                            ("discriminator", "discriminator", m.discriminator)):
        names = registry.list_generators() if kind == "generator" else registry.list_discriminators()
        if name not in names and (name or key != "generator_AtoB"):
            raise ConfigError(f"model.{key}={name!r} is not one of: {', '.join(names)}")
    networks = [(key, "generator", name, registry.generator_kwargs(m, name))
                for key, name in (("generator", m.generator), ("generator_AtoB", m.generator_AtoB)) if name]
    segmenter_only = cfg.train.method == "unimatch" or (cfg.train.method == "paired" and cfg.paired.task == "segment")
    if not segmenter_only:  # a segmenter has no discriminator
        networks.append(("discriminator", "discriminator", m.discriminator, registry.discriminator_kwargs(m)))
    for key, kind, name, kwargs in networks:
        problem = registry.input_size_problem(kind, name, size, **kwargs)
        if not problem:
            continue
        if "n_layers" not in kwargs:
            raise ConfigError(f"data.crop_size={size}: model.{key}={name} {problem}")
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
    """Keys whose values differ between a saved run config and a requested one (neutral keys and the settings
    of methods the run does not use excluded; keys of earlier versions read under their new names)."""
    old, new, defaults = upgrade_keys(flatten(saved)), upgrade_keys(flatten(requested)), flatten(Config().to_dict())
    unused = set(METHOD_SETTINGS) - set(method_sections(old.get("train.method", "cyclegan")))  # other methods' settings
    diffs = []
    for key in sorted(set(old) | set(new)):
        if key in RESUME_NEUTRAL_KEYS or key.startswith("eval.") or key.split(".")[0] in unused:
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
