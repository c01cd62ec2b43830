import json

import pytest
import torch
from torch import nn

from semicycle.errors import ConfigError
from semicycle.models import (
    PatchDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    build_from_arch,
    create_discriminator,
    create_generator,
    init_weights,
    list_discriminators,
    list_generators,
    norm_layer,
    registered_defaults,
    receptive_field,
    run_padded,
)

from conftest import RGB_INPUT_ONLY


def small_generator(name, **kwargs):
    return create_generator(name, ngf=8, **kwargs)


def generator_sizes(name):
    """Two test sizes per generator: its smallest valid size (at least 64) and double."""
    base = max(64, small_generator(name).size_multiple)
    return [base, 2 * base]


GENERATOR_CASES = [(name, size) for name in list_generators() for size in generator_sizes(name)]


def test_registry_lists_the_paper_architectures():
    assert {"resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256"} <= set(list_generators())
    assert {"patchgan", "pixelgan"} <= set(list_discriminators())


@pytest.mark.parametrize("name,size", GENERATOR_CASES)
def test_generator_output_shape_and_tanh_range(name, size):
    model = small_generator(name).eval()
    x = torch.randn(2, 3, size, size) * 5
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


@pytest.mark.parametrize("name", list_generators())
def test_generator_logits_head_for_label_maps(name):
    size = generator_sizes(name)[0]
    in_channels = 3 if name in RGB_INPUT_ONLY else 12
    logits_model = small_generator(name, in_channels=in_channels, out_channels=12, output="logits").eval()
    tanh_model = small_generator(name, in_channels=in_channels, out_channels=12, output="tanh").eval()
    tanh_model.load_state_dict(logits_model.state_dict(), strict=True)
    if name in RGB_INPUT_ONLY:
        one_hot = torch.rand(1, 3, size, size) * 2 - 1  # a photo
    else:
        labels = torch.randint(0, 12, (1, size, size))
        one_hot = nn.functional.one_hot(labels, 12).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        logits = logits_model(one_hot)
        images = tanh_model(one_hot)
    assert logits.shape == (1, 12, size, size)
    torch.testing.assert_close(torch.tanh(logits), images)


@pytest.mark.parametrize("name", list_discriminators())
@pytest.mark.parametrize("size", [64, 128])
def test_discriminator_output_is_one_channel_map(name, size):
    model = create_discriminator(name, ndf=8)
    with torch.no_grad():
        y = model(torch.randn(2, 3, size, size))
    assert y.ndim == 4 and y.shape[:2] == (2, 1)
    assert 0 < y.shape[2] <= size and 0 < y.shape[3] <= size


@pytest.mark.parametrize("size,expected", [(64, 6), (128, 14), (256, 30)])
def test_patchgan_output_size(size, expected):
    model = create_discriminator("patchgan", ndf=8)
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 1, expected, expected)


@pytest.mark.parametrize("size", [64, 128])
def test_pixelgan_output_size(size):
    model = create_discriminator("pixelgan", ndf=8)
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 1, size, size)


def test_receptive_field_analytic():
    assert receptive_field(PatchDiscriminator(n_layers=3)) == 70
    assert receptive_field(PatchDiscriminator(n_layers=1)) == 16
    assert receptive_field(PixelDiscriminator()) == 1


def test_receptive_field_rejects_upsampling_models():
    with pytest.raises(ConfigError):
        receptive_field(ResnetGenerator(ngf=8, n_blocks=1))


@pytest.mark.parametrize("name,expected", [("patchgan", 70), ("pixelgan", 1), ("pixelwise", 5), ("pixelwise_1x1", 1)])
def test_receptive_field_empirical(name, expected):
    model = create_discriminator(name, ndf=8, norm="none")
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    y = model(x)
    centre = y[0, 0, y.shape[2] // 2, y.shape[3] // 2]
    (grad,) = torch.autograd.grad(centre, x)
    touched = grad[0].abs().sum(0) != 0
    rows = touched.any(1).nonzero().flatten()
    cols = touched.any(0).nonzero().flatten()
    assert rows[-1] - rows[0] + 1 == expected
    assert cols[-1] - cols[0] + 1 == expected
    assert touched.sum() == expected * expected
    assert receptive_field(model) == expected


def test_init_weights_std():
    torch.manual_seed(0)
    model = create_generator("resnet_9blocks", ngf=16)
    convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.mean().item()) < 1e-3
    assert weights.std().item() == pytest.approx(0.02, rel=0.02)
    assert all(m.bias is None or not m.bias.any() for m in convs)


def test_init_weights_batch_norm():
    torch.manual_seed(0)
    model = init_weights(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4096)))
    bn = model[1]
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=2e-3)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.1)
    assert not bn.bias.any()


def test_create_is_reproducible_with_a_seed():
    torch.manual_seed(123)
    first = create_discriminator("patchgan", ndf=8).state_dict()
    torch.manual_seed(123)
    second = create_discriminator("patchgan", ndf=8).state_dict()
    for key in first:
        torch.testing.assert_close(first[key], second[key])


