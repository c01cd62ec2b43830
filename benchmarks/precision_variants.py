"""Where the fast path keeps bf16: the variants of issues 19 and 45, as changes to a built method's networks.

docs/performance.md found bf16's loss on okada to be a bias in the gradients that pass through a second bf16
network (the adversarial terms through D, the photo cycle through G_BA). Each variant below is the fast path
(``FAST``: bf16 autocast, channels_last, torch.compile) with one part kept in fp32; ``VARIANTS`` maps its name to
(overrides, change), where ``change(method)`` edits the built method's networks in place (instance attributes, so
state_dict keys, checkpoints and resume are untouched) and is applied after the Trainer is built, before training:

* ``fp32``: the reference (fp32, NCHW, eager);
* ``fast``: the fast path as it is;
* ``fast-fp32-pair-step`` (okada): Okada's supervised step in fp32;
* ``fast-fp32-discriminators``: both discriminators in fp32, the generators in bf16;
* ``fast-fp32-pass-through``: a network runs in fp32 exactly when the gradient passes through it to another
  network (its input requires grad: D on a generator's fake in the generator step, the second generator of a
  cycle), in bf16 otherwise (the first generator, identity, the discriminator step);
* ``fast-bf16-forward-generators``: the generators' convolutions compute their forward from bf16 copies of
  input and weight, and their backward (input, weight and bias gradients) in fp32 from the fp32 tensors; the
  discriminators and everything else in fp32.

Speed, side by side in one process (issue 45):

    OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_variants.py                  # 128 and 256 px
    OMP_WAIT_POLICY=PASSIVE python benchmarks/precision_variants.py --sizes 128 --steps 3   # a quick look
    python -m experiments.regenerate_docs    # then: docs/performance.md's table from benchmarks/results/precision_variants.json

The CycleGAN training step of benchmarks/speed.py's reference (the official defaults: ResNet-9 ngf 64, 70x70
PatchGAN, batch 1, facades) in each variant, timed in turns after ``--warmup`` steps each (compiling happens
there), so a change of the machine's load reaches every variant alike; each variant's median seconds per step and
fp32's over it (the speed-up) go to --json. Quality is benchmarks/precision_parity.py's job.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from semicycle.engine.trainer import Trainer
from side_by_side import RESULTS, time_steps, write_record
from speed import REFERENCE, base_config, cpu_name

FAST = ["runtime.precision=bf16", "runtime.channels_last=true", "runtime.compile=true"]
# Each wrapper below is one code object for every network it wraps, so torch.compile keeps one cache entry per network,
# input layout, grad state (and, in the speed benchmark, image size) under that code object: far over dynamo's
# default limit of 8, past which it runs the frame eagerly.
torch._dynamo.config.recompile_limit = 64


def widen(module: nn.Module) -> None:
    """Run ``module`` in fp32 under autocast (a float32 input, autocast off), by instance attribute."""
    forward = module.forward

    def fp32_forward(x):
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float())

    module.forward = fp32_forward


def widen_when_passed_through(module: nn.Module) -> None:
    """Run ``module`` in fp32 when its input requires grad (the gradient of another network's loss passes through
    it), as configured otherwise."""
    forward = module.forward

    def forward_by_input(x):
        if x.requires_grad and torch.is_grad_enabled():
            with torch.autocast(x.device.type, enabled=False):
                return forward(x.float())
        return forward(x)

    module.forward = forward_by_input


class Bf16ForwardConvolution(torch.autograd.Function):
    """``conv(x, w) + b`` from bf16 copies of x and w (fp32 out); its backward in fp32 from the fp32 x and w."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
        ctx.save_for_backward(x, weight)
        ctx.geometry = (stride, padding, dilation, transposed, output_padding, groups)
        ctx.has_bias = bias is not None
        y = torch.ops.aten.convolution(x.bfloat16(), weight.bfloat16(), None, *ctx.geometry).float()
        return y if bias is None else y + bias.view(1, -1, 1, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False]
        grad_x, grad_weight, _ = torch.ops.aten.convolution_backward(grad, x, weight, None, *ctx.geometry, mask)
        grad_bias = grad.sum((0, 2, 3)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_weight, grad_bias, None, None, None, None, None, None


def bf16_forward_convolution(conv: nn.Conv2d | nn.ConvTranspose2d) -> None:
    """Compute ``conv``'s forward in bf16 and its backward in fp32 (``Bf16ForwardConvolution``), by instance attribute."""
    transposed = isinstance(conv, nn.ConvTranspose2d)
    if transposed and conv.padding_mode != "zeros":
        raise ValueError(f"{conv}: a transposed convolution pads only with zeros")

    def forward(x):
        padding = conv.padding
        if conv.padding_mode != "zeros":
            x, padding = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode), (0, 0)
        output_padding = conv.output_padding if transposed else (0, 0)
        return Bf16ForwardConvolution.apply(x.float(), conv.weight, conv.bias, conv.stride, padding, conv.dilation,
                                            transposed, output_padding, conv.groups)

    conv.forward = forward


