"""The fast path (issue 5): precision, channels_last and compile are chosen in the Runtime and keep
losses, image pools and checkpoints in float32; bf16 resume is exact; bad choices are clear errors.

Speed is measured by benchmarks/speed.py, never here. On CPUs without native bf16 the bf16 tests
run emulated bf16 (slower, same numerics), so they use tiny networks.
"""

import copy
import os
import warnings

import pytest
import torch

from semicycle import losses
from semicycle.api import load
from semicycle.config import Config, apply_overrides
import semicycle.runtime.compilation as compilation
import semicycle.runtime.devices as devices
from semicycle.runtime import Runtime, resolve_precision
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import ConfigError
from semicycle.methods.pool import ImagePool
from semicycle.models import create_discriminator, create_generator, list_discriminators, list_generators
from semicycle.models.registry import size_rule

from test_training import TRAINING, assert_states_equal
from tiny_runs import tiny_config

no_bf16_warning = pytest.mark.filterwarnings("ignore:.*no native bf16")


SMALL = {"generator": {"ngf": 4}, "discriminator": {"ndf": 4}}


# test_training's tiny CycleGAN, narrower (emulated bf16 is slow): 4 steps per epoch, 2 epochs
NARROW = (*TRAINING, "data.max_images=8", "model.ngf=4", "model.ndf=4")


# ---------------------------------------------------------------- precision choices
def test_precision_auto_follows_the_hardware_once_bf16_parity_is_recorded(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "AUTO_PICKS_BF16", True)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("fp32", cpu) == "fp32"


def test_auto_is_fp32_until_bf16_parity_is_recorded_and_says_why(monkeypatch):
    """Issue 19: bf16 lowered okada's scores, so ``auto`` stays fp32, for training and inference alike."""
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(devices, "AUTO_PICKS_BF16", False)
    runtime = Runtime.create("cpu", precision="auto")
    assert runtime.precision == "fp32"
    assert f"fp32 ({devices.AUTO_FP32_REASON})" in runtime.summary()
    assert Runtime.create("cpu", precision="auto", label="translate").precision == "fp32"
    assert Runtime.create("cpu", precision="bf16").precision == "bf16"  # the fast path, asked for
    assert "(" not in Runtime.create("cpu", precision="fp32").summary()  # an explicit fp32 needs no reason
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert "(no native bf16 on this CPU)" in Runtime.create("cpu", precision="auto").summary()


def test_the_kernel_caps_make_a_bf16_cpu_count_as_avx2(monkeypatch):
    """ATEN_CPU_CAPABILITY=avx2 / ONEDNN_MAX_CPU_ISA=AVX2 reproduce an AVX2 machine's precision choice."""
    monkeypatch.setattr(devices, "cpu_hardware_bf16", lambda: True)  # a CPU with AVX512-BF16
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(devices, "AUTO_PICKS_BF16", True)
    assert devices.cpu_has_native_bf16() and resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert devices.cpu_kernels_capped_below_bf16() == "ONEDNN_MAX_CPU_ISA=AVX2"
    assert not devices.cpu_has_native_bf16() and resolve_precision("auto", torch.device("cpu")) == "fp32"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE_BF16")
    assert devices.cpu_has_native_bf16()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")  # what ATEN_CPU_CAPABILITY=avx2 gives
    assert not devices.cpu_has_native_bf16()


def test_aten_cpu_capability_avx2_is_read_back_on_every_machine():
    """The real variable, in a fresh process: torch reports AVX2 kernels, so no native bf16 on any CPU."""
    import subprocess
    import sys

    code = "import torch; from semicycle.runtime import cpu_has_native_bf16 as f; print(torch.backends.cpu.get_cpu_capability(), f())"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out in (["AVX2", "False"], ["DEFAULT", "False"]), out  # DEFAULT: a CPU without AVX2


def test_bad_precision_choices_are_clear_errors(monkeypatch):
    with pytest.raises(ConfigError, match=r"runtime\.precision='fp8' is not one of: auto, fp32, bf16, fp16"):
        apply_overrides(Config(), ["runtime.precision=fp8"])
    with pytest.raises(ConfigError, match=r"runtime\.compile='maybe' is not one of: auto, true, false"):
        apply_overrides(Config(), ["runtime.compile=maybe"])
    with pytest.raises(ConfigError, match=r"runtime\.precision=fp16 needs a CUDA GPU.*bf16"):
        Runtime.create("cpu", precision="fp16")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match=r"runtime\.precision=bf16: this CPU has no native bf16"):
        assert Runtime.create("cpu", precision="bf16").precision == "bf16"


