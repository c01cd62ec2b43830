"""The checkpoint format, shared by the trainer, inference, export and experiments: one file per save, loadable with ``torch.load(weights_only=True)``, written atomically.

Layout of the dict (format ``semicycle-checkpoint-1``)::

    config      the resolved run config (plain dict)
    arch        {network: {"name", "kwargs"}}  -> networks rebuild without flags
    models      {network: state_dict}          (always fp32, contiguous; the plain modules' keys, also when compiled)
    optimizers, schedulers, method_state (image pools ...), rng, progress {epoch, step, iteration}
    grad_scalers {optimizer: GradScaler state} (fp16 only), runtime {device, threads, precision, channels_last, compile}
    domains     what the networks translate (label palette, ...), translators {direction: network}
    ranks       (several processes only) [{method_state, rng}] of every rank; rank 0's are also the top-level ones

Beside ``latest.pt`` each save writes ``progress.json`` (iteration, epoch, step, train_seconds, epochs,
iterations, finished): a run's progress without loading its checkpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .atomic import atomic_write, atomic_write_text
from .errors import CheckpointError

FORMAT = "semicycle-checkpoint-1"
LATEST = "latest.pt"
PROGRESS = "progress.json"


def save_atomic(obj, path: str | Path) -> Path:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``."""
    return atomic_write(path, lambda handle: torch.save(obj, handle), fsync=True)


def keep_copy(path: Path, copy: Path) -> None:
    """Keep ``path`` under a second name (a hard link: no extra disk; later saves replace ``path``)."""
    copy.unlink(missing_ok=True)
    try:
        os.link(path, copy)
    except OSError:
        save_atomic(torch.load(path, map_location="cpu", weights_only=True), copy)


def resolve(path: str | Path) -> Path:
    """A checkpoint file from a file, a ``ckpt/`` folder or a run folder."""
    path = Path(path)
    for candidate in (path, path / LATEST, path / "ckpt" / LATEST):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"{path}: no checkpoint found (looked for {path}/ckpt/{LATEST}); pass a run folder or a .pt file")


def load(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint without executing code (weights_only)."""
    path = resolve(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated file, foreign pickle, ...
        reason = str(exc).splitlines()[0][:160]
        raise CheckpointError(f"{path}: cannot load checkpoint ({reason}); use an intact file (an older copy in ckpt/)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a semicycle checkpoint (format {FORMAT} expected)")
    check_finite_weights(state, path)
    return state


def check_finite_weights(state: dict, path: Path) -> None:
    """Refuse a checkpoint whose network weights hold NaN or Inf (a damaged file, or one edited by hand): every
    entry point loads through :func:`load`, so none translates, scores, exports or resumes from such weights.
    The trainer never saves them (its NaN guard keeps the last finite state)."""
    for network, weights in state.get("models", {}).items():
        for name, tensor in weights.items():
            if torch.is_tensor(tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(f"{path}: network {network} has non-finite weights in {name} (NaN or Inf); "
                                      "use an earlier checkpoint of the run (ckpt/) or train again")


def write_progress(ckpt_dir: Path, progress: dict) -> None:
    """Write ``progress.json`` beside the checkpoint just saved in ``ckpt_dir`` (read by :func:`read_progress`)."""
    atomic_write_text(ckpt_dir / PROGRESS, json.dumps(progress, indent=2) + "\n")


def read_progress(run_dir: str | Path) -> dict | None:
    """A run's progress at its latest save: ``{epoch, step, iteration, train_seconds, epochs, iterations,
    finished}`` from ``RUN/ckpt/progress.json``, or None before the first save. Runs of earlier versions
    (no progress.json, or one older than the checkpoint) are read from the checkpoint itself; their
    ``iterations`` is None when no epoch has ended yet (the steps per epoch are not recorded)."""
    ckpt = Path(run_dir) / "ckpt"
    latest, saved = ckpt / LATEST, ckpt / PROGRESS
    if not latest.is_file():
        return None
    if saved.is_file() and saved.stat().st_mtime_ns >= latest.stat().st_mtime_ns:
        return json.loads(saved.read_text())
    state = load(latest)
    progress, train = state["progress"], state["config"]["train"]
    epochs = train["epochs"] + train["decay_epochs"]
    per_epoch = (progress["iteration"] - progress["step"]) // progress["epoch"] if progress["epoch"] else None
    return {"epoch": progress["epoch"], "step": progress["step"], "iteration": progress["iteration"],
            "train_seconds": progress.get("train_seconds"), "epochs": epochs,
            "iterations": None if per_epoch is None else per_epoch * epochs, "finished": progress["epoch"] >= epochs}
