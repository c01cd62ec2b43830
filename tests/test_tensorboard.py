"""log.tensorboard: the loss log's scalars and the sample grids in RUN_DIR/tb/, read back as TensorBoard reads them."""

import json
import shutil
import sys

import pytest
from PIL import Image

import semicycle
from semicycle import checkpoints
from semicycle.engine.trainer import Trainer
from semicycle.errors import ConfigError
from tiny_runs import tiny_config

RUN = ("data.max_images=12", "log.log_every=1", "log.checkpoint_every=0", "log.sample_every=2",
       "runtime.precision=fp32")
TAGS = {"lr": "lr", "img_per_s": "speed/img_per_s", "s_per_iter": "speed/s_per_iter", "epoch": "progress/epoch"}


def read_events(run_dir):
    """The run's event files as TensorBoard reads them (every scalar and image kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def loss_log(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "losses.jsonl").read_text().splitlines()]


def assert_scalars_match_the_loss_log(run_dir, since: int = 1):
    """Every field of every loss-log record from iteration ``since`` on is a scalar at the record's iteration,
    with its value (float32 in the event file)."""
    events, records = read_events(run_dir), [r for r in loss_log(run_dir) if r["iter"] >= since]
    fields = {field for record in records for field in record} - {"iter"}
    losses = fields - set(TAGS)
    assert losses and {"lr", "img_per_s"} <= fields
    assert {f"loss/{name}" for name in losses} | {TAGS[f] for f in fields - losses} <= set(events.Tags()["scalars"])
    for field in fields:
        scalars = events.Scalars(f"loss/{field}" if field in losses else TAGS[field])
        assert [s.step for s in scalars] == [r["iter"] for r in records], field
        assert [s.value for s in scalars] == pytest.approx([r[field] for r in records], rel=1e-6, abs=1e-7), field
    return events


def test_scalars_and_sample_grids_are_written(tmp_path, synthetic_root):
    run = tmp_path / "run"
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=3", "log.tensorboard=true"))
    events = assert_scalars_match_the_loss_log(run)
    assert [r["iter"] for r in loss_log(run)] == [1, 2, 3]
    images = events.Images("samples")
    assert [image.step for image in images] == [2, 3]  # iter_0000002.png, then final.png at iteration 3
    final = Image.open(run / "samples" / "final.png")
    assert (images[-1].width, images[-1].height) == final.size


def test_a_resumed_run_has_no_duplicate_or_lost_steps(tmp_path, synthetic_root):
    run = tmp_path / "run"
    # tensorboard switched on when resuming (log.* keys are resume-neutral)
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=2"))
    assert not (run / "tb").exists()
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=3", "log.tensorboard=true"), resume=True)
    kept = tmp_path / "ckpt_at_3"
    shutil.copytree(run / "ckpt", kept)
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=5", "log.tensorboard=true"), resume=True)
    # a kill after iteration 5 with the last checkpoint at 3: events 4..5 are stale and must not show
    shutil.rmtree(run / "ckpt")
    shutil.copytree(kept, run / "ckpt")
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=6", "log.tensorboard=true"), resume=True)
    events = assert_scalars_match_the_loss_log(run, since=3)  # iterations 1-2 trained without tensorboard
    assert [r["iter"] for r in loss_log(run)] == [1, 2, 3, 4, 5, 6]
    for name in events.Tags()["scalars"]:
        steps = [s.step for s in events.Scalars(name)]
        assert steps == sorted(set(steps)) == [3, 4, 5, 6], name
    assert [image.step for image in events.Images("samples")] == [3, 4, 6]


def test_missing_tensorboard_is_one_line_before_anything_is_written(tmp_path, synthetic_root, monkeypatch):
    run = tmp_path / "run"
    semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=1"))
    before = (run / "ckpt" / checkpoints.LATEST).read_bytes()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    fresh = tmp_path / "fresh"
    with pytest.raises(ConfigError) as error:
        Trainer(tiny_config(fresh, synthetic_root, *RUN, "log.tensorboard=true"))
    message = str(error.value)
    assert "\n" not in message and "log.tensorboard" in message and "pip install" in message
    assert not fresh.exists()
    with pytest.raises(ConfigError, match="log.tensorboard.*pip install"):
        semicycle.train(tiny_config(run, synthetic_root, *RUN, "train.max_steps=2", "log.tensorboard=true"), resume=True)
    assert (run / "ckpt" / checkpoints.LATEST).read_bytes() == before
    assert not (run / "tb").exists()


def test_tensorboard_is_off_by_default(tmp_path, synthetic_root):
    run = tmp_path / "run"
    cfg = tiny_config(run, synthetic_root, *RUN, "train.max_steps=1")
    assert cfg.log.tensorboard is False
    semicycle.train(cfg)
    assert (run / "losses.jsonl").is_file() and not (run / "tb").exists()
