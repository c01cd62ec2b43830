from pathlib import Path

import pytest
import yaml

from semicycle import config as C
from semicycle.errors import ConfigError


def test_defaults_are_the_cyclegan_paper_settings():
    cfg = C.Config()
    assert (cfg.train.lr, cfg.train.beta1, cfg.train.beta2) == (2e-4, 0.5, 0.999)
    assert (cfg.cyclegan.lambda_cycle, cfg.cyclegan.lambda_identity, cfg.cyclegan.pool_size) == (10.0, 0.5, 50)
    assert (cfg.data.load_size, cfg.data.crop_size) == (286, 256)
    assert cfg.model.generator == "resnet_9blocks" and cfg.model.d_layers == 3


def test_yaml_then_overrides_with_type_coercion(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("data:\n  dataset: aligned\n  root: /x\ntrain:\n  epochs: 3\n")
    cfg = C.load_yaml(path)
    cfg = C.apply_overrides(cfg, ["train.epochs=5", "train.lr=1e-3", "data.flip=false", "model.ngf=16"])
    assert cfg.train.epochs == 5 and isinstance(cfg.train.epochs, int)
    assert cfg.train.lr == pytest.approx(1e-3) and isinstance(cfg.train.lr, float)
    assert cfg.data.flip is False and cfg.model.ngf == 16 and cfg.data.root == "/x"


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as err:
        C.apply_overrides(C.Config(), ["train.epoch=5"])
    msg = str(err.value)
    assert "train.epoch" in msg and "epochs" in msg and "decay_epochs" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="top level has"):
        C.apply_overrides(C.Config(), ["trian.epochs=5"])


