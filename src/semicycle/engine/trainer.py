"""The training loop: schedule, logging, samples, checkpoints and exact resume.

A run directory holds ``config.yaml``, ``ckpt/latest.pt`` (+ kept copies), ``losses.jsonl``,
``samples/*.png``, ``loss_curves.png`` and, with ``log.tensorboard``, TensorBoard event files in ``tb/``.
Resuming restores networks, optimizers, schedulers, method state (image pools), RNG states and the
position inside the epoch, so an interrupted and resumed run computes bitwise the same weights as an
uninterrupted one (same device and threads).

NaN/Inf guard: at every log point (where the losses are read anyway, so no extra host sync per step) and
before every save, a non-finite loss or network/optimizer/method state stops the run with
``TrainingDiverged`` naming the iteration and the term. Nothing non-finite is ever saved: a fresh run
writes its initial state (iteration 0) first, so ``ckpt/latest.pt`` always holds the last finite state.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .. import checkpoints
from ..atomic import atomic_write_text
from ..config import Config
from ..data import load_training_sets
from ..data.pairing import pair_names
from ..data.transforms import center_crop, to_float, to_uint8
from ..errors import CheckpointError, TrainingDiverged
from ..figures import image_grid, plot_loss_curves
from ..methods import create_method, method_class
from ..pretrained import load_pretrained_encoders
from ..runtime import Runtime
from ..translation import translate_tensor
from .runlog import LossLog
from .tensorboard import TensorBoardLog, summary_writer_class
from .training_state import config_for_resume, non_finite_parts, restore, training_state, warn_if_machine_changed

SAMPLE_COUNT = 4


def linear_decay(epochs: int, decay_epochs: int):
    """LR factor: 1 for ``epochs`` epochs, then linearly to 0 over ``decay_epochs`` (CycleGAN sec. 7.1)."""

    def factor(epoch: int) -> float:
        return 1.0 - max(0, epoch + 1 - epochs) / float(decay_epochs + 1)

    return factor


class Trainer:
    """Runs one method over its schedule, saving everything needed to continue exactly."""

    def __init__(self, cfg: Config, resume: bool = False):
        self.run_dir = Path(cfg.run_dir)
        self.ckpt_dir = self.run_dir / "ckpt"
        state = None
        if resume:
            state = checkpoints.load(self.ckpt_dir)
            cfg = config_for_resume(state["config"], cfg)
        elif (self.ckpt_dir / checkpoints.LATEST).exists():
            raise CheckpointError(
                f"{self.run_dir}: already holds a run; continue it with --resume {self.run_dir} "
                "or choose a new run_dir (--out)"
            )
        self.cfg = cfg
        if cfg.log.tensorboard:  # a missing optional package stops the run before anything is written
            summary_writer_class()
        self.tensorboard: TensorBoardLog | None = None  # open while fit() runs (main process only)
        t = cfg.train
        r = cfg.runtime
        self.runtime = Runtime.create(r.device, r.threads, r.precision, r.channels_last, r.compile)
        self.main = self.runtime.is_main  # only the main process (rank 0) writes files
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.run_dir / "config.yaml")

        torch.manual_seed(t.seed)
        self.sets = self._training_sets(resume)
        self.method = create_method(cfg, self.sets, self.runtime)
        if state is None:  # a new run: ImageNet weights into pretrained encoders (a resumed one has them saved)
            pretrained = load_pretrained_encoders(self.method.networks)
            if pretrained and cfg.log.progress and self.main:
                print(f"ImageNet encoder weights loaded into {', '.join(pretrained)}", file=sys.stderr)
        factor = linear_decay(t.epochs, t.decay_epochs)
        self.schedulers = {
            name: torch.optim.lr_scheduler.LambdaLR(opt, factor) for name, opt in self.method.optimizers.items()
        }
        self.log = LossLog(self.run_dir / "losses.jsonl")
        self.epoch, self.step, self.iteration = 0, 0, 0
        self.saved_iteration = 0
        self.window: dict[str, dict[int, torch.Tensor]] = {}  # losses since the last log point: {term: {iteration: loss}}
        self.seconds_before, self.fit_started = 0.0, None  # training-loop wall time of earlier sessions
        if state is not None:
            progress = restore(state, self.method, self.schedulers, self.runtime, self.run_dir)
            self.epoch, self.step, self.iteration = progress["epoch"], progress["step"], progress["iteration"]
            self.saved_iteration = self.iteration
            self.seconds_before = float(progress.get("train_seconds", 0.0))
            if self.main:
                self.log.trim_after(self.iteration)
        planned = (t.max_steps if t.max_steps > 0 else self.total_iterations) - self.iteration
        self.runtime.prepare_models(self.method.networks.values(), planned_steps=planned)
        self.method.replicate()
        if state is not None:
            warn_if_machine_changed(state.get("runtime", {}), self.runtime, cfg, self.run_dir)
        if cfg.log.progress and self.main:
            print(self.runtime.summary(), file=sys.stderr)
            if self.runtime.world_size > 1:
                print(f"processes: {self.runtime.world_size} x train.batch_size={t.batch_size} = global batch "
                      f"{self.runtime.world_size * t.batch_size}", file=sys.stderr)
        self.sample_batch = self._fixed_samples()

    def _training_sets(self, resume: bool):
        """Load the training split, choose the pairs, and record them in ``pairs.txt``."""
        cfg = self.cfg
        with self.runtime.main_first():  # it may write the synthetic data set
            sets = load_training_sets(cfg.data, cfg.pairs, cfg.train.seed, self.run_dir, progress=cfg.log.progress and self.main)
        listing = "".join(name + "\n" for name in pair_names(sets.data, sets.paired_rows))
        pairs_file = self.run_dir / "pairs.txt"
        if resume and pairs_file.exists() and pairs_file.read_text() != listing:
            raise CheckpointError(f"{pairs_file}: the pairs chosen now differ from the run's (did pairs.list change?); restore the list or start a new run")
        if listing and self.main:
            atomic_write_text(pairs_file, listing)
        return sets

    @property
    def total_epochs(self) -> int:
        return self.cfg.train.epochs + self.cfg.train.decay_epochs

    @property
    def total_iterations(self) -> int:
        return self.total_epochs * self.method.batches.steps_per_epoch

    def _fixed_samples(self) -> dict:
        """A few training images, centre-cropped, shown in every sample grid."""
        data, crop = self.sets.data, self.cfg.data.crop_size
        count = min(SAMPLE_COUNT, len(data.A), len(data.B))
        return {"A": to_float(center_crop(data.A[:count], crop)), "B": to_float(center_crop(data.B[:count], crop))}

    # ---------------------------------------------------------------- checkpoints
    def checkpoint_state(self) -> dict:
        """Everything a resumption needs (:func:`~semicycle.engine.training_state.training_state`)."""
        progress = {"epoch": self.epoch, "step": self.step, "iteration": self.iteration,
                    "train_seconds": round(self.train_seconds(), 1)}
        palette = self.sets.palette.name if self.sets.palette else ""
        return training_state(self.cfg, self.method, self.schedulers, self.runtime, progress, palette)

    def save(self, keep_epoch: int | None = None) -> Path:
        """Write ``ckpt/latest.pt`` (and a kept copy); a non-finite loss or state raises instead. Every process
        takes part (the state is gathered); the main process writes."""
        self.check_losses()
        state = self.checkpoint_state()
        self.check_state(state)
        self.saved_iteration = self.iteration
        path = self.ckpt_dir / checkpoints.LATEST
        if not self.main:
            return path
        checkpoints.save_atomic(state, path)
        if keep_epoch is not None:
            checkpoints.keep_copy(path, self.ckpt_dir / f"epoch_{keep_epoch:04d}.pt")
        progress = {**state["progress"], "epochs": self.total_epochs, "iterations": self.total_iterations,
                    "finished": self.epoch >= self.total_epochs}
        checkpoints.write_progress(self.ckpt_dir, progress)
        return path

    def check_losses(self) -> None:
        """Raise ``TrainingDiverged`` at the first non-finite loss since the last log point (one host sync)."""
        window = self.window
        if not window or bool(torch.isfinite(torch.cat([torch.stack(list(v.values())) for v in window.values()])).all()):
            return
        bad = [(i, key) for key, losses in window.items() for i, loss in losses.items() if not torch.isfinite(loss)]
        iteration, key = min(bad, key=lambda b: b[0])  # the earliest; on a tie the first term the method returns
        raise self._diverged(f"loss '{key}' is {float(window[key][iteration])}", iteration)

    def check_state(self, state: dict) -> None:
        """Raise ``TrainingDiverged`` if a checkpoint's networks, optimizers or method state hold NaN/Inf
        (checked at saves only); every process raises if one finds a problem."""
        found = [p for rank_problems in self.runtime.gather_objects(non_finite_parts(state)[:1]) for p in rank_problems]
        if found:
            raise self._diverged(found[0], self.iteration)

    def _diverged(self, what: str, iteration: int) -> TrainingDiverged:
        kept = (f"ckpt/{checkpoints.LATEST} keeps iteration {self.saved_iteration}, the last finite state"
                if (self.ckpt_dir / checkpoints.LATEST).exists() else "no checkpoint was written")
        precision = self.runtime.precision
        fp32 = f" or use runtime.precision=fp32 (now {precision})" if precision != "fp32" else ""
        return TrainingDiverged(
            f"{self.run_dir}: training diverged: {what} at iteration {iteration}; {kept}; lower train.lr "
            f"(now {self.cfg.train.lr:g}){fp32} and start a new run, or --resume {self.run_dir} if the cause was transient"
        )

    def train_seconds(self) -> float:
        """Wall time spent in the training loop over every session so far (saved with each checkpoint,
        so a run killed without warning still knows what it cost up to its last checkpoint)."""
        running = time.perf_counter() - self.fit_started if self.fit_started is not None else 0.0
        return self.seconds_before + running

    # ---------------------------------------------------------------- outputs
    def write_samples(self, name: str) -> Path | None:
        if not self.main:
            return None
        A, B = self.sample_batch["A"], self.sample_batch["B"]
        columns, titles = [A], ["A"]
        if "AtoB" in self.method.translators:
            columns, titles = columns + [self.translate(A, "AtoB")], titles + ["A->B"]
        columns, titles = columns + [B], titles + ["B"]
        if "BtoA" in self.method.translators:
            columns, titles = columns + [self.translate(B, "BtoA")], titles + ["B->A"]
        rows = [[to_uint8(x) for x in images] for images in zip(*columns)]
        scale = max(1, 128 // self.cfg.data.crop_size)
        path = self.run_dir / "samples" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid = image_grid(rows, column_titles=titles, scale=scale)
        grid.save(path)
        if self.tensorboard is not None:
            self.tensorboard.add_grid(grid, self.iteration)
        return path

    def translate(self, images: torch.Tensor, direction: str) -> torch.Tensor:
        """The sample images translated by the trained network of ``direction``, as inference translates."""
        net = self.method.networks[self.method.translators[direction]]
        return translate_tensor(net, images, self.sets.palette, self.runtime)

    def write_curves(self) -> Path | None:
        records = self.log.read() if self.main else []
        if not records:
            return None
        return plot_loss_curves(records, self.run_dir / "loss_curves.png", title=f"{self.cfg.train.method} losses")

    # ---------------------------------------------------------------- loop
    def fit(self) -> Path:
        """Train to the end of the schedule (or ``train.max_steps``); returns the latest checkpoint. With
        ``log.tensorboard`` the main process writes ``tb/`` meanwhile, flushed and closed however fit ends."""
        if self.cfg.log.tensorboard and self.main:
            self.tensorboard = TensorBoardLog(self.run_dir, self.iteration)
        try:
            return self._fit()
        finally:
            if self.tensorboard is not None:
                self.tensorboard.close()
                self.tensorboard = None

    def _fit(self) -> Path:
        t, log = self.cfg.train, self.cfg.log
        batches = self.method.batches
        stop_at = t.max_steps if t.max_steps > 0 else None
        bar = tqdm(total=self.total_iterations, initial=self.iteration, disable=not (log.progress and self.main),
                   desc=t.method, dynamic_ncols=True)
        self.window = {}
        window_start, window_images = time.perf_counter(), 0
        self.fit_started = window_start
        if self.iteration == 0:  # the initial state: a run that diverges at once still leaves a finite checkpoint
            self.save()
        try:
            while self.epoch < self.total_epochs:
                for step, batch in batches.epoch(self.epoch, self.step):
                    if stop_at is not None and self.iteration >= stop_at:
                        raise _StopRequested
                    step_losses = self._mean_over_processes(self.runtime.timed_first_step(self.method.train_step, batch.to(self.runtime.put)))
                    self.step, self.iteration = step + 1, self.iteration + 1
                    window_images += batch.size
                    for key, value in step_losses.items():
                        self.window.setdefault(key, {})[self.iteration] = value
                    bar.update(1)
                    if self.iteration % log.log_every == 0:
                        self.check_losses()
                        elapsed = time.perf_counter() - window_start
                        record = self._log_record(self.window, window_images / max(elapsed, 1e-9), elapsed)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k not in ("iter", "epoch", "lr")})
                        self.window, window_start, window_images = {}, time.perf_counter(), 0
                    if log.sample_every and self.iteration % log.sample_every == 0:
                        self.write_samples(f"iter_{self.iteration:07d}")
                    if log.checkpoint_every and self.iteration % log.checkpoint_every == 0 and self.step < batches.steps_per_epoch:
                        self.save()
                for sched in self.schedulers.values():
                    sched.step()
                self.epoch, self.step = self.epoch + 1, 0
                keep = log.keep_every_epochs and (self.epoch % log.keep_every_epochs == 0 or self.epoch == self.total_epochs)
                due = not log.checkpoint_every or self.iteration - self.saved_iteration >= log.checkpoint_every
                if keep or due or self.epoch == self.total_epochs:  # tiny epochs: not a save per epoch
                    self.save(keep_epoch=self.epoch if keep else None)
                    self.write_curves()
        except _StopRequested:
            self.save()
        except KeyboardInterrupt:
            if self.runtime.world_size == 1:  # several processes are interrupted at different points: no collective save
                self.save()
            raise KeyboardInterrupt(f"interrupted at iteration {self.iteration} (ckpt/{checkpoints.LATEST} holds iteration "
                                    f"{self.saved_iteration}); continue with: semicycle train --resume {self.run_dir}") from None
        finally:
            bar.close()
        self.write_samples("final")
        self.write_curves()
        return self.ckpt_dir / checkpoints.LATEST

    def _mean_over_processes(self, step_losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The step's losses averaged over the processes (every process has the same terms, in the same order)."""
        if self.runtime.world_size == 1:
            return step_losses
        means = self.runtime.mean_over_processes(torch.stack([value.float() for value in step_losses.values()]))
        return dict(zip(step_losses, means))

    def _log_record(self, window: dict[str, dict[int, torch.Tensor]], images_per_second: float, seconds: float) -> dict:
        record = {"iter": self.iteration, "epoch": self.epoch}
        record.update({k: float(torch.stack(list(v.values())).mean()) for k, v in window.items()})
        record["lr"] = next(iter(self.method.optimizers.values())).param_groups[0]["lr"]
        record["img_per_s"] = round(images_per_second, 3)
        iterations = len(set().union(*(v.keys() for v in window.values())))
        record["s_per_iter"] = round(seconds / max(1, iterations), 4)  # wall time per iteration, batches included
        if self.runtime.device.type == "cuda":
            record["gpu_mem_mb"] = round(torch.cuda.max_memory_allocated(self.runtime.device) / 2**20)  # peak so far
        if self.main:
            self.log.write(record)
        if self.tensorboard is not None:
            self.tensorboard.write(record)
        return record


class _StopRequested(Exception):
    """``train.max_steps`` reached: checkpoint and return (a later --resume continues)."""


def train(cfg: Config, resume: bool = False) -> Path:
    """Train as configured; returns the path of the latest checkpoint. Under torchrun every process runs
    this; each trains its share of the global batch and the main process writes the run folder."""
    trainer = Trainer(cfg, resume=resume)
    try:
        return trainer.fit()
    finally:
        trainer.runtime.close()


@dataclass
class Plan:
    """What a run will do, known before it starts (no network is built)."""

    steps_per_epoch: int
    epochs: int
    iterations: int
    training_samples: int
    paired_samples: int


def plan(cfg: Config) -> Plan:
    """The schedule of a run as configured: loads the training split and the pairs as training does."""
    sets = load_training_sets(cfg.data, cfg.pairs, cfg.train.seed, cfg.run_dir, progress=False)
    steps = method_class(cfg.train.method).make_batches(cfg, sets).steps_per_epoch
    epochs = cfg.train.epochs + cfg.train.decay_epochs
    return Plan(steps, epochs, epochs * steps, len(sets.data.A), len(sets.paired_rows))