def output_layers(generator: nn.Module) -> list[nn.Module]:
    """The generator's output layers (kept in fp32 in every precision: ``float32_layers`` of its ``model``)."""
    if not hasattr(generator, "model") or not isinstance(generator.model, nn.Sequential):
        raise ValueError(f"{type(generator).__name__}: the bf16-forward variant needs a generator with a sequential "
                         "'model' (the ResNet generators)")
    return list(generator.model)[len(generator.model) - generator.float32_layers:]


def generators_and_discriminators(method) -> tuple[list[nn.Module], list[nn.Module]]:
    nets = method.networks
    return [n for k, n in nets.items() if k.startswith("G")], [n for k, n in nets.items() if k.startswith("D")]


def fp32_pair_step(method) -> None:
    """Run ``method``'s supervised (pair) step without autocast, everything else as configured."""
    step, runtime = method.supervised_step, method.runtime

    def supervised_step(pair):
        precision, runtime.precision = runtime.precision, "fp32"
        try:
            return step(pair)
        finally:
            runtime.precision = precision

    method.supervised_step = supervised_step


def fp32_discriminators(method) -> None:
    for net in generators_and_discriminators(method)[1]:
        widen(net)


def fp32_pass_through(method) -> None:
    for net in method.networks.values():
        widen_when_passed_through(net)


def bf16_forward_generators(method) -> None:
    generators, discriminators = generators_and_discriminators(method)
    for net in generators:
        tail = {id(m) for layer in output_layers(net) for m in layer.modules()}
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)) and id(module) not in tail:
                bf16_forward_convolution(module)
        widen(net)  # autocast off: the rest of the generator (norms, activations, output layers) in fp32
    for net in discriminators:
        widen(net)


VARIANTS = {  # name: (overrides, change of the built method or None)
    "fp32": (REFERENCE, None),  # fp32, NCHW, eager
    "fast": (FAST, None),
    "fast-fp32-pair-step": (FAST, fp32_pair_step),
    "fast-fp32-discriminators": (FAST, fp32_discriminators),
    "fast-fp32-pass-through": (FAST, fp32_pass_through),
    "fast-bf16-forward-generators": (FAST, bf16_forward_generators),
}


def trainers(size: int, variants: list[str], images: int, folder: Path) -> dict[str, Trainer]:
    out = {}
    for name in variants:
        overrides, change = VARIANTS[name]
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # emulated bf16 on a CPU without it: measured all the same
            out[name] = Trainer(base_config(folder / name, size, None, overrides, images))
        if change is not None:
            change(out[name].method)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    p.add_argument("--variants", nargs="+", choices=[v for v in VARIANTS if v not in ("fp32", "fast-fp32-pair-step")],
                   default=["fast", "fast-fp32-discriminators", "fast-fp32-pass-through", "fast-bf16-forward-generators"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first (the compiled ones compile there)")
    p.add_argument("--images", type=int, default=20, help="facades images preloaded per variant")
    p.add_argument("--json", default=str(RESULTS / "precision_variants.json"))
    args = p.parse_args(argv)
    load_start = os.getloadavg()[0]
    print(f"{cpu_name()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), capability "
          f"{torch.backends.cpu.get_cpu_capability()}, load average {load_start:.2f}", flush=True)
    print("| size | variant | s / step (median) | fp32's / this (speed-up) |\n| --- | --- | --- | --- |")
    rows = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            runs = trainers(size, ["fp32", *args.variants], args.images, Path(tmp))
            medians = {name: statistics.median(t) for name, t in time_steps(runs, args.steps, args.warmup).items()}
            compiled = {name: trainer.runtime.compile for name, trainer in runs.items()}
        for name, median in medians.items():
            rows.append({"size": size, "variant": name, "seconds_per_step": round(median, 4),
                         "speedup": round(medians["fp32"] / median, 3), "compiled": compiled[name]})
            print(f"| {size} | {name} | {median:.3f} | {medians['fp32'] / median:.2f} |", flush=True)
    write_record("precision_variants", argv, args, load_start, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
