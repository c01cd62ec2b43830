"""Which tensors bf16 autocast must keep in fp32: gradient fidelity of okada's steps (issue 19).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/bf16_gradients.py RUN_DIR [--batches 24] [--json out.json]

RUN_DIR is a run of benchmarks/precision_parity.py (okada, fp32), at any point of its schedule. Its
networks are loaded once; for each of ``--batches`` training batches (epoch 0, the pair steps first)
the gradients of okada's three updates are computed on the same weights and inputs:

* ``sv``: the supervised generator step, kappa * L_sv on a paired batch (Okada eq. 6-7);
* ``sv, output conv``: the same, restricted to the generators' output convolutions;
* ``G``: the CycleGAN generator step (GAN + cycle + identity terms) on an unpaired batch;
* with ``--terms``, each term of that step on its own (``G: cycle_A``, ...);
* ``D``: the discriminator step on that batch's fakes (made in fp32, so only D's precision varies),

in fp32 (the reference) and in bf16 autocast with the output layers in bf16 too (as before issue 19), in
fp32 (as now), and with the instance norms also in fp32, eager and compiled (``VARIANTS``).
It prints, per update and variant, the cosine between the variant's and fp32's gradient (all
parameters of the updated networks as one vector) and the relative error ||g - g_fp32|| / ||g_fp32||
(means over batches; ``summed_*`` in the JSON: the same for the gradients summed over the batches,
where unbiased rounding noise averages out and a bias would not), also with each component scaled as Adam scales it, by 1 / (sqrt(v) + eps) with
the checkpoint's second moments v (``Adam-scaled``: the direction of the step actually taken), leaving
out the inert biases (those of convolutions followed by instance norm, whose exact gradient is 0; the
size of their gradient against fp32's is printed apart), with fp32 at another thread count as the noise floor; and, for the generators'
outputs, the share of tanh outputs that bf16 rounds to exactly +-1 (where its gradient 1 - y^2 is 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
from pathlib import Path

import torch
from torch import nn

from semicycle import losses
from semicycle.config import Config, from_dict
from semicycle.data import load_data
from semicycle.data.pairing import training_sets
from semicycle import checkpoints
from semicycle.runtime import Runtime
from semicycle.methods import create_method

from precision_variants import widen  # benchmarks/

VARIANTS = {  # name: (precision, what changes from the networks as built)
    "fp32, 2 threads": ("fp32", ()),
    "bf16 everywhere (before issue 19)": ("bf16", ("bf16 output",)),
    "bf16, fp32 output layers (now)": ("bf16", ()),
    "bf16, fp32 output layers + norms": ("bf16", ("fp32 norms",)),
    "fp32, compiled + channels_last": ("fp32", ("compile",)),
    "bf16 everywhere, compiled + channels_last": ("bf16", ("bf16 output", "compile")),
    "bf16, fp32 output layers, compiled + channels_last": ("bf16", ("compile",)),
}


ADAM_SUFFIX = ", Adam-scaled"
ADAM_SCALED = {f"sv{ADAM_SUFFIX}": "G", f"G{ADAM_SUFFIX}": "G", f"D{ADAM_SUFFIX}": "D"}  # update: optimizer
UPDATES = ("sv", "sv, output conv", "G", "D", *ADAM_SCALED)
ADAM_EPS = 1e-8  # Adam's eps (torch's default, which the methods use)


def output_conv(generator: nn.Module) -> nn.Conv2d:
    """The ResNet generator's output convolution."""
    return [layer for layer in generator.model if isinstance(layer, nn.Conv2d)][-1]