def test_more_threads_than_cores_is_a_warning(monkeypatch):
    monkeypatch.setattr(devices, "available_cores", lambda: 2)
    threads = torch.get_num_threads()
    try:
        with pytest.warns(UserWarning, match=r"runtime\.threads=3 exceeds the 2 cores"):
            Runtime.create("cpu", threads=3)
    finally:
        torch.set_num_threads(threads)


def test_yaml_booleans_work_for_the_switches(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  compile: false\n  channels_last: true\n  precision: fp32\n")
    from semicycle.config import load_yaml

    cfg = load_yaml(path)
    assert (cfg.runtime.compile, cfg.runtime.channels_last, cfg.runtime.precision) == ("false", "true", "fp32")


def test_auto_compiles_only_long_bf16_runs(monkeypatch):
    monkeypatch.setattr(compilation, "compiler_problem", lambda device: None)
    rt = Runtime(device=torch.device("cpu"), precision="bf16", compile_setting="auto", channels_last_setting="auto")
    rt.resolve_layout(planned_steps=12)
    assert (rt.compile, rt.channels_last) == (False, False)
    rt.resolve_layout(planned_steps=compilation.COMPILE_MIN_STEPS)
    assert (rt.compile, rt.channels_last) == (True, True)
    fp32 = Runtime(device=torch.device("cpu"), precision="fp32", compile_setting="auto", channels_last_setting="auto")
    fp32.resolve_layout(planned_steps=10**6)
    assert (fp32.compile, fp32.channels_last) == (False, False)


# ---------------------------------------------------------------- float32 where it matters
def test_losses_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    pred = torch.randn(2, 1, 6, 6).bfloat16()
    image = torch.randn(2, 3, 8, 8).bfloat16()
    logits = torch.randn(2, 5, 8, 8).bfloat16()
    labels = torch.randint(0, 5, (2, 8, 8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = [
            losses.GANLoss("lsgan")(pred, True),
            losses.GANLoss("vanilla")(pred, False),
            losses.Adversarial("rasgan").d_loss(pred, pred.flip(0)),
            losses.Adversarial("ralsgan").g_loss(pred, pred.flip(0)),
            losses.cycle_loss(image, image.float() + 0.1),
            losses.supervised_l1(image, torch.zeros(2, 3, 8, 8)),
            losses.l2_loss(image, torch.zeros(2, 3, 8, 8)),
            losses.pixel_cross_entropy(logits, labels),
            losses.soft_cross_entropy(logits, torch.softmax(logits.float(), 1)),
        ]
    assert all(v.dtype == torch.float32 and v.dim() == 0 and torch.isfinite(v) for v in values)
    # the LSGAN target and the L1 mean are computed in float32 from the widened bf16 values
    assert torch.equal(values[0], ((pred.float() - 1) ** 2).mean())
    assert torch.equal(values[4], (image.float() - (image.float() + 0.1)).abs().mean())


def _output_convs(net: torch.nn.Module) -> list[torch.nn.Module]:  # every convolution; the output one last
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]


@pytest.mark.parametrize("kind,name", [("generator", n) for n in list_generators()]
                         + [("discriminator", n) for n in list_discriminators()])
def test_every_network_runs_its_output_layer_in_float32_under_autocast(kind, name):
    """Issue 19: autocast computes the body in bf16, the output convolution (and tanh) in float32."""
    rule = size_rule(kind, name, **SMALL[kind])
    size = -(-max(rule.minimum, 32) // rule.multiple) * rule.multiple
    heads = [{"output": "tanh"}, {"output": "logits", "out_channels": 5}] if kind == "generator" else [{}]
    for head in heads:
        net = (create_generator if kind == "generator" else create_discriminator)(name, **SMALL[kind], **head)
        dtypes = []  # output dtypes of the convolutions, in the order they ran
        for conv in _output_convs(net):
            conv.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(torch.randn(1, 3, size, size))
        assert out.dtype == torch.float32, head
        assert dtypes[-1] == torch.float32 and torch.bfloat16 in dtypes, (head, dtypes)


def test_tanh_outputs_near_one_keep_their_gradient_under_bf16_autocast():
    """bf16 rounds tanh(4) = 0.99933 to exactly 1 (gradient 1 - y^2 = 0); the float32 output layer does not."""
    net = create_generator("resnet_6blocks", ngf=4)
    output_conv = _output_convs(net)[-1]
    with torch.no_grad():
        output_conv.weight.zero_()
        output_conv.bias.fill_(4.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(torch.randn(1, 3, 32, 32))
    assert float(out.detach().max()) < 1.0
    assert torch.allclose(out, torch.tanh(torch.tensor(4.0)).expand_as(out))
    out.sum().backward()
    assert float(output_conv.bias.grad.abs().min()) > 0


def test_image_pool_keeps_float32():
    pool = ImagePool(3, seed=0)
    fakes = torch.randn(3, 3, 4, 4).bfloat16()
    out = pool.query(fakes)  # filling the pool: returns the fakes themselves, widened exactly
    assert out.dtype == torch.float32 and torch.equal(out, fakes.float())
    assert pool.query(fakes.flip(0)).dtype == torch.float32  # full: stored or new images
    assert all(img.dtype == torch.float32 for img in pool.images)
    assert pool.state_dict()["images"].dtype == torch.float32
    assert ImagePool(0).query(fakes).dtype == torch.float32


@no_bf16_warning
def test_bf16_cyclegan_step_autocasts_networks_but_keeps_losses_and_weights_float32(tmp_path, synthetic_root):
    trainer = Trainer(tiny_config(tmp_path / "run", synthetic_root, *NARROW, "runtime.precision=bf16", "train.max_steps=1"))
    method = trainer.method
    assert trainer.runtime.precision == "bf16"
    batch = method.batches.batch(0, 0).to(method.runtime.put).images
    conv_dtypes = []
    hooks = [m.register_forward_hook(lambda m, i, o: conv_dtypes.append(o.dtype))
             for m in method.networks["G_AB"].modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with trainer.runtime.autocast():
        g_losses, fake_A, fake_B = method.generator_losses(batch.A, batch.B)
    for hook in hooks:
        hook.remove()
    assert torch.bfloat16 in conv_dtypes  # the networks did run in bf16 ...
    assert fake_A.dtype == fake_B.dtype == torch.float32  # ... up to their output layers
    assert all(v.dtype == torch.float32 for v in g_losses.values())
    out = method.train_step(method.batches.batch(0, 0).to(method.runtime.put))
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in out.values())
    assert all(p.dtype == torch.float32 for net in method.networks.values() for p in net.parameters())
    assert all(img.dtype == torch.float32 for pool in method.pools.values() for img in pool.images)


@no_bf16_warning
def test_bf16_run_writes_float32_checkpoints(tmp_path, synthetic_root):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=bf16", "train.max_steps=3"))
    state = torch.load(run / "ckpt" / "latest.pt", weights_only=True)
    assert state["runtime"]["precision"] == "bf16"
    tensors = [t for net in state["models"].values() for t in net.values()]
    tensors += [t for pool in state["method_state"]["pools"].values() for t in [pool["images"]]]
    assert tensors and all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in tensors if t.is_floating_point())
    for opt in state["optimizers"].values():
        for slot in opt["state"].values():
            assert slot["exp_avg"].dtype == slot["exp_avg_sq"].dtype == torch.float32


@no_bf16_warning
def test_bf16_interrupted_and_resumed_run_is_bitwise_identical(tmp_path, synthetic_root):
    straight = tmp_path / "straight"
    train(tiny_config(straight, synthetic_root, *NARROW, "runtime.precision=bf16"))
    stopped = tmp_path / "stopped"  # 4 steps per epoch: stop mid-epoch, resume to the end
    train(tiny_config(stopped, synthetic_root, *NARROW, "runtime.precision=bf16", "train.max_steps=3"))
    train(tiny_config(stopped, synthetic_root, *NARROW, "runtime.precision=bf16"), resume=True)
    a = torch.load(straight / "ckpt" / "latest.pt", weights_only=True)
    b = torch.load(stopped / "ckpt" / "latest.pt", weights_only=True)
    for state in (a, b):
        assert state["progress"].pop("train_seconds") > 0  # wall time: differs between the two runs
    assert a["progress"] == b["progress"] == {"epoch": 2, "step": 0, "iteration": 8}
    for key in ("models", "optimizers", "schedulers", "method_state", "rng"):
        assert_states_equal(a[key], b[key], key)


def test_resume_refuses_a_precision_change_but_not_a_layout_change(tmp_path, synthetic_root):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "train.max_steps=1"))
    with pytest.raises(Exception, match=r"runtime\.precision: 'fp32' -> 'bf16'"):
        Trainer(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=bf16"), resume=True)
    trainer = Trainer(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "runtime.channels_last=true"), resume=True)
    assert trainer.runtime.channels_last and trainer.cfg.runtime.channels_last == "true"


# ---------------------------------------------------------------- channels_last
def test_channels_last_gives_the_nchw_outputs():
    torch.manual_seed(0)
    for net in (create_generator("resnet_6blocks", ngf=8), create_generator("unet_128", ngf=8),
                create_discriminator("patchgan", ndf=8)):
        x = torch.randn(2, 3, 128, 128)
        net.eval()  # the U-Net has dropout
        fast = copy.deepcopy(net)
        rt = Runtime(device=torch.device("cpu"), channels_last_setting="true")
        rt.prepare_models([fast])
        assert next(p for p in fast.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            ref, out = net(x), fast(rt.put(x))
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)


def test_channels_last_training_matches_nchw(tmp_path, synthetic_root):
    steps = {}
    for flag in ("false", "true"):
        trainer = Trainer(tiny_config(tmp_path / flag, synthetic_root, *NARROW, "runtime.precision=fp32", f"runtime.channels_last={flag}"))
        assert trainer.runtime.channels_last == (flag == "true")
        batch = trainer.method.batches.batch(0, 0).to(trainer.runtime.put)
        losses_ = trainer.method.train_step(batch)
        steps[flag] = (losses_, trainer.checkpoint_state())
    (ref_losses, ref), (cl_losses, cl) = steps["false"], steps["true"]
    for key, value in ref_losses.items():
        torch.testing.assert_close(cl_losses[key], value, rtol=1e-4, atol=1e-6)
    moved_differently, total = 0, 0
    for name, weights in ref["models"].items():
        assert weights.keys() == cl["models"][name].keys()
        for key, value in weights.items():
            other = cl["models"][name][key]
            assert other.is_contiguous()  # checkpoints hold plain NCHW tensors
            # Adam's first step moves each weight by ~lr * sign(grad); a gradient that is pure rounding
            # noise (a conv bias before instance norm) may take either sign
            diff = (other - value).abs()
            assert diff.max() <= 2 * 2e-4 + 1e-6
            moved_differently += int((diff > 1e-5).sum())
            total += value.numel()
    assert moved_differently < 0.01 * total, (moved_differently, total)


# ---------------------------------------------------------------- compile
def test_compile_failure_falls_back_with_a_clear_message(tmp_path, synthetic_root, monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no compiler in this test")

    monkeypatch.setattr(compilation, "compiler_problem", lambda device: None)
    monkeypatch.setattr(torch, "compile", broken_compile)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=r"runtime\.compile: torch\.compile is not usable here .*no compiler in this test.*running without compiling"):
        train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "runtime.compile=true", "train.max_steps=2"))
    state = torch.load(run / "ckpt" / "latest.pt", weights_only=True)
    assert state["progress"]["iteration"] == 2 and state["runtime"]["compile"] is False


