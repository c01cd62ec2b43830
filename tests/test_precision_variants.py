"""The bf16 variants of benchmarks/precision_variants.py (issue 45) change the precision where their names say.

Their quality is benchmarks/precision_parity.py's measurement and their speed that file's own; here, the
arithmetic: which passes run in bf16 and which in fp32.
"""

import copy
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from experiments import benchmark_tables
from semicycle.engine.trainer import Trainer

from test_fast_path import NARROW, no_bf16_warning
from tiny_runs import tiny_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import precision_parity  # noqa: E402  (benchmarks/ is not a package)
import precision_variants  # noqa: E402

CONVOLUTIONS = {
    "reflect padding, bias": lambda: nn.Conv2d(3, 5, 3, padding=1, padding_mode="reflect"),
    "stride 2, no bias": lambda: nn.Conv2d(3, 5, 4, stride=2, padding=1, bias=False),
    "transposed, stride 2": lambda: nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1, output_padding=1),
}


@no_bf16_warning
@pytest.mark.parametrize("make", CONVOLUTIONS.values(), ids=list(CONVOLUTIONS))
def test_a_bf16_forward_convolution_rounds_its_forward_and_computes_its_backward_in_fp32(make):
    torch.manual_seed(0)
    reference = make()
    patched = copy.deepcopy(reference)
    precision_variants.bf16_forward_convolution(patched)
    x = torch.randn(2, 3, 9, 9)
    x_ref, x_patched = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ref, y = reference(x_ref), patched(x_patched)

    rounded = copy.deepcopy(reference)  # the same convolution in fp32 on bf16-rounded input and weight
    rounded.weight.data = rounded.weight.data.bfloat16().float()
    with torch.no_grad():
        from_rounded = rounded(x.bfloat16().float())
    assert y.dtype == torch.float32 and y.shape == y_ref.shape
    torch.testing.assert_close(y, from_rounded, rtol=8e-3, atol=8e-3)  # bf16 keeps 8 significant bits
    assert (y - y_ref).abs().max() > 1e-4  # rounded, not the fp32 forward

    grad = torch.randn_like(y)
    y_ref.backward(grad)
    y.backward(grad)
    torch.testing.assert_close(x_patched.grad, x_ref.grad)  # fp32's tolerance: a bf16 backward is ~1e-3 off
    torch.testing.assert_close(patched.weight.grad, reference.weight.grad)
    if reference.bias is not None:
        torch.testing.assert_close(patched.bias.grad, reference.bias.grad)


@no_bf16_warning
def test_pass_through_runs_a_network_in_fp32_exactly_when_the_gradient_passes_through_it():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.2), nn.Conv2d(4, 1, 3))
    reference = copy.deepcopy(net)
    precision_variants.widen_when_passed_through(net)
    real = torch.randn(1, 3, 10, 10)
    fake = (real * 0.5).requires_grad_()  # a generator's output in its own loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert net(real).dtype == torch.bfloat16  # a real image (the discriminator step): as configured
        assert net(fake.detach()).dtype == torch.bfloat16  # a pooled, detached fake
        passed_through = net(fake)
        with torch.no_grad():
            assert net(fake).dtype == torch.bfloat16
    assert passed_through.dtype == torch.float32
    torch.testing.assert_close(passed_through, reference(fake), rtol=0, atol=0)  # the fp32 network


@no_bf16_warning
def test_bf16_forward_generators_patches_the_generators_convolutions_but_their_outputs_and_widens_the_discriminators(
        tmp_path, synthetic_root):
    trainer = Trainer(tiny_config(tmp_path / "run", synthetic_root, *NARROW, "runtime.precision=bf16", "train.max_steps=1"))
    method = trainer.method
    precision_variants.bf16_forward_generators(method)
    generators, discriminators = precision_variants.generators_and_discriminators(method)
    assert len(generators) == len(discriminators) == 2
    for generator in generators:
        outputs = {id(m) for layer in precision_variants.output_layers(generator) for m in layer.modules()}
        convolutions = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        assert outputs and any(id(m) in outputs for m in convolutions)
        assert all(("forward" in vars(m)) == (id(m) not in outputs) for m in convolutions)
    _, batch = next(iter(method.batches.epoch(0)))
    image = batch.images.A
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert all(net(image).dtype == torch.float32 for net in (*generators, *discriminators))
    before = {k: v.clone() for k, v in method.networks["G_AB"].state_dict().items()}
    trainer.fit()
    after = method.networks["G_AB"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained
    assert all(torch.isfinite(v).all() for v in after.values())


def test_parity_compares_each_variant_with_fp32_within_the_larger_seed_sd_and_the_page_shows_every_run():
    def row(variant, seed, pixel):
        scores = {"pixel_accuracy": pixel, "mean_class_accuracy": pixel / 2, "mean_iou": pixel / 4}
        return {"method": "okada", "variant": variant, "seed": seed, "machine": "cpu X", "fp32_inference": scores,
                "inference_agreement": 0.99, "training": {"img_per_s_median": 3.0}}
    rows = [row("fp32", 0, 0.28), row("fp32", 1, 0.29), row("fp32", 2, 0.30),  # sd 0.01
            row("near", 0, 0.275), row("near", 1, 0.285), row("near", 2, 0.295),  # 0.005 below: within
            row("far", 0, 0.24), row("far", 1, 0.25), row("far", 2, 0.26),  # 0.04 below: beyond
            row("one seed", 0, 0.29)]
    near, far = (precision_parity.parity(rows, "okada", v)["pixel_accuracy"] for v in ("near", "far"))
    assert near["difference"] == pytest.approx(-0.005) and near["within_spread"] and near["n_variant"] == 3
    assert far["difference"] == pytest.approx(-0.04) and not far["within_spread"]
    assert precision_parity.parity(rows, "okada", "one seed") == {}  # one seed: no spread, no verdict
    record = {"command": "python benchmarks/precision_parity.py", "written": "now",
              "runs": {precision_parity.run_key(r): r for r in rows},
              "parity": {"okada": {v: precision_parity.parity(rows, "okada", v) for v in ("near", "far")}}}
    page = benchmark_tables.precision_parity(record)
    assert sum(line.startswith("| okada |") for line in page.splitlines()) == len(rows) + 2 * 3
    assert "| okada | far | pixel_accuracy | 0.2900 ± 0.0100 (n=3) | 0.2500 ± 0.0100 (n=3) | -0.0400 | NO |" in page
