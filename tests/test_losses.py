import math

import pytest
import torch

from semicycle.errors import ConfigError
from semicycle.losses import (
    GANLoss,
    cycle_loss,
    identity_loss,
    l2_loss,
    pixel_cross_entropy,
    relativistic_d_loss,
    relativistic_g_loss,
    soft_cross_entropy,
    supervised_l1,
)


def bce_real(z):  # -log sigmoid(z)
    return math.log1p(math.exp(-z))


def bce_fake(z):  # -log(1 - sigmoid(z))
    return math.log1p(math.exp(z))


PRED = torch.tensor([[0.5, -1.0], [2.0, 0.0]])


def test_lsgan_values():
    loss = GANLoss("lsgan")
    assert loss(PRED, True).item() == pytest.approx((0.25 + 4 + 1 + 1) / 4)
    assert loss(PRED, False).item() == pytest.approx((0.25 + 1 + 4 + 0) / 4)


def test_vanilla_values():
    loss = GANLoss("vanilla")
    values = PRED.flatten().tolist()
    assert loss(PRED, True).item() == pytest.approx(sum(map(bce_real, values)) / 4)
    assert loss(PRED, False).item() == pytest.approx(sum(map(bce_fake, values)) / 4)


@pytest.mark.parametrize("mode", ["lsgan", "vanilla"])
def test_gan_loss_signs(mode):
    loss = GANLoss(mode)
    high, low = torch.ones(4), torch.zeros(4)

    def d_loss(real_pred, fake_pred):
        return loss(real_pred, True) + loss(fake_pred, False)

    # D's loss is lower when it scores real above fake; G wants its fakes scored high.
    assert d_loss(high, low) < d_loss(low, high)
    assert loss(high, True) < loss(low, True)


def test_unknown_gan_mode():
    with pytest.raises(ConfigError, match="lsgan, vanilla"):
        GANLoss("wgan")


REAL = torch.tensor([1.0, 3.0])  # mean 2
FAKE = torch.tensor([0.0, -2.0])  # mean -1


def test_rasgan_values():
    # real - mean(fake) = [2, 4]; fake - mean(real) = [-2, -4]
    d = (bce_real(2) + bce_real(4)) / 2 + (bce_fake(-2) + bce_fake(-4)) / 2
    g = (bce_real(-2) + bce_real(-4)) / 2 + (bce_fake(2) + bce_fake(4)) / 2
    assert relativistic_d_loss(REAL, FAKE, "rasgan").item() == pytest.approx(d)
    assert relativistic_g_loss(REAL, FAKE, "rasgan").item() == pytest.approx(g)


def test_ralsgan_values():
    d = ((2 - 1) ** 2 + (4 - 1) ** 2) / 2 + ((-2 + 1) ** 2 + (-4 + 1) ** 2) / 2
    g = ((-2 - 1) ** 2 + (-4 - 1) ** 2) / 2 + ((2 + 1) ** 2 + (4 + 1) ** 2) / 2
    assert relativistic_d_loss(REAL, FAKE, "ralsgan").item() == pytest.approx(d)
    assert relativistic_g_loss(REAL, FAKE, "ralsgan").item() == pytest.approx(g)


@pytest.mark.parametrize("mode", ["rasgan", "ralsgan"])
def test_relativistic_signs(mode):
    # When D separates real from fake, D's loss is low and G's is high, and vice versa.
    assert relativistic_d_loss(REAL, FAKE, mode) < relativistic_d_loss(FAKE, REAL, mode)
    assert relativistic_g_loss(REAL, FAKE, mode) > relativistic_g_loss(FAKE, REAL, mode)
    assert relativistic_d_loss(REAL, FAKE, mode) < relativistic_g_loss(REAL, FAKE, mode)


def test_relativistic_gradients_reach_both_inputs():
    real = REAL.clone().requires_grad_()
    fake = FAKE.clone().requires_grad_()
    relativistic_g_loss(real, fake).backward()
    assert fake.grad.abs().sum() > 0 and real.grad.abs().sum() > 0


def test_unknown_relativistic_mode():
    with pytest.raises(ConfigError, match="rasgan, ralsgan"):
        relativistic_d_loss(REAL, FAKE, "rahinge")
    with pytest.raises(ConfigError, match="rasgan, ralsgan"):
        relativistic_g_loss(REAL, FAKE, "lsgan")


def test_l1_and_l2_values():
    a = torch.tensor([1.0, -1.0, 0.5, 2.0])
    b = torch.tensor([0.0, 1.0, 0.5, -1.0])  # |diff| = 1, 2, 0, 3
    for loss in (cycle_loss, identity_loss, supervised_l1):
        assert loss(a, b).item() == pytest.approx(6 / 4)
    assert l2_loss(a, b).item() == pytest.approx(14 / 4)


def test_pixel_cross_entropy_value_and_ignore_index():
    # One image, 2 classes, 1x3 pixels; the last pixel is void (255).
    logits = torch.tensor([[[[2.0, 0.0, 9.0]], [[0.0, 1.0, -9.0]]]])
    target = torch.tensor([[[0, 1, 255]]])
    expected = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))) / 2
    assert pixel_cross_entropy(logits, target).item() == pytest.approx(expected)
    # The void pixel's logits do not matter.
    changed = logits.clone()
    changed[..., 2] = torch.tensor([-5.0, 5.0]).view(1, 2, 1)
    assert pixel_cross_entropy(changed, target).item() == pytest.approx(expected)


def test_pixel_cross_entropy_matches_torch_with_weights():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 5, 6)
    target = torch.randint(0, 4, (2, 5, 6))
    target[0, :2] = 255
    weight = torch.tensor([1.0, 2.0, 0.5, 3.0])
    expected = torch.nn.functional.cross_entropy(logits, target, weight=weight, ignore_index=255)
    torch.testing.assert_close(pixel_cross_entropy(logits, target, weight=weight), expected)


def test_pixel_cross_entropy_all_ignored_is_zero_not_nan():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = pixel_cross_entropy(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_soft_cross_entropy_matches_index_cross_entropy_on_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4)
    target = torch.randint(0, 5, (2, 3, 4))
    one_hot = torch.nn.functional.one_hot(target, 5).permute(0, 3, 1, 2)
    torch.testing.assert_close(
        soft_cross_entropy(logits, one_hot), pixel_cross_entropy(logits, target)
    )


def test_soft_cross_entropy_value():
    logits = torch.tensor([[[[0.0]], [[0.0]]]])  # uniform over 2 classes
    probs = torch.tensor([[[[0.3]], [[0.7]]]])
    assert soft_cross_entropy(logits, probs).item() == pytest.approx(math.log(2))


def test_losses_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    weight = torch.randn(3, 3)
    x = torch.randn(4, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = x @ weight  # bf16 under autocast
        assert pred.dtype == torch.bfloat16
        logits = pred.T.reshape(1, 3, 2, 2)
        labels = torch.tensor([[[0, 1], [2, 255]]])
        losses = [
            GANLoss("lsgan")(pred, True),
            GANLoss("vanilla")(pred, False),
            relativistic_d_loss(pred, pred.flip(0), "rasgan"),
            relativistic_g_loss(pred, pred.flip(0), "ralsgan"),
            cycle_loss(pred, x),
            identity_loss(pred, x),
            supervised_l1(pred, x),
            l2_loss(pred, x),
            pixel_cross_entropy(logits, labels),
            soft_cross_entropy(logits, torch.softmax(logits.float(), 1)),
        ]
    for loss in losses:
        assert loss.dtype == torch.float32 and loss.ndim == 0
        assert torch.isfinite(loss)