@contextlib.contextmanager
def changed_parts(method, changes: tuple[str, ...]):
    """``bf16 output``: the output layers under autocast too (as before issue 19); ``fp32 norms``: also
    the instance norms in float32."""
    tails = [m for net in method.networks.values() for m in net.modules() if getattr(m, "float32_layers", 0)]
    counts = [m.float32_layers for m in tails]
    norms = [m for net in method.networks.values() for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    if "bf16 output" in changes:
        for m in tails:
            m.float32_layers = 0
    if "fp32 norms" in changes:
        for m in norms:
            widen(m)
    if "compile" in changes:
        compiled = Runtime.create("cpu", 1, method.runtime.precision, channels_last="true", compile="true")
        compiled.prepare_models(method.networks.values())
    try:
        yield
    finally:
        if "compile" in changes:
            for net in method.networks.values():
                net._compiled_call_impl = None
                net.to(memory_format=torch.contiguous_format)
        for m, count in zip(tails, counts):
            m.float32_layers = count
        if "fp32 norms" in changes:
            for m in norms:
                del m.forward


def inert_biases(net: nn.Module) -> set[int]:
    """ids of the biases of convolutions followed directly by an instance norm: the norm subtracts the
    channel mean, so their exact gradient is 0 and only rounding error reaches them."""
    out = set()
    for seq in net.modules():
        if isinstance(seq, nn.Sequential):
            children = list(seq)
            for conv, norm in zip(children, children[1:]):
                if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(norm, nn.InstanceNorm2d) and conv.bias is not None:
                    out.add(id(conv.bias))
    return out


def functional_mask(modules) -> torch.Tensor:
    """1 for each gradient component of ``modules`` (in ``grads`` order) that is not an inert bias."""
    inert = set().union(*(inert_biases(m) for m in modules))
    return torch.cat([torch.full((p.numel(),), float(id(p) not in inert), dtype=torch.float64)
                      for m in modules for p in m.parameters()])


def grads(modules) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for m in modules for p in m.parameters() if p.grad is not None]).double()


