import pytest

from semicycle import config as C
from semicycle.errors import ConfigError


def test_defaults_are_the_cyclegan_paper_settings():
    cfg = C.Config()
    assert (cfg.train.lr, cfg.train.beta1, cfg.train.beta2) == (2e-4, 0.5, 0.999)
    assert (cfg.train.lambda_cycle, cfg.train.lambda_identity, cfg.train.pool_size) == (10.0, 0.5, 50)
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
        ("data.crop_size=400", "exceeds data.load_size"),
        ("train.batch_size=0", "must be positive"),
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
    requested = C.apply_overrides(C.Config(), ["train.max_steps=7", "train.log_every=3", "train.epochs=9"]).to_dict()
    assert C.resume_differences(saved, requested) == ["train.epochs: 100 -> 9"]


def test_runs_older_than_a_key_resume_with_its_legacy_value():
    saved = C.Config().to_dict()
    del saved["data"]["subset"], saved["train"]["precision"]  # a run saved before these keys existed
    assert C.resume_differences(saved, C.Config().to_dict()) == []  # today's defaults: the run's own values
    legacy = C.apply_overrides(C.Config(), ["train.precision=fp32"]).to_dict()
    assert C.resume_differences(saved, legacy) == []
    changed = C.apply_overrides(C.Config(), ["data.subset=s.txt", "train.precision=bf16"]).to_dict()
    assert C.resume_differences(saved, changed) == ["data.subset: '' (the run predates this key) -> 's.txt'",
                                                    "train.precision: 'fp32' (the run predates this key) -> 'bf16'"]
    assert C.resume_differences(C.Config().to_dict(), C.apply_overrides(C.Config(), ["data.subset=s.txt"]).to_dict()) == [
        "data.subset: '' -> 's.txt'"]


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