def test_unknown_key_in_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  ngff: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*model\.ngff"):
        C.load_yaml(path)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.epochs=many", "expected int"),
        ("data.flip=maybe", "expected bool"),
        ("data.dataset=folders", "not one of"),
        ("paired.augment=heavy", r"paired\.augment='heavy' is not one of: none, strong"),
        ("unimatch.feature_perturbation=maybe", "is not one of: auto, on, off"),
        ("data.crop_size=400", "exceeds data.load_size"),
        ("train.batch_size=0", r"train\.batch_size=0 is out of range: must be a whole number >= 1"),
        ("epochs", "section.key=value"),
    ],
)
def test_bad_values_are_clear(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        C.apply_overrides(C.Config(), [override])


def test_real_dataset_needs_a_root():
    with pytest.raises(ConfigError, match="data.root is required"):
        C.apply_overrides(C.Config(), ["data.dataset=aligned"])


def test_resume_differences_ignore_neutral_keys():
    saved = C.Config().to_dict()
    requested = C.apply_overrides(C.Config(), ["train.max_steps=7", "log.log_every=3", "train.epochs=9"]).to_dict()
    assert C.resume_differences(saved, requested) == ["train.epochs: 100 -> 9"]


def test_runs_older_than_a_key_resume_with_its_legacy_value():
    saved = C.Config().to_dict()
    del saved["data"]["subset"], saved["runtime"]["precision"]  # a run saved before these keys existed
    assert C.resume_differences(saved, C.Config().to_dict()) == []  # today's defaults: the run's own values
    legacy = C.apply_overrides(C.Config(), ["runtime.precision=fp32"]).to_dict()
    assert C.resume_differences(saved, legacy) == []
    changed = C.apply_overrides(C.Config(), ["data.subset=s.txt", "runtime.precision=bf16"]).to_dict()
    assert C.resume_differences(saved, changed) == ["data.subset: '' (the run predates this key) -> 's.txt'",
                                                    "runtime.precision: 'fp32' (the run predates this key) -> 'bf16'"]
    assert C.resume_differences(C.Config().to_dict(), C.apply_overrides(C.Config(), ["data.subset=s.txt"]).to_dict()) == [
        "data.subset: '' -> 's.txt'"]


def test_a_paired_run_from_before_paired_augment_resumes_without_augmentation():
    saved = C.apply_overrides(C.Config(), ["train.method=paired", "paired.task=segment"]).to_dict()
    del saved["paired"]["augment"]
    assert C.from_dict(saved).paired.augment == "none"
    assert C.resume_differences(saved, C.from_dict(saved).to_dict()) == []
    strong = C.apply_overrides(C.from_dict(saved), ["paired.augment=strong"]).to_dict()
    assert C.resume_differences(saved, strong) == ["paired.augment: 'none' (the run predates this key) -> 'strong'"]


def test_old_flat_keys_work_with_one_deprecation_line_naming_the_new_key(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(C, "_WARNED", set())
    cfg = C.apply_overrides(C.Config(), ["train.kappa=3", "train.precision=fp32", "train.kappa=4"])
    assert cfg.okada.kappa == 4 and cfg.runtime.precision == "fp32"
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["semicycle: train.kappa is deprecated; use okada.kappa",
                     "semicycle: train.precision is deprecated; use runtime.precision"]
    path = tmp_path / "old.yaml"
    path.write_text("train: {method: shukla, gan_loss: rasgan, balance: false, log_every: 7}\n")
    cfg = C.load_yaml(path)
    assert (cfg.cyclegan.gan_loss, cfg.paired.gan_loss, cfg.shukla.balance, cfg.log.log_every) == ("rasgan", "rasgan", False, 7)
    assert len(capsys.readouterr().err.splitlines()) == 3  # gan_loss, balance, log_every
    assert C.from_dict({"train": {"lambda_l1": 5}}).paired.lambda_l1 == 5  # a saved config: silent
    assert capsys.readouterr().err == ""


def test_every_method_has_its_section_and_old_runs_compare_under_the_new_names():
    from semicycle.method_settings import METHOD_SETTINGS, method_sections
    from semicycle.methods import METHODS

    cfg = C.Config()
    assert list(METHODS) == list(METHOD_SETTINGS)  # every method has its section, in the registry's order
    for name, method in METHODS.items():
        assert isinstance(getattr(cfg, name), METHOD_SETTINGS[name].settings)
        # the sections a method reads are its own and those of the methods it subclasses
        assert method_sections(name) == [cls.name for cls in method.__mro__ if cls.__dict__.get("name")]
    assert method_sections("okada") == ["okada", "cyclegan"] and method_sections("mondal") == ["mondal"]
    saved = yaml.safe_load((Path(__file__).parent / "fixtures" / "run_46892f9" / "config.yaml").read_text())
    assert saved["train"]["method"] == "okada" and "kappa" in saved["train"]  # the flat keys of 46892f9
    requested = C.apply_overrides(C.from_dict(saved), ["paired.gan_loss=vanilla", "log.log_every=3"])
    # paired's settings do not matter to an okada run; its own and CycleGAN's do
    assert C.resume_differences(saved, requested.to_dict()) == []
    assert C.resume_differences(saved, C.apply_overrides(requested, ["okada.kappa=2", "cyclegan.pool_size=1"]).to_dict()) == [
        "cyclegan.pool_size: 4 -> 1", "okada.kappa: 10.0 -> 2.0"]


def test_presets_are_listed_and_load():
    presets = C.list_presets()
    assert "demo" in presets and presets["demo"]
    cfg = C.load_preset("demo")
    assert cfg.data.dataset == "synthetic" and cfg.data.crop_size == 64
    with pytest.raises(ConfigError, match="available: .*demo"):
        C.load_preset("nope")


def test_saved_config_round_trips(tmp_path):
    cfg = C.apply_overrides(C.Config(), ["train.epochs=3", "data.palette=facades"])
    cfg.save(tmp_path / "config.yaml")
    assert C.load_yaml(tmp_path / "config.yaml").to_dict() == cfg.to_dict()


LOSS_WEIGHTS = ["cyclegan.lambda_cycle", "cyclegan.lambda_identity", "paired.lambda_l1", "okada.kappa", "shukla.lambda_reconstruction",
                "mondal.lambda_image_sup", "mondal.lambda_label_cycle", "mondal.lambda_image_cycle", "mondal.lambda_label_adv",
                "mondal.lambda_image_adv", "unimatch.weight_fp", "unimatch.weight_strong"]
PROBABILITIES = ["unimatch.threshold", "unimatch.cutmix_prob"]
AT_LEAST_0 = ["data.max_images", "pairs.count", "pairs.batch_size", "train.epochs", "train.decay_epochs", "cyclegan.pool_size",
              "train.seed", "runtime.threads", "train.max_steps", "log.sample_every", "log.checkpoint_every",
              "log.keep_every_epochs", "eval.size", "eval.max_images", "eval.samples"]
AT_LEAST_1 = ["data.load_size", "data.crop_size", "data.memory_limit_mb", "model.ngf", "model.ndf",
              "train.batch_size", "log.log_every", "eval.batch_size"]
OUT_OF_RANGE = [
    *[(f"train.lr={v}", "train.lr", "a finite number in (0, 1]") for v in ("inf", "1e6", ".nan", "0", "-2e-4", "1.5")],
    *[(f"train.{b}={v}", f"train.{b}", "a finite number in [0, 1)") for b in ("beta1", "beta2") for v in ("1", "-0.1", ".nan", "inf")],
    *[(f"{key}={v}", key, "a finite number >= 0") for key in LOSS_WEIGHTS for v in ("-1", "inf", ".nan")],
    *[(f"{key}={v}", key, "a finite number in [0, 1]") for key in ["pairs.rate", *PROBABILITIES] for v in ("1.5", "-0.1", ".nan", "inf")],
    *[(f"unimatch.feature_dropout={v}", "unimatch.feature_dropout", "a finite number in [0, 1)") for v in ("1", "-0.1", ".nan")],
    *[(f"unimatch.strong_views={v}", "unimatch.strong_views", "a whole number in [1, 2]") for v in (0, 3)],
    *[(f"eval.fcn_max_color_distance={v}", "eval.fcn_max_color_distance", "a finite number >= 0") for v in ("-1", "inf", ".nan")],
    *[(f"{key}=-1", key, "a whole number >= 0") for key in AT_LEAST_0 if key != "train.seed"],
    ("train.seed=-1", "train.seed", "a whole number in [0, 9223372036854775807]"),
    ("train.seed=9223372036854775808", "train.seed", "a whole number in [0, 9223372036854775807]"),
    *[(f"{key}=0", key, "a whole number >= 1") for key in AT_LEAST_1],
    *[(f"model.d_layers={v}", "model.d_layers", "a whole number in [1, 16]") for v in (0, 17, 10**9)],
]


@pytest.mark.parametrize("override, key, valid", OUT_OF_RANGE, ids=[o for o, _, _ in OUT_OF_RANGE])
def test_each_out_of_range_setting_is_refused_with_its_range(override, key, valid):
    with pytest.raises(ConfigError) as err:
        C.apply_overrides(C.Config(), [override])
    msg = str(err.value)
    assert msg.startswith(f"{key}=") and f"is out of range: must be {valid}" in msg and "\n" not in msg


def test_a_huge_learning_rate_says_why():
    with pytest.raises(ConfigError, match=r"train\.lr=1000000\.0 .*\(0, 1\].*diverge.*2e-4"):
        C.apply_overrides(C.Config(), ["train.lr=1e6"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.lr=1"], ["train.lr=1e-9"], ["train.beta1=0", "train.beta2=0.9999"], ["pairs.rate=1"], ["pairs.rate=0"],
        [f"{key}=0" for key in PROBABILITIES], [f"{key}=1" for key in PROBABILITIES], ["unimatch.feature_dropout=0"],
        ["unimatch.feature_dropout=0.999", "unimatch.strong_views=1"],
        [f"{key}=0" for key in LOSS_WEIGHTS], ["eval.fcn_max_color_distance=0"],
        [f"{key}=0" for key in AT_LEAST_0 if key != "train.decay_epochs"], ["train.epochs=1", "train.decay_epochs=0"],
        [f"{key}=1" for key in AT_LEAST_1 if not key.startswith("data.")],
        ["train.epochs=0", "train.decay_epochs=1"], ["train.seed=9223372036854775807"],
        ["data.load_size=8", "data.crop_size=8", "model.generator=resnet_6blocks", "model.d_layers=1"],
    ],
)
def test_boundary_values_are_accepted(overrides):
    cfg = C.apply_overrides(C.Config(), overrides)
    for item in overrides:
        key, value = item.split("=")
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == C._coerce(value, type(getattr(getattr(cfg, section), name)), key)


def test_every_numeric_setting_has_a_range():
    """A new int or float key without a declared range would accept -1 (and nan): refuse that."""
    for key, value in C.flatten(C.Config().to_dict()).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        with pytest.raises(ConfigError, match=rf"^{key}=-1"):
            C.apply_overrides(C.Config(), [f"{key}=-1"])
        if isinstance(value, float):
            with pytest.raises(ConfigError, match=rf"^{key}=nan is out of range"):
                C.apply_overrides(C.Config(), [f"{key}=.nan"])


def test_methods_and_networks_are_checked_by_name():
    from semicycle.methods import METHODS
    from semicycle.models import list_discriminators, list_generators

    for name in METHODS:
        assert C.apply_overrides(C.Config(), [f"train.method={name}"]).train.method == name
    with pytest.raises(ConfigError, match=r"train\.method='cyclegn' is not one of: cyclegan, paired"):
        C.apply_overrides(C.Config(), ["train.method=cyclegn"])
    for name in list_generators():
        big = ["data.load_size=256", "data.crop_size=256", f"model.generator={name}"]
        assert C.apply_overrides(C.Config(), big).model.generator == name
    for name in list_discriminators():
        assert C.apply_overrides(C.Config(), [f"model.discriminator={name}"]).model.discriminator == name
    with pytest.raises(ConfigError, match=r"model\.generator='resnet' is not one of: mobilenet_v2_unet, resnet_6blocks"):
        C.apply_overrides(C.Config(), ["model.generator=resnet"])
    with pytest.raises(ConfigError, match=r"model\.discriminator='patch' is not one of: patchgan"):
        C.apply_overrides(C.Config(), ["model.discriminator=patch"])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.generator=resnet_6blocks", "data.crop_size=30"],
         "data.crop_size=30: model.generator=resnet_6blocks needs a multiple of 4 (e.g. 32;"),
        (["model.generator=resnet_9blocks", "data.crop_size=33"], "model.generator=resnet_9blocks needs a multiple of 4 (e.g. 36;"),
        (["model.generator=resnet_6blocks", "data.crop_size=4", "model.discriminator=pixelgan"],
         "data.crop_size=4: model.generator=resnet_6blocks needs at least 8 (e.g. 8;"),
        (["model.generator=unet_128", "data.crop_size=64"], "data.crop_size=64: model.generator=unet_128 needs a multiple of 128 (e.g. 128;"),
        (["model.generator=unet_128", "data.crop_size=96"], "model.generator=unet_128 needs a multiple of 128 (e.g. 128;"),
        (["model.generator=unet_128", "data.crop_size=192"], "model.generator=unet_128 needs a multiple of 128 (e.g. 256;"),
        (["model.generator=unet_256", "data.crop_size=128"], "model.generator=unet_256 needs a multiple of 256 (e.g. 256;"),
        (["model.generator=resnet_6blocks", "data.crop_size=16"],
         "data.crop_size=16: model.discriminator=patchgan with model.d_layers=3 needs at least 24 (e.g. 24;"),
        (["model.generator=resnet_6blocks", "data.crop_size=32", "model.d_layers=4"],
         "model.discriminator=patchgan with model.d_layers=4 needs at least 48"),
    ],
)
def test_crop_sizes_the_networks_cannot_train_on_are_refused(overrides, message):
    with pytest.raises(ConfigError) as err:
        C.apply_overrides(C.Config(), ["data.load_size=300", *overrides])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_too_deep_patchgan_suggests_a_shallower_one():
    with pytest.raises(ConfigError, match=r"needs at least 24 .*; or set model\.d_layers=2$"):
        C.apply_overrides(C.Config(), ["data.crop_size=16", "model.generator=resnet_6blocks"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.generator=resnet_6blocks", "data.crop_size=24"],  # the smallest the 70x70 PatchGAN takes
        ["model.generator=resnet_6blocks", "data.crop_size=36", "eval.size=30"],  # evaluation pads any size
        ["model.generator=resnet_6blocks", "data.crop_size=8", "model.d_layers=1"],
        ["model.generator=resnet_6blocks", "data.crop_size=8", "model.discriminator=pixelgan"],
        ["model.generator=resnet_6blocks", "data.crop_size=16", "train.method=paired", "paired.task=segment"],  # no D
        ["model.generator=unet_128", "data.crop_size=128"],
        ["model.generator=unet_128", "data.crop_size=256"],
        ["model.generator=unet_256", "data.crop_size=256"],
    ],
)
def test_crop_sizes_the_networks_take_are_accepted(overrides):
    C.apply_overrides(C.Config(), ["data.load_size=300", *overrides])