def test_missing_compiler_is_reported_before_training(monkeypatch):
    monkeypatch.setattr(compilation, "compiler_problem", lambda device: "no working C++ compiler for TorchInductor")
    net = create_generator("resnet_6blocks", ngf=4)
    rt = Runtime.create("cpu", precision="fp32", compile=True)
    with pytest.warns(UserWarning, match="no working C\\+\\+ compiler.*running without compiling"):
        rt.prepare_models([net])
    assert net._compiled_call_impl is None and not rt.compile
    assert net(torch.zeros(1, 3, 16, 16)).shape == (1, 3, 16, 16)


def test_a_compiler_error_at_the_first_call_runs_eagerly(monkeypatch):
    calls = []

    def fake_compile(fn, **kwargs):
        def compiled(*args, **kw):
            calls.append("compiled")
            raise torch._dynamo.exc.TorchDynamoException("inductor crashed")

        return compiled

    monkeypatch.setattr(compilation, "compiler_problem", lambda device: None)
    monkeypatch.setattr(torch, "compile", fake_compile)
    torch.manual_seed(0)
    net = create_discriminator("patchgan", ndf=4)
    rt = Runtime.create("cpu", precision="fp32", compile="true")
    rt.prepare_models([net])
    x = torch.randn(1, 3, 32, 32)
    with pytest.warns(UserWarning, match="inductor crashed"):
        out = net(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once
        again = net(x)
    assert calls == ["compiled"] and torch.equal(out, again) and net._compiled_call_impl is None
    assert list(net.state_dict()) == list(create_discriminator("patchgan", ndf=4).state_dict())


# ---------------------------------------------------------------- fp16 loss scaling (the CUDA path, run on CPU)
def test_fp16_backward_step_scales_the_loss_and_saves_the_scaler_state():
    rt = Runtime(device=torch.device("cpu"), precision="fp16")  # what the runtime does on CUDA
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    with rt.autocast():
        loss = model(torch.ones(2, 4)).float().pow(2).mean()
    rt.backward_step(loss, opt, "G")
    assert not torch.equal(model.weight, before)
    state = rt.scaler_state()
    assert set(state) == {"G"} and state["G"]["scale"] > 1
    restored = Runtime(device=torch.device("cpu"), precision="fp16")
    restored.load_scaler_state(state)
    assert restored.scaler_state()["G"]["scale"] == state["G"]["scale"]
    assert Runtime(device=torch.device("cpu")).scaler("G") is None  # fp32/bf16: no loss scaling


# ---------------------------------------------------------------- inference
@no_bf16_warning
def test_translator_speed_options_keep_the_api_and_float32_outputs(tmp_path, synthetic_root):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "train.max_steps=2"))
    images = torch.rand(3, 3, 20, 28) * 2 - 1  # any size: padded to the generator's multiple
    reference = load(run, device="cpu", precision="fp32", channels_last=False).translate_tensor(images)
    for options in ({"precision": "fp32", "channels_last": True}, {"precision": "bf16", "channels_last": True}):
        translator = load(run, device="cpu", **options)
        out = translator.translate_tensor(images)
        assert out.dtype == torch.float32 and out.shape == reference.shape and out.is_contiguous()
        tolerance = 1e-5 if options["precision"] == "fp32" else 0.05
        assert (out - reference).abs().max() < tolerance, options
    assert not any(p.requires_grad for net in translator.generators.values() for p in net.parameters())


