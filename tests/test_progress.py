"""checkpoints.read_progress: a run folder's progress from ckpt/progress.json, or from the checkpoint of earlier versions."""

import json
import os

from semicycle import config as C
from semicycle import train
from semicycle import checkpoints
from semicycle.checkpoints import read_progress

from tiny_runs import tiny_overrides


def test_progress_of_a_run_stopped_then_finished(tmp_path):
    run = tmp_path / "run"
    assert read_progress(run) is None  # before the first save
    cfg = C.apply_overrides(C.load_preset("demo"), tiny_overrides(f"run_dir={run}", "data.max_images=4", "train.batch_size=1",
                                                                  "train.epochs=1", "train.decay_epochs=1", "train.max_steps=3"))
    train(cfg)
    stopped = read_progress(run)
    assert {k: stopped[k] for k in ("epoch", "step", "iteration", "epochs", "iterations", "finished")} == {
        "epoch": 0, "step": 3, "iteration": 3, "epochs": 2, "iterations": 8, "finished": False}
    assert stopped == json.loads((run / "ckpt" / checkpoints.PROGRESS).read_text())
    cfg.train.max_steps = 0
    train(cfg, resume=True)
    done = read_progress(run)
    assert (done["iteration"], done["epoch"], done["finished"]) == (8, 2, True) and done["train_seconds"] >= stopped["train_seconds"]

    # a run of an earlier version has no progress.json: the same numbers from its checkpoint
    (run / "ckpt" / checkpoints.PROGRESS).unlink()
    assert read_progress(run) == done
    # a progress.json older than the checkpoint (the process died between the two writes) is not believed
    (run / "ckpt" / checkpoints.PROGRESS).write_text(json.dumps(stopped))
    latest = run / "ckpt" / checkpoints.LATEST
    os.utime(run / "ckpt" / checkpoints.PROGRESS, ns=(latest.stat().st_mtime_ns - 10**9,) * 2)
    assert read_progress(run) == done


def test_progress_of_an_old_checkpoint_inside_its_first_epoch(tmp_path):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    checkpoints.save_atomic({"format": checkpoints.FORMAT, "config": {"train": {"epochs": 3, "decay_epochs": 2}},
                            "progress": {"epoch": 0, "step": 7, "iteration": 7}}, ckpt / checkpoints.LATEST)
    assert read_progress(tmp_path) == {"epoch": 0, "step": 7, "iteration": 7, "train_seconds": None, "epochs": 5,
                                       "iterations": None, "finished": False}