def _trains(net, size: int, generator: bool) -> bool:
    """One train-mode forward of a batch of one: works, and (generators) gives back the input size."""
    import torch

    try:
        with torch.no_grad():
            out = net.train()(torch.zeros(1, net.arch["kwargs"]["in_channels"], size, size))
    except (RuntimeError, ValueError, ConfigError):
        return False
    return tuple(out.shape[-2:]) == (size, size) if generator else out.numel() > 0


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_the_size_rules_are_what_the_networks_do(norm):
    """The registry's rule (used by validate) against real forward passes of every registered network."""
    from semicycle.models import create_discriminator, create_generator, list_discriminators, list_generators
    from semicycle.models.registry import input_size_problem, registered_defaults

    for name in list_generators():
        net = create_generator(name, ngf=2, norm=norm)
        sizes = range(1, 41) if name.startswith("resnet") else (64, 96, 128, 192, 256)
        for size in sizes:
            assert (input_size_problem("generator", name, size) is None) == _trains(net, size, True), (name, size)
    for name in list_discriminators():
        for layers in (1, 2, 3, 4) if name == "patchgan" else (None,):
            kwargs = {"n_layers": layers} if layers else {}
            if "norm" not in registered_defaults("discriminator", name):
                kwargs["norm"] = norm
            net = create_discriminator(name, ndf=2, **kwargs)
            for size in range(1, 3 * 2**(layers or 1) + 4):
                rule_ok = input_size_problem("discriminator", name, size, **kwargs) is None
                assert rule_ok == _trains(net, size, False), (name, kwargs, size)


def test_every_preset_validates_also_at_the_experiments_sizes():
    small = ["data.load_size=36", "data.crop_size=32", "model.generator=resnet_6blocks", "model.ngf=8", "model.ndf=8"]
    cpu = ["data.load_size=72", "data.crop_size=64", "model.generator=resnet_6blocks", "model.ngf=32", "model.ndf=32"]
    for name in C.list_presets():
        C.load_preset(name)
        C.apply_overrides(C.load_preset(name), small)
        C.apply_overrides(C.load_preset(name), cpu)