def step_gradients(method, batch, runtime: Runtime, per_term: bool = False) -> dict[str, torch.Tensor]:
    n, kappa = method.networks, method.cfg.okada.kappa
    gens, discs = [n["G_AB"], n["G_BA"]], [n["D_A"], n["D_B"]]
    out = {}
    for net in gens + discs:
        net.zero_grad(set_to_none=True)
    pair = batch.pairs
    with runtime.autocast():
        fake_B, fake_A = n["G_AB"](pair.A), n["G_BA"](pair.B)
        l_sv = kappa * (losses.supervised_l1(fake_B, pair.B) + losses.supervised_l1(fake_A, pair.A))
    l_sv.backward()
    out["sv"] = grads(gens)
    out["sv, output conv"] = grads([output_conv(g) for g in gens])
    out["saturated"] = torch.tensor([float((fake_B.abs() == 1).float().mean()), float((fake_A.abs() == 1).float().mean())])
    for net in gens + discs:
        net.zero_grad(set_to_none=True)
    unpaired = batch.images
    with runtime.autocast():
        g_losses, _, _ = method.generator_losses(unpaired.A, unpaired.B)
    sum(g_losses.values()).backward()
    out["G"] = grads(gens)
    for term in g_losses if per_term else ():  # each CycleGAN generator term's gradient on its own
        for net in gens + discs:
            net.zero_grad(set_to_none=True)
        with runtime.autocast():
            terms, _, _ = method.generator_losses(unpaired.A, unpaired.B)
        terms[term].backward()
        out[f"G: {term}"] = grads(gens)
    with torch.no_grad():
        fakes = {"A": n["G_BA"](unpaired.B).float(), "B": n["G_AB"](unpaired.A).float()}  # fp32 fakes
    for net in gens + discs:
        net.zero_grad(set_to_none=True)
    with runtime.autocast():
        d_loss = method.discriminator_loss("D_A", unpaired.A, fakes["A"]) + method.discriminator_loss("D_B", unpaired.B, fakes["B"])
    d_loss.backward()
    out["D"] = grads(discs)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--terms", action="store_true", help="also each CycleGAN generator term on its own")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    state = checkpoints.load(Path(args.run_dir) / "ckpt")
    cfg: Config = from_dict(state["config"])
    data = load_data(cfg.data, cfg.data.train_split, progress=False)
    sets = training_sets(data, cfg.pairs, cfg.train.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runtimes = {p: Runtime.create("cpu", 1, p) for p in ("fp32", "bf16")}
    method = create_method(cfg, sets, runtimes["fp32"])
    for name, net in method.networks.items():
        net.load_state_dict(state["models"][name])
    batches = [method.batches.batch(0, step).to(method.runtime.put) for step in range(args.batches)]
    assert all("paired" in b for b in batches), "--batches must not exceed the epoch's pair steps"
    # 1 / (sqrt(v) + eps) per parameter, Adam's scaling of each gradient component (v from the checkpoint),
    # 0 for the inert biases (reported apart: their exact gradient is 0)
    adam_scale = {}
    groups = {"G": ["G_AB", "G_BA"], "D": ["D_A", "D_B"]}
    for name, nets in groups.items():
        slots = state["optimizers"][name]["state"]
        scale = torch.cat([1 / (slots[i]["exp_avg_sq"].flatten().double().sqrt() + ADAM_EPS) for i in sorted(slots)])
        adam_scale[name] = scale * functional_mask([method.networks[n] for n in nets])
    inert = {name: 1 - functional_mask([method.networks[n] for n in nets]) for name, nets in groups.items()}
    reference = [step_gradients(method, b, runtimes["fp32"], args.terms) for b in batches]
    updates = UPDATES + tuple(k for k in reference[0] if k.startswith("G: "))
    rows = {}
    for variant in args.variants:
        precision, changes = VARIANTS[variant]
        torch.set_num_threads(2 if variant.endswith("2 threads") else 1)
        method.runtime = runtimes[precision]
        with changed_parts(method, changes):
            results = [step_gradients(method, b, runtimes[precision], args.terms) for b in batches]
        row = {}
        for update in updates:
            scale = adam_scale[ADAM_SCALED[update]] if update in ADAM_SCALED else 1
            key = update.removesuffix(ADAM_SUFFIX)
            cos = [float(torch.nn.functional.cosine_similarity(r[key] * scale, ref[key] * scale, dim=0)) for r, ref in zip(results, reference)]
            rel = [float((r[key] - ref[key]).mul(scale).norm() / ref[key].mul(scale).norm()) for r, ref in zip(results, reference)]
            total, total_ref = sum(r[key] for r in results) * scale, sum(ref[key] for ref in reference) * scale
            row[update] = {"cosine": statistics.mean(cos), "relative_error": statistics.mean(rel),
                           "summed_cosine": float(torch.nn.functional.cosine_similarity(total, total_ref, dim=0)),
                           "summed_relative_error": float((total - total_ref).norm() / total_ref.norm())}
        row["saturated_outputs"] = float(torch.stack([r["saturated"] for r in results]).mean())
        row["inert_bias_gradient_ratio"] = statistics.mean(  # |g| of the inert biases, variant over fp32
            float((r["G"] * inert["G"]).norm() / (ref["G"] * inert["G"]).norm()) for r, ref in zip(results, reference))
        rows[variant] = row
        print(variant, json.dumps(row), file=sys.stderr, flush=True)
    torch.set_num_threads(threads)
    ref_sat = float(torch.stack([r["saturated"] for r in reference]).mean())
    print(f"\n{args.run_dir} at iteration {state['progress']['iteration']}, {args.batches} batches; "
          f"fp32 tanh outputs exactly +-1: {ref_sat:.4%}")
    print("| variant | " + " | ".join(f"{u}: cosine / rel. error" for u in updates) + " | outputs rounded to +-1 | "
          "inert biases' G gradient / fp32's |")
    print("|" + " --- |" * (len(updates) + 3))
    for variant, row in rows.items():
        cells = " | ".join(f"{row[u]['cosine']:.4f} / {row[u]['relative_error']:.3f}" for u in updates)
        print(f"| {variant} | {cells} | {row['saturated_outputs']:.2%} | {row['inert_bias_gradient_ratio']:.0f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"run": args.run_dir, "iteration": state["progress"]["iteration"], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