class _Echo(nn.Module):
    size_multiple = 8

    def forward(self, x):
        self.seen = x.shape
        return x * 2


def test_run_padded_pads_to_multiple_and_crops_back():
    model = _Echo()
    x = torch.randn(1, 3, 67, 93)
    y = run_padded(model, x)
    assert model.seen[-2:] == (72, 96)
    torch.testing.assert_close(y, x * 2)


@pytest.mark.parametrize("name", ["resnet_6blocks", "unet_128", "unet_256"])
def test_run_padded_on_odd_sizes(name):
    # unet_256 needs more padding than the image has: replicate padding fallback.
    model = small_generator(name).eval()
    with torch.no_grad():
        y = run_padded(model, torch.randn(1, 3, 67, 93))
    assert y.shape == (1, 3, 67, 93)


def test_resize_upsampling():
    model = small_generator("resnet_6blocks", upsample="resize")
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in model.modules())
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_unet_rejects_too_small_input():
    model = small_generator("unet_256")
    with pytest.raises(ConfigError, match=r"64x64 is too small .* num_downs <= 6"):
        model(torch.randn(1, 3, 64, 64))


def test_unknown_names_list_valid_choices():
    with pytest.raises(ConfigError, match="resnet_9blocks") as info:
        create_generator("resnet_100blocks")
    assert "unet_256" in str(info.value)
    with pytest.raises(ConfigError, match="patchgan.*pixelgan"):
        create_discriminator("stylegan")
    with pytest.raises(ConfigError, match="unknown discriminator 'stylegan'; choose one of patchgan"):
        registered_defaults("discriminator", "stylegan")
    with pytest.raises(ConfigError, match="instance, batch, none"):
        norm_layer("group", 8)
    with pytest.raises(ConfigError, match="transpose, resize"):
        small_generator("resnet_6blocks", upsample="bilinear")
    with pytest.raises(ConfigError, match="tanh, logits"):
        small_generator("unet_128", output="sigmoid")


def test_unknown_kwarg_is_named_with_accepted_ones():
    with pytest.raises(ConfigError, match="'n_layer'.*n_layers"):
        create_discriminator("patchgan", n_layer=4)
    with pytest.raises(ConfigError, match="'num_down'.*num_downs"):
        create_generator("unet_256", num_down=7)


@pytest.mark.parametrize(
    "kind,name",
    [("generator", n) for n in list_generators()]
    + [("discriminator", n) for n in list_discriminators()],
)
def test_build_from_arch_round_trip(kind, name):
    create = create_generator if kind == "generator" else create_discriminator
    width = {"ngf": 8} if kind == "generator" else {"ndf": 8}
    model = create(name, **width)
    arch = json.loads(json.dumps(model.arch))  # as stored in a checkpoint
    assert arch["name"] == name
    assert arch["kwargs"][next(iter(width))] == 8
    rebuilt = build_from_arch(arch, kind)
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    assert rebuilt.arch == model.arch


def test_arch_records_registry_defaults():
    assert create_generator("resnet_6blocks", ngf=8).arch["kwargs"]["n_blocks"] == 6
    assert create_generator("unet_128", ngf=8).arch["kwargs"]["num_downs"] == 7
    assert create_discriminator("patchgan", ndf=8, n_layers=4).arch["kwargs"]["n_layers"] == 4


def test_build_from_arch_rejects_bad_input():
    with pytest.raises(ConfigError):
        build_from_arch({"kwargs": {}}, "generator")
    with pytest.raises(ConfigError, match="generator, discriminator"):
        build_from_arch({"name": "patchgan", "kwargs": {}}, "critic")


@pytest.mark.parametrize("name", list_generators())
def test_generators_backpropagate_in_training_mode(name):
    model = small_generator(name).train()
    size = max(32, model.size_multiple)
    x = torch.randn(2, 3, size, size, requires_grad=True)
    model(x).square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", list_generators())
def test_separable_encoders_decode_clean_and_perturbed_features_in_one_pass(name):
    """UniMatch's feature perturbation: ``forward(x, feature_dropout=p)`` gives the plain output, then the output
    of the encoder's features under channel dropout; the U-Nets have no encoder that splits off."""
    model = small_generator(name).train()
    if not getattr(model, "separable_encoder", False):
        assert name.startswith("unet")
        return
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    plain = model(x)
    clean, perturbed = model(x, feature_dropout=0.5).chunk(2)
    assert torch.allclose(clean, plain, atol=1e-5) and not torch.allclose(perturbed, plain, atol=1e-3)
    assert torch.allclose(model(x, feature_dropout=0.0), torch.cat([plain, plain]), atol=1e-5)
    model(x, feature_dropout=0.5).chunk(2)[1].square().mean().backward()  # the perturbed half reaches every layer
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