def test_a_checkpoint_records_its_kernels_and_a_resume_elsewhere_says_so(tmp_path, synthetic_root):
    """Runs trained on other kernels differ in their scores (GAN runs retrained on another CPU moved about as much as
    another seed): a checkpoint says which kernels and PyTorch computed it, and continuing it on others warns; a checkpoint from before these keys resumes silently."""
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "train.max_steps=1"))
    path = run / "ckpt" / "latest.pt"
    state = torch.load(path, weights_only=True)
    assert state["runtime"]["kernels"] == f"cpu {torch.backends.cpu.get_cpu_capability()}" + (
        f", oneDNN {devices.onednn_isa_cap()}" if devices.onednn_isa_cap() else "")
    assert state["runtime"]["torch"] == torch.__version__
    state["runtime"].update(kernels="cpu SOME_OTHER_ISA", torch="1.0")
    torch.save(state, path)
    with pytest.warns(UserWarning, match=r"continues here with kernels cpu SOME_OTHER_ISA -> cpu .*; torch 1\.0 -> .*not bitwise"):
        Trainer(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32"), resume=True)
    for key in ("kernels", "torch"):
        del state["runtime"][key]
    torch.save(state, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32"), resume=True)


def test_a_run_from_before_the_precision_option_resumes_in_fp32(tmp_path, synthetic_root, monkeypatch):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *NARROW, "runtime.precision=fp32", "train.max_steps=1"))
    path = run / "ckpt" / "latest.pt"
    state = torch.load(path, weights_only=True)
    for key in ("precision", "channels_last", "compile"):  # as written by semicycle 0.1
        del state["config"]["runtime"][key]
    del state["runtime"]
    torch.save(state, path)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)  # auto would pick bf16 here
    trainer = Trainer(tiny_config(run, synthetic_root, *NARROW), resume=True)  # today's defaults: precision=auto
    assert trainer.runtime.precision == "fp32" and trainer.cfg.runtime.precision == "fp32"
