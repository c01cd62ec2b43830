"""CycleGAN training: exact resume, checkpoints, a real-data run, resume errors."""

import json

import pytest
import torch

from semicycle.config import Config, apply_overrides
from semicycle import checkpoints
from semicycle.engine.trainer import Trainer, train
from semicycle.errors import CheckpointError
from tiny_runs import interrupt_at, tiny_config

TRAINING = ("data.max_images=12", "train.decay_epochs=1", "cyclegan.pool_size=3", "log.sample_every=0", "log.log_every=2", "log.checkpoint_every=0")


def weights_and_optimizers(run_dir):
    state = torch.load(run_dir / "ckpt" / "latest.pt", weights_only=True)
    return state


def assert_states_equal(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_states_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_states_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def counters(progress: dict) -> dict:
    """A checkpoint's progress without its wall time (which no two runs share)."""
    return {k: v for k, v in progress.items() if k != "train_seconds"}


def test_interrupted_and_resumed_run_is_bitwise_identical(tmp_path, synthetic_root, monkeypatch):
    straight = tmp_path / "straight"
    train(tiny_config(straight, synthetic_root, *TRAINING))

    stopped = tmp_path / "stopped"  # stops mid-epoch (6 steps per epoch) via max_steps, then resumes
    train(tiny_config(stopped, synthetic_root, *TRAINING, "train.max_steps=4"))
    first_session = weights_and_optimizers(stopped)["progress"]
    assert counters(first_session) == {"epoch": 0, "step": 4, "iteration": 4}
    train(tiny_config(stopped, synthetic_root, *TRAINING), resume=True)
    # the training time of both sessions is carried by the checkpoint
    assert weights_and_optimizers(stopped)["progress"]["train_seconds"] > first_session["train_seconds"] > 0

    interrupted = tmp_path / "interrupted"  # Ctrl-C in the second epoch: checkpoint, then resume
    trainer = Trainer(tiny_config(interrupted, synthetic_root, *TRAINING))
    interrupt_at(trainer, monkeypatch, 8)
    with pytest.raises(KeyboardInterrupt, match="--resume"):
        trainer.fit()
    assert weights_and_optimizers(interrupted)["progress"]["iteration"] == 8
    train(tiny_config(interrupted, synthetic_root, *TRAINING), resume=True)

    reference = weights_and_optimizers(straight)
    assert counters(reference["progress"]) == {"epoch": 2, "step": 0, "iteration": 12}
    for run in (stopped, interrupted):
        state = weights_and_optimizers(run)
        for key in ("models", "optimizers", "schedulers", "method_state", "rng"):
            assert_states_equal(reference[key], state[key], key)
        assert counters(state["progress"]) == counters(reference["progress"])
    # the loss log of a resumed run has no duplicated iterations
    iters = [json.loads(line)["iter"] for line in (stopped / "losses.jsonl").read_text().splitlines()]
    assert iters == sorted(set(iters)) == [2, 4, 6, 8, 10, 12]


def test_checkpoint_is_safe_fp32_and_self_describing(tmp_path, synthetic_root):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *TRAINING, "log.keep_every_epochs=1"))
    state = torch.load(run / "ckpt" / "latest.pt", weights_only=True)
    assert state["arch"]["G_AB"]["name"] == "resnet_6blocks" and state["arch"]["G_AB"]["kwargs"]["ngf"] == 8
    assert all(t.dtype == torch.float32 for t in state["models"]["G_AB"].values() if t.is_floating_point())
    assert state["config"]["train"]["method"] == "cyclegan" and state["translators"] == {"AtoB": "G_AB", "BtoA": "G_BA"}
    assert (run / "ckpt" / "epoch_0001.pt").is_file() and (run / "ckpt" / "epoch_0002.pt").is_file()
    assert (run / "loss_curves.png").is_file() and (run / "samples" / "final.png").is_file()
    assert (run / "config.yaml").is_file()
    assert not list((run / "ckpt").glob("*.tmp"))


def test_resume_with_a_different_config_is_refused_and_keeps_the_checkpoint(tmp_path, synthetic_root):
    run = tmp_path / "run"
    train(tiny_config(run, synthetic_root, *TRAINING, "train.max_steps=2"))
    before = (run / "ckpt" / "latest.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"cyclegan\.lambda_cycle: 10\.0 -> 5\.0"):
        Trainer(tiny_config(run, synthetic_root, *TRAINING, "cyclegan.lambda_cycle=5"), resume=True)
    with pytest.raises(CheckpointError, match="already holds a run"):
        Trainer(tiny_config(run, synthetic_root, *TRAINING))
    assert (run / "ckpt" / "latest.pt").read_bytes() == before


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "latest.pt"
    checkpoints.save_atomic({"format": checkpoints.FORMAT, "x": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"latest\.pt.*cannot load"):
        checkpoints.load(path)
    with pytest.raises(CheckpointError, match="no checkpoint found"):
        checkpoints.load(tmp_path / "nothing")


def test_failed_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    checkpoints.save_atomic({"format": checkpoints.FORMAT, "v": torch.ones(3)}, path)

    def broken_save(obj, handle):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError):
        checkpoints.save_atomic({"format": checkpoints.FORMAT, "v": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(checkpoints.load(path)["v"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]


def test_two_epochs_on_real_facades_lower_the_cycle_loss(tmp_path, data_root):
    cfg = apply_overrides(Config(), [
        f"run_dir={tmp_path / 'facades'}", "data.dataset=aligned", f"data.root={data_root / 'facades'}",
        "data.max_images=20", "data.load_size=72", "data.crop_size=64",
        "model.generator=resnet_6blocks", "model.ngf=16", "model.ndf=16",
        "train.epochs=2", "train.decay_epochs=0", "train.batch_size=1", "train.seed=1",
        "log.progress=false", "log.sample_every=0", "log.log_every=5", "log.checkpoint_every=0",
    ])
    train(cfg)
    records = [json.loads(line) for line in (tmp_path / "facades" / "losses.jsonl").read_text().splitlines()]
    cycle = [r["cycle_A"] + r["cycle_B"] for r in records]
    assert len(cycle) == 8
    assert sum(cycle[-2:]) / 2 < 0.8 * sum(cycle[:2]) / 2, cycle
    # batch 1: the window's wall time per iteration is the inverse of its images per second
    assert all(r["s_per_iter"] == pytest.approx(1 / r["img_per_s"], rel=0.02) for r in records), records


def test_tiny_epochs_do_not_save_every_epoch(tmp_path, synthetic_root, monkeypatch):
    cfg = tiny_config(tmp_path / "run", synthetic_root, *TRAINING, "log.checkpoint_every=10", "log.keep_every_epochs=0",
                      "train.epochs=3", "train.decay_epochs=1")  # 4 epochs of 6 steps
    trainer = Trainer(cfg)
    saved_at = []
    real_save = trainer.save
    monkeypatch.setattr(trainer, "save", lambda keep_epoch=None: saved_at.append(trainer.iteration) or real_save(keep_epoch))
    trainer.fit()
    # the initial state, every 10 iterations and at the end; the epoch ends (6, 12, 18) come < 10 iterations after a save
    assert saved_at == [0, 10, 20, 24]
