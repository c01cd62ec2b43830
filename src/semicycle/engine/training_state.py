"""What a checkpoint holds of a training run, kept out of the training loop: the state gathered at a save,
the check that none of it is non-finite, its restoration on resume, and the config a resumed run continues with.

The dict's layout is the checkpoint format (:mod:`semicycle.checkpoints`); a resumed run restores networks,
optimizers, schedulers, method state (image pools), random streams and the position in the epoch, so it
computes bitwise what an uninterrupted run computes (same device and threads).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from ..checkpoints import FORMAT
from ..config import LEGACY_VALUES, RESUME_NEUTRAL_KEYS, Config, flatten, from_dict, resume_differences, upgrade_keys
from ..errors import CheckpointError
from ..methods import Method
from ..runtime import Runtime
from ..version import __version__

# checkpoint parts checked for NaN/Inf before each save, and how a non-finite one is named
CHECKED_STATE = {"models": "network '{}' has non-finite weights", "optimizers": "optimizer '{}' has a non-finite state",
                 "method_state": "method state '{}' is non-finite"}


def training_state(cfg: Config, method: Method, schedulers: dict, runtime: Runtime, progress: dict, palette_name: str) -> dict:
    """Everything a resumption needs; with several processes also each rank's method state and random streams
    (``ranks``, gathered from every process; rank 0's are also the top-level ones)."""
    ranks = runtime.gather_objects({"method_state": method.state_dict(), "rng": runtime.rng_state()})
    state = {
        "format": FORMAT,
        "semicycle_version": __version__,
        "config": cfg.to_dict(),
        "arch": {name: net.arch for name, net in method.networks.items()},
        "models": {name: fp32_state(net) for name, net in method.networks.items()},
        "optimizers": {name: opt.state_dict() for name, opt in method.optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "method_state": ranks[0]["method_state"],
        "rng": ranks[0]["rng"],
        "grad_scalers": runtime.scaler_state(),
        "runtime": runtime.describe(),
        "progress": progress,
        "translators": dict(method.translators),
        "palette": palette_name,
    }
    if len(ranks) > 1:
        state["ranks"] = ranks
    return state


def non_finite_parts(state: dict) -> list[str]:
    """What in a checkpoint's networks, optimizers or method state holds NaN/Inf (one host sync per tensor: an
    optimizer's tensors may sit on two devices), as messages."""
    return [problem.format(name) for part, problem in CHECKED_STATE.items() for name, value in state[part].items()
            if not all(bool(torch.isfinite(t).all()) for t in tensors_in(value) if t.is_floating_point())]


def restore(state: dict, method: Method, schedulers: dict, runtime: Runtime, run_dir: Path) -> dict:
    """Load a checkpoint into the method, its optimizers, the schedulers and the runtime; returns its progress
    (``epoch``, ``step``, ``iteration``, ``train_seconds`` where saved)."""
    for name, net in method.networks.items():
        net.load_state_dict(state["models"][name])
    for name, opt in method.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    for name, sched in schedulers.items():
        sched.load_state_dict(state["schedulers"][name])
    own = own_state(state, runtime, run_dir)
    method.load_state_dict(own["method_state"])
    runtime.set_rng_state(own["rng"])
    runtime.load_scaler_state(state.get("grad_scalers", {}))
    return state["progress"]


def own_state(state: dict, runtime: Runtime, run_dir: Path) -> dict:
    """This process's method state and random streams in a checkpoint: its rank's when the run had as many
    processes, else (one warning line) those of rank min(rank, saved processes - 1)."""
    ranks = state.get("ranks") or [{"method_state": state["method_state"], "rng": state["rng"]}]
    if len(ranks) != runtime.world_size and runtime.is_main:
        warnings.warn(f"{run_dir}: this run trained with {len(ranks)} process(es) and continues with "
                      f"{runtime.world_size}: each process takes the image pools and random streams of rank "
                      f"min(rank, {len(ranks) - 1}); the result is valid but not bitwise what either would give",
                      stacklevel=3)
    return ranks[min(runtime.rank, len(ranks) - 1)]


def config_for_resume(saved: dict, requested: Config) -> Config:
    """The saved config, with only the resume-neutral keys taken from the request."""
    diffs = resume_differences(saved, requested.to_dict())
    if diffs:
        raise CheckpointError(
            f"{requested.run_dir}: resuming needs the run's own config, but {'; '.join(diffs)}; "
            "drop those overrides or start a new run_dir"
        )
    cfg = from_dict(saved)
    saved_keys = upgrade_keys(flatten(saved))
    legacy = {k: v for k, v in LEGACY_VALUES.items() if k not in saved_keys}
    neutral = {k: v for k, v in flatten(requested.to_dict()).items() if k in RESUME_NEUTRAL_KEYS or k.startswith("eval.")}
    return from_dict({**legacy, **neutral}, base=cfg)


def warn_if_machine_changed(saved: dict, runtime: Runtime, cfg: Config, run_dir: Path) -> None:
    """precision=auto may resolve differently on another machine or version, and another CPU, GPU or PyTorch
    computes with other kernels: say so (the run stays valid; checkpoints from before a key existed say nothing)."""
    now = runtime.describe()
    changes = [f"{key} {saved[key]} -> {now[key]}" for key in ("precision", "kernels", "torch")
               if saved.get(key) and saved[key] != now[key]]
    if changes:
        warnings.warn(
            f"{run_dir}: this run continues here with {'; '.join(changes)} "
            f"(runtime.precision={cfg.runtime.precision} on {runtime.device}); "
            "the result is valid but not bitwise what an uninterrupted run would give",
            stacklevel=3,
        )


def fp32_state(net: torch.nn.Module) -> dict:
    """A network's state_dict on the CPU, floating tensors in float32 and contiguous (NCHW), whatever
    the training precision or memory format; the keys are the plain module's (also when compiled)."""
    return {
        k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous()
        for k, v in net.state_dict().items()
    }


def tensors_in(obj):
    """The tensors inside nested dicts, lists and tuples (a state_dict)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from tensors_in(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from tensors_in(value)
