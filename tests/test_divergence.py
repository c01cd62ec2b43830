"""The NaN/Inf guard: a diverging run stops with one line and never saves a non-finite checkpoint."""

import json
import math

import pytest
import torch

from semicycle.cli import main
from semicycle.engine import trainer as trainer_module
from semicycle.engine.trainer import Trainer
from semicycle.errors import TrainingDiverged
from tiny_runs import TINY, interrupt_at, tiny_config

# 12 images, batch 2: 6 iterations per epoch, 12 in all
DIVERGENCE = ("data.max_images=12", "train.decay_epochs=1", "cyclegan.pool_size=3", "log.sample_every=0")


def latest(run_dir) -> dict:
    return torch.load(run_dir / "ckpt" / "latest.pt", weights_only=True)


def assert_finite(state: dict) -> None:
    for part in ("models", "optimizers", "method_state"):
        tensors = []
        stack = [state[part]]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
            elif isinstance(item, torch.Tensor) and item.is_floating_point():
                tensors.append(item)
        assert all(torch.isfinite(t).all() for t in tensors), part
        assert tensors or part != "models"  # optimizers and pools are empty before the first step


def inject(trainer, monkeypatch, from_iteration: int, term: str = "", poison=None):
    """From iteration ``from_iteration`` on, the step's loss ``term`` is NaN and/or ``poison(trainer)`` runs after it."""
    real_step = trainer.method.train_step

    def step(batch):
        losses = real_step(batch)
        if trainer.iteration + 1 >= from_iteration:  # trainer.iteration counts the step once it returns
            if term:
                losses[term] = torch.tensor(float("nan"))
            if poison is not None:
                poison(trainer)
        return losses

    monkeypatch.setattr(trainer.method, "train_step", step)


def test_infinite_lr_stops_with_one_line_and_leaves_a_finite_checkpoint_that_resumes(tmp_path, synthetic_root, capsys, monkeypatch):
    # the config refuses train.lr=inf, so the schedule's factor makes Adam's step size infinite instead
    monkeypatch.setattr(trainer_module, "linear_decay", lambda *schedule: lambda epoch: math.inf)
    run = tmp_path / "run"
    args = [f"data.root={synthetic_root}", *TINY, *DIVERGENCE, "log.log_every=2", "log.checkpoint_every=0"]
    assert main(["train", "--out", str(run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("semicycle: error:"), err
    # step 1 uses the initial weights; its update makes them inf/NaN, so step 2's first loss is NaN
    assert "training diverged: loss 'G_AB_gan' is nan at iteration 2;" in err, err
    assert "ckpt/latest.pt keeps iteration 0" in err and "lower train.lr" in err and f"--resume {run}" in err
    state = latest(run)
    assert state["progress"]["iteration"] == 0
    assert_finite(state)
    assert not (run / "losses.jsonl").exists() or not (run / "losses.jsonl").read_text().strip()
    assert not (run / "loss_curves.png").exists()

    trainer = Trainer(tiny_config(run, synthetic_root, *DIVERGENCE), resume=True)  # loads the finite state; the step size is still inf
    with pytest.raises(TrainingDiverged, match=r"loss 'G_AB_gan' is nan at iteration 2;"):
        trainer.fit()  # and diverges the same way again
    assert latest(run)["progress"]["iteration"] == 0


def test_injected_nan_in_one_loss_names_its_first_iteration_and_the_run_resumes(tmp_path, synthetic_root, monkeypatch):
    run = tmp_path / "run"
    # log at 3, 6, ...; save at 2, 4, ...; cycle_B is NaN from iteration 5 on: found at the log point 6
    cfg = tiny_config(run, synthetic_root, *DIVERGENCE, "log.log_every=3", "log.checkpoint_every=2")
    trainer = Trainer(cfg)
    inject(trainer, monkeypatch, from_iteration=5, term="cycle_B")
    with pytest.raises(TrainingDiverged, match=r"loss 'cycle_B' is nan at iteration 5; ckpt/latest\.pt keeps iteration 4,"):
        trainer.fit()
    assert trainer.iteration == 6  # stopped at the first log point after the NaN
    state = latest(run)
    assert state["progress"]["iteration"] == 4
    assert_finite(state)
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [3]

    Trainer(cfg, resume=True).fit()  # without the injection: finishes the schedule
    assert latest(run)["progress"]["iteration"] == 12
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in records] == [3, 6, 9, 12]
    assert all(math.isfinite(v) for r in records for v in r.values())
    assert (run / "loss_curves.png").is_file()


def poison_network(trainer):
    with torch.no_grad():
        next(trainer.method.networks["G_BA"].parameters()).view(-1)[0] = float("inf")


def poison_optimizer(trainer):
    state = next(iter(trainer.method.optimizers["D"].state.values()))
    state["exp_avg"].view(-1)[0] = float("nan")


@pytest.mark.parametrize("poison, problem", [(poison_network, "network 'G_BA' has non-finite weights"),
                                             (poison_optimizer, "optimizer 'D' has a non-finite state")])
def test_non_finite_state_is_never_saved(tmp_path, synthetic_root, monkeypatch, poison, problem):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, synthetic_root, *DIVERGENCE, "log.log_every=1", "log.checkpoint_every=2"))
    inject(trainer, monkeypatch, from_iteration=4, poison=poison)  # after step 4: its losses are finite
    with pytest.raises(TrainingDiverged, match=rf"{problem} at iteration 4; ckpt/latest\.pt keeps iteration 2,"):
        trainer.fit()
    state = latest(run)
    assert state["progress"]["iteration"] == 2
    assert_finite(state)


@pytest.mark.parametrize("stop", ["max_steps", "ctrl-c"])
def test_stopping_checks_the_losses_not_yet_logged(tmp_path, synthetic_root, monkeypatch, stop):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, synthetic_root, *DIVERGENCE, "log.log_every=10", "log.checkpoint_every=0",
                                  "train.max_steps=3" if stop == "max_steps" else "train.max_steps=0"))
    inject(trainer, monkeypatch, from_iteration=2, term="D_A")
    if stop == "ctrl-c":
        interrupt_at(trainer, monkeypatch, 3)
    with pytest.raises(TrainingDiverged, match=r"loss 'D_A' is nan at iteration 2; ckpt/latest\.pt keeps iteration 0,"):
        trainer.fit()
    state = latest(run)  # the initial state, written when the run started
    assert state["progress"]["iteration"] == 0
    assert_finite(state)
