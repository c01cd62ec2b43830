"""The experiment driver shared by the scripts in experiments/ (issue 7: the papers' tables at CPU scale).

An experiment is a list of named runs (a preset + overrides, seed included) and a function that turns
their metrics into markdown tables and figures. For every run the driver

1. skips it when ``RUN/metrics_<split>.json`` exists (or ``RUN/metrics.json`` scored on that split);
2. else resumes it when ``RUN/ckpt/latest.pt`` holds an unfinished schedule (``train(cfg, resume=True)``,
   the same as ``semicycle train --resume RUN``), or trains it from scratch (``semicycle train``);
3. evaluates the finished run on ``--split`` (``semicycle evaluate RUN --split S --out RUN/eval/S``)
   and copies the scores to ``RUN/metrics_<split>.json``.

Wall time is summed over sessions in ``RUN/walltime.json``; the exact CLI commands are recorded with
every run. Runs live in ``runs/experiments/<experiment>/<run>`` (ignored by git); tables and figures go
to ``experiments/results/<experiment>/`` (committed). ``--quick`` shrinks everything (32 px, ngf 8,
8 images, a few iterations) into ``runs/experiments-quick`` and ``experiments/results-quick`` so that
it can never overwrite real results.

Schedule: every run of an experiment gets the same number of training iterations (generator
updates), ``iterations``, split into epochs at a constant learning rate and epochs of linear decay
(half and half; Mondal's 1:3). The epochs are computed once per run from the method's own
``steps_per_epoch`` and stored in ``RUN/plan.json``, so a resumed run never changes its schedule.

Stopping: Ctrl-C, ``kill PID`` (SIGTERM), ``kill -INT PID`` or a hang-up (unless started with nohup) save a
checkpoint; running the same command again continues where it stopped. A lock file per run keeps two
processes from training the same run.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see README "Measured"

import argparse
import json
import shlex
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from docs_page import DOCS_RESULTS, update_docs_section
from locks import RunLock, exclusive_lock
from semicycle.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"

# ---------------------------------------------------------------------------------------------------
# The CPU-scale configuration (measured: see docs/results.md "Configuration" and experiments/step_time.py)
SIZE = 64  # training and evaluation image size (load 72 -> random crop 64, as 286 -> 256)
WIDTH = 32  # ngf = ndf
GENERATOR = "resnet_6blocks"
QUICK_SIZE, QUICK_WIDTH, QUICK_IMAGES, QUICK_EVAL_IMAGES, QUICK_ITERATIONS = 32, 8, 8, 4, 16


def load_size_for(size: int) -> int:
    """The resize-then-crop size of the CycleGAN recipe (286 for 256), rounded to an even number."""
    return round(size * 286 / 256 / 2) * 2


def cpu_scale_overrides(size: int = SIZE, quick: bool = False, augment: bool = True) -> list[str]:
    """Architecture and image size shared by every compared method (``augment=False``: no crop, no flip)."""
    width = QUICK_WIDTH if quick else WIDTH
    load = load_size_for(size) if augment else size
    out = [f"data.load_size={load}", f"data.crop_size={size}", f"model.generator={GENERATOR}",
           f"model.ngf={width}", f"model.ndf={width}"]
    if not augment:
        out.append("data.flip=false")
    if quick:
        out.append(f"data.max_images={QUICK_IMAGES}")
    return out + pinned_precision()


def pinned_precision() -> list[str]:
    """fp32, written out: ``train.precision=auto`` may pick bf16 on CPUs with AMX/AVX512-BF16 (with
    ``AUTO_TRAINS_IN_BF16``), so a run resumed on another machine or version could change precision
    half-way. (Empty where the config has no such key.)"""
    from semicycle.config import TrainConfig

    return ["train.precision=fp32"] if "precision" in TrainConfig.__dataclass_fields__ else []


BOOKKEEPING = ["train.log_every=50", "train.sample_every=2000", "train.checkpoint_every=250",
               "train.keep_every_epochs=0", "train.progress=false"]
QUICK_BOOKKEEPING = ["train.log_every=4", "train.sample_every=0", "train.checkpoint_every=0",
                     "train.keep_every_epochs=0", "train.progress=false"]


def rel(path) -> str:
    """A path as written in commands and configs: relative to the repository when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def shown(path) -> str:
    """A path for a printed shell command: relative to the repository, or under $SEMICYCLE_DATA, else absolute."""
    from semicycle.data.paths import expand_path

    resolved = Path(path).resolve()
    data = Path(expand_path("$SEMICYCLE_DATA")).resolve()
    if resolved.is_relative_to(data) and not resolved.is_relative_to(REPO):
        return "${SEMICYCLE_DATA:-../shared/data}/" + str(resolved.relative_to(data))
    return rel(path)


def command_line(args: list[str]) -> str:
    return " ".join(shlex.quote(str(a)) for a in args)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_json(path: Path, default=None):
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def write_json(path: Path, value) -> None:
    """Atomic: a killed process or a second worker never leaves half a file."""
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


class ExperimentError(Exception):
    """A run cannot be used as it is; the message says what to do."""


# ---------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """One training run of an experiment."""

    name: str  # folder name and key in the tables
    preset: str
    overrides: list[str]  # on top of the preset and the CPU-scale overrides (seed included)
    label: str = ""  # human-readable description
    direction: str | None = None  # evaluate only this direction ("AtoB"); None = every direction of the run
    eval_overrides: list[str] = field(default_factory=list)
    run_dir: Path | None = None  # default: <runs-dir>/<experiment>/<name>; set to share a run between experiments
    evaluate: bool = True  # False: trained as a tool (e.g. the facades scorer), scored by its own rows
    augment: bool = True  # False: no random crop/flip (Mondal et al. train without augmentation)
    iterations: int | None = None  # None: the experiment's budget
    decay_fraction: float | None = None  # None: the experiment's
    needs: list[str] = field(default_factory=list)  # runs that must be trained first (e.g. the scorer)


class Experiment:
    """Trains, resumes and evaluates a list of runs, then writes tables and figures."""

    def __init__(self, name: str, title: str, args: argparse.Namespace, iterations: int, decay_fraction: float = 0.5,
                 script: str | None = None, script_args: list[str] | None = None):
        self.name, self.title, self.args = name, title, args
        self.script, self.script_args = script or name, list(script_args or [])
        self.quick, self.split = args.quick, args.split
        self.iterations = QUICK_ITERATIONS if self.quick else iterations
        self.decay_fraction = decay_fraction
        self.size = QUICK_SIZE if self.quick else SIZE
        default_runs = REPO / "runs" / ("experiments-quick" if self.quick else "experiments")
        self.runs_root = Path(args.runs_dir or default_runs).resolve()
        self.runs_dir = self.runs_root / name
        default_out = EXPERIMENTS / ("results-quick" if self.quick else "results") / name
        self.out_dir = Path(args.out or default_out).resolve()
        self.runs: list[Run] = []
        self.metrics: dict[str, dict | None] = {}
        self.status: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.prepared: list[dict] = []  # preparation steps (pair selection, data subsets) with their commands

    # ------------------------------------------------------------------ configuration
    def add(self, run: Run) -> Run:
        if any(r.name == run.name for r in self.runs):
            raise ValueError(f"run name {run.name!r} used twice in {self.name}")
        if run.run_dir is None:
            run.run_dir = self.runs_dir / run.name
        run.run_dir = Path(run.run_dir).resolve()
        if any(r.run_dir == run.run_dir for r in self.runs):
            raise ValueError(f"runs {run.name!r} and another share the folder {run.run_dir}")
        self.runs.append(run)
        return run

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def base_overrides(self, run: Run) -> list[str]:
        out = cpu_scale_overrides(self.size, self.quick, run.augment)
        out += QUICK_BOOKKEEPING if self.quick else BOOKKEEPING
        return out + list(run.overrides) + list(self.args.set or [])

    def eval_overrides(self, run: Run) -> list[str]:
        out = list(run.eval_overrides)
        if self.quick:
            out.append(f"eval.max_images={QUICK_EVAL_IMAGES}")
        return out

    def build_config(self, run: Run, schedule: list[str]):
        from semicycle import config as cfgmod

        cfg = cfgmod.load_preset(run.preset)
        cfg = cfgmod.apply_overrides(cfg, self.base_overrides(run) + schedule)
        cfg.run_dir = rel(run.run_dir)
        return cfg

    def plan(self, run: Run) -> dict:
        """The run's schedule (epochs), computed once from the method's steps per epoch and stored."""
        path = run.run_dir / "plan.json"
        plan = read_json(path)
        iterations = run.iterations or self.iterations
        started = (run.run_dir / "config.yaml").is_file()
        if plan and (started or plan["iterations_budget"] == iterations):
            if plan["iterations_budget"] != iterations:
                raise ExperimentError(
                    f"{rel(path)}: planned for {plan['iterations_budget']} iterations, the script now asks for {iterations}; "
                    "restore the script's budget or move the run folder away to start the run again")
            return plan
        from semicycle.data import load_data
        from semicycle.data.pairing import training_sets
        from semicycle.runtime import Runtime
        from semicycle.methods import create_method

        cfg = self.build_config(run, ["train.epochs=1", "train.decay_epochs=0"])
        data = load_data(cfg.data, cfg.data.train_split, cfg.run_dir, progress=False)
        sets = training_sets(data, cfg.pairs, cfg.train.seed)
        steps = create_method(cfg, sets, Runtime.create("cpu")).batches.steps_per_epoch
        fraction = self.decay_fraction if run.decay_fraction is None else run.decay_fraction
        total = max(2, round(iterations / steps))
        decay = min(total - 1, max(1, round(total * fraction)))
        plan = {
            "iterations_budget": iterations, "steps_per_epoch": steps, "epochs": total - decay,
            "decay_epochs": decay, "iterations": total * steps, "training_samples": len(data.A),
            "paired_samples": len(sets.paired_rows), "planned": now(),
        }
        write_json(path, plan)
        return plan

    def schedule(self, run: Run) -> list[str]:
        plan = self.plan(run)
        return [f"train.epochs={plan['epochs']}", f"train.decay_epochs={plan['decay_epochs']}"]

    def train_command(self, run: Run) -> str:
        """The run's `semicycle train` command; --set values that do not change the result
        (train.max_steps, logging, ...) are left out: they belong to a session, not to the run."""
        from semicycle.config import RESUME_NEUTRAL_KEYS

        overrides = [o for o in self.base_overrides(run) + self.schedule(run)
                     if o not in (self.args.set or []) or o.split("=", 1)[0] not in RESUME_NEUTRAL_KEYS]
        return command_line(["semicycle", "train", "--preset", run.preset, "--out", rel(run.run_dir), *overrides])

    def evaluate_command(self, run: Run) -> str:
        args = ["semicycle", "evaluate", rel(run.run_dir), "--split", self.split]
        if run.direction:
            args += ["--direction", run.direction]
        args += ["--out", rel(run.run_dir / "eval" / self.split), *self.eval_overrides(run)]
        return command_line(args)

    # ------------------------------------------------------------------ state of a run
    def walltime(self, run: Run) -> dict:
        return read_json(run.run_dir / "walltime.json", {"sessions": [], "train_seconds": 0.0, "finished": False, "eval_seconds": {}})

    def metrics_for(self, run: Run) -> dict | None:
        """The run's scores on the split, or None while it has none scored by today's protocol (so
        --tabulate-only re-scores it)."""
        metrics = read_json(run.run_dir / f"metrics_{self.split}.json")
        if metrics is None:
            plain = read_json(run.run_dir / "metrics.json")  # e.g. written by a plain 'semicycle evaluate RUN'
            metrics = plain if plain is not None and plain.get("split") == self.split else None
        return None if metrics is None or outdated_protocol(metrics) else metrics

    def saved_progress(self, run: Run) -> dict | None:
        """The latest checkpoint's progress record (iteration, epoch, train_seconds), or None before the first."""
        from semicycle.engine import checkpoint

        latest = run.run_dir / "ckpt" / checkpoint.LATEST
        if not latest.is_file():
            return None
        state = checkpoint.load(latest)
        train = state["config"]["train"]
        return {**state["progress"], "finished": state["progress"]["epoch"] >= train["epochs"] + train["decay_epochs"]}

    def progress(self, run: Run) -> tuple[int, bool] | None:
        """(iterations done, schedule finished) from the checkpoint, or None before the first one."""
        saved = self.saved_progress(run)
        return None if saved is None else (saved["iteration"], saved["finished"])

    @staticmethod
    def unrecorded_session(wall: dict, saved: dict | None) -> dict | None:
        """A session killed without warning (SIGKILL, power loss) wrote no record: rebuild it from the
        checkpoint, whose ``train_seconds`` counts the training loop of every session up to its save."""
        recorded_to = wall["sessions"][-1]["to_iteration"] if wall.get("sessions") else 0
        if saved is None or saved["iteration"] <= recorded_to:
            return None
        seconds = None
        if "train_seconds" in saved:
            seconds = round(max(0.0, saved["train_seconds"] - sum(s["seconds"] or 0.0 for s in wall.get("sessions", []))), 1)
        return {"started": None, "unrecorded": True, "from_iteration": recorded_to, "to_iteration": saved["iteration"],
                "seconds": seconds, "note": "killed without a record; seconds from the checkpoint's train_seconds"}

    def check_config(self, run: Run) -> None:
        """A run folder that holds another configuration than the script asks for is never reused."""
        from semicycle import config as cfgmod

        saved = run.run_dir / "config.yaml"
        if not saved.is_file():
            return
        import yaml

        diffs = cfgmod.resume_differences(yaml.safe_load(saved.read_text()), self.build_config(run, self.schedule(run)).to_dict())
        if diffs:
            raise ExperimentError(
                f"{rel(run.run_dir)} holds a run with another configuration ({'; '.join(diffs)}); "
                "move it away (or restore the script's settings) and run again")

    def is_finished(self, run: Run) -> bool:
        if self.walltime(run).get("finished"):
            return True
        progress = self.progress(run)
        return progress is not None and progress[1]

    # ------------------------------------------------------------------ work
    def train(self, run: Run) -> str:
        from semicycle.engine import checkpoint
        from semicycle.engine.trainer import train

        schedule = self.schedule(run)
        cfg = self.build_config(run, schedule)
        resume = (run.run_dir / "ckpt" / checkpoint.LATEST).is_file()
        wall = self.walltime(run)
        saved = self.saved_progress(run)  # one checkpoint load for the record of the last session and the start
        lost = self.unrecorded_session(wall, saved)
        if lost is not None:
            wall["sessions"] = wall.get("sessions", []) + [lost]
            write_json(run.run_dir / "walltime.json", wall)
        wall["train_command"] = self.train_command(run)
        wall["resume_command"] = command_line(["semicycle", "train", "--resume", rel(run.run_dir)])
        before = saved["iteration"] if saved else 0
        session = {"started": now(), "host": socket.gethostname(), "resumed": resume, "from_iteration": before,
                   "torch_threads": None, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
        import torch

        session["torch_threads"] = torch.get_num_threads()
        print(f"[{self.name}] {'resuming' if resume else 'training'} {run.name} ({rel(run.run_dir)})", flush=True)
        start = time.perf_counter()
        interrupted = False
        try:
            train(cfg, resume=resume)
        except KeyboardInterrupt:
            interrupted = True
            raise
        except Exception as exc:
            session["error"] = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            session["seconds"] = round(time.perf_counter() - start, 1)
            progress = self.progress(run)
            session["to_iteration"] = progress[0] if progress else 0
            session["interrupted"] = interrupted
            wall = {**self.walltime(run), **{k: wall[k] for k in ("train_command", "resume_command")}}
            wall["sessions"] = wall.get("sessions", []) + [session]
            wall["train_seconds"] = round(sum(s["seconds"] or 0.0 for s in wall["sessions"]), 1)
            wall["finished"] = bool(progress and progress[1])
            write_json(run.run_dir / "walltime.json", wall)
        return "resumed" if resume else "trained"

    def evaluate(self, run: Run) -> dict:
        from semicycle.evaluation.runner import evaluate

        out = run.run_dir / "eval" / self.split
        overrides = dict(item.split("=", 1) for item in self.eval_overrides(run))
        print(f"[{self.name}] evaluating {run.name} on {self.split}", flush=True)
        start = time.perf_counter()
        metrics = evaluate(str(run.run_dir), direction=run.direction, split=self.split, out_dir=out, overrides=overrides)
        seconds = round(time.perf_counter() - start, 1)
        write_json(run.run_dir / f"metrics_{self.split}.json", metrics)
        wall = self.walltime(run)
        wall.setdefault("eval_seconds", {})[self.split] = seconds
        wall.setdefault("eval_commands", {})[self.split] = self.evaluate_command(run)
        write_json(run.run_dir / "walltime.json", wall)
        return metrics

    def ensure(self, run: Run) -> str:
        """Bring one run to 'evaluated on the split' (or 'trained' for tool runs); returns what happened.
        The run's lock is taken first: its config and progress are read while no other worker writes them."""
        lock = RunLock(run.run_dir)
        if not lock.acquire():
            return f"busy (pid {lock.owner()})"
        try:
            self.check_config(run)
            if run.evaluate and self.metrics_for(run) is not None:
                return "done"
            did = "done"
            if not self.is_finished(run):
                if self.args.tabulate_only:
                    return "not finished"
                did = self.train(run)
                if not self.is_finished(run):  # stopped early (train.max_steps): continue next time
                    return f"{did}, stopped at iteration {self.progress(run)[0]} of {self.plan(run)['iterations']}"
            if run.evaluate:
                waiting = [n for n in run.needs if not self.is_finished(self.run(n))]
                if waiting:  # e.g. the scorer is still training in another process: score this run next time
                    return f"{did}; evaluation waits for {', '.join(waiting)}"
                self.evaluate(run)
                did = "evaluated" if did == "done" else f"{did}+evaluated"
            return did
        finally:
            lock.release()

    def execute(self, tabulate: Callable[["Experiment"], str], figures: Callable[["Experiment"], list[dict]] | None = None) -> int:
        """Run everything (honouring --only / --tabulate-only), then write the results folder."""
        previous = install_signal_handlers()
        try:
            return self._execute(tabulate, figures)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _execute(self, tabulate, figures) -> int:
        only = set(self.args.only.split(",")) if self.args.only else None
        if only:
            unknown = only - {r.name for r in self.runs}
            if unknown:
                raise SystemExit(f"--only: no run named {', '.join(sorted(unknown))} in {self.name} (runs: {', '.join(r.name for r in self.runs)})")
            pending = list(only)
            while pending:  # the runs they need come along
                for need in self.run(pending.pop()).needs:
                    if need not in only:
                        only.add(need)
                        pending.append(need)
        for run in self.runs:
            if only and run.name not in only:
                self.status[run.name] = "skipped (--only)"
                continue
            try:
                self.status[run.name] = self.ensure(run)
            except KeyboardInterrupt:
                print(f"[{self.name}] stopped during {run.name}; run the same command again to continue", file=sys.stderr)
                self.write_results(tabulate, figures)
                return 130
            except Exception as exc:  # one broken run must not stop the others; reported and non-zero exit
                self.errors[run.name] = f"{type(exc).__name__}: {exc}"
                self.status[run.name] = "failed"
                traceback.print_exc()
            print(f"[{self.name}] {run.name}: {self.status[run.name]}", flush=True)
            if "evaluated" in self.status[run.name] and run is not self.runs[-1]:
                self.write_results(tabulate, figures)  # a new number: the partial tables stay current
        self.write_results(tabulate, figures)
        return 1 if self.errors else 0

    # ------------------------------------------------------------------ results
    def scored_runs(self) -> list[Run]:
        return [r for r in self.runs if r.evaluate]

    def collect(self) -> None:
        self.metrics = {r.name: self.metrics_for(r) for r in self.scored_runs()}

    def completed(self) -> tuple[int, int]:
        runs = self.scored_runs()
        return sum(self.metrics.get(r.name) is not None for r in runs), len(runs)

    def partial_banner(self) -> str:
        done, total = self.completed()
        if done == total:
            return ""
        return f"**PARTIAL ({done} of {total} runs)** — rows marked \"not yet run\" have no finished, evaluated run yet.\n\n"

    def write_results(self, tabulate, figures=None) -> Path:
        """results.md, results.json and the docs block, from one fresh look at the runs. Two workers finishing
        at once take turns (a lock in the results folder), so the last writer always saw the other's run."""
        out = self.out_dir
        out.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(out / ".results.lock"):
            return self._write_results(tabulate, figures)

    def _write_results(self, tabulate, figures) -> Path:
        self.collect()
        out = self.out_dir
        figure_notes = []
        if figures is not None:
            try:
                figure_notes = figures(self) or []
            except Exception:  # a figure must not lose the tables
                traceback.print_exc()
                figure_notes = [{"file": None, "caption": "figure failed: see the console output"}]
        body = [f"# {self.title}\n", self.header(), self.partial_banner(), tabulate(self), "\n"]
        for note in figure_notes:
            if note.get("file"):
                body.append(f"![{note['caption']}]({note['file']})\n\n*{note['caption']}*\n\n")
        body.append(self.runs_section())
        text = "".join(body)
        self.copy_prepared()
        atomic_write_text(out / "results.md", text)
        write_json(out / "results.json", self.summary(previous=read_json(out / "results.json", {})))
        if not self.quick and not self.args.no_docs:
            update_docs_section(self.name, self.docs_section(tabulate, figure_notes))
        print(f"[{self.name}] results: {rel(out / 'results.md')} ({'%d of %d' % self.completed()} runs evaluated)", flush=True)
        return out / "results.md"

    def copy_prepared(self) -> None:
        """The chosen image lists (select-pairs) are part of the result: copied to <out>/selection/."""
        for step in self.prepared:
            if not step.get("file"):
                continue
            source = REPO / step["file"] if not Path(step["file"]).is_absolute() else Path(step["file"])
            if source.is_file():
                (self.out_dir / "selection").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, self.out_dir / "selection" / source.name)

    def header(self) -> str:
        command = ["OMP_WAIT_POLICY=PASSIVE", "python", f"experiments/{self.script}.py", *self.script_args, "--split", self.split]
        if self.quick:
            command.append("--quick")
        lines = [
            f"Command: `{command_line(command)}`" + (" (quick smoke version: numbers mean nothing)" if self.quick else ""),
            f"Configuration: {self.size} px (resized to {load_size_for(self.size)}, random crop {self.size}, flip; "
            f"unless the runs say otherwise), {GENERATOR}, "
            f"ngf = ndf = {QUICK_WIDTH if self.quick else WIDTH}, {self.iterations} iterations per run "
            f"({100 * (1 - self.decay_fraction):.0f}% constant LR, then linear decay); evaluated on `{self.split}` "
            f"at {self.size} px.",
            f"Runs: `{rel(self.runs_dir)}` (checkpoints, `plan.json`, `walltime.json`, `eval/{self.split}/report.html`).",
        ]
        return "\n".join(lines) + "\n\n"

    def runs_section(self) -> str:
        rows = ["## Runs\n", "| run | what | status | iterations done / planned | train wall time | eval wall time |",
                "| --- | --- | --- | --- | --- | --- |"]
        commands = []
        for run in self.runs:
            wall = self.walltime(run)
            try:
                command = wall.get("train_command") or self.train_command(run)  # plans the run if needed
            except Exception as exc:  # e.g. data missing on this machine: the table must still be written
                command = f"# cannot plan {run.name} here ({exc})"
            plan = read_json(run.run_dir / "plan.json") or {}
            done = (wall.get("sessions") or [{}])[-1].get("to_iteration") or 0
            if run.evaluate and self.metrics.get(run.name) is not None:
                state = "evaluated"
            elif wall.get("finished"):
                state = "trained"
            elif wall.get("sessions"):
                state = f"stopped (continues at iteration {done})"
            else:
                state = "not yet run"
            if run.name in self.errors:
                state = f"failed: {self.errors[run.name]}"
            iterations = f"{done} / {plan['iterations']}" if plan else "—"
            train_s = wall.get("train_seconds") if wall.get("sessions") else None
            rows.append(f"| `{run.name}` | {run.label} | {state} | {iterations} | {format_duration(train_s)} | "
                        f"{format_duration((wall.get('eval_seconds') or {}).get(self.split))} |")
            lines = [f"# {run.name}: {run.label}", command]
            if run.evaluate:
                lines.append(self.evaluate_command(run))
            commands.append("\n".join(lines))
        text = "\n".join(rows) + "\n\n"
        if self.prepared:
            text += "## Preparation\n\n```bash\n" + "\n".join(p["command"] for p in self.prepared) + "\n```\n\n"
        text += ("## Commands (the driver calls the same Python functions; `semicycle train --resume RUN` continues "
                 "an interrupted run)\n\n```bash\n" + "\n\n".join(commands) + "\n```\n")
        return text

    def docs_section(self, tabulate, figure_notes) -> str:
        """The block docs/results.md shows between this experiment's markers."""
        rel_out = os.path.relpath(self.out_dir, DOCS_RESULTS.parent)
        parts = [self.partial_banner(), tabulate(self), "\n"]
        for note in figure_notes:
            if note.get("file"):
                parts.append(f"![{note['caption']}]({rel_out}/{note['file']})\n\n")
        parts.append(f"Per-run status, wall times and exact commands: [{rel(self.out_dir / 'results.md')}]({rel_out}/results.md).\n")
        return "".join(parts)

    def summary(self, previous: dict | None = None) -> dict:
        """results.json; its "written" time changes only with its content (a worker passing by rewrites nothing)."""
        runs = {}
        for run in self.runs:
            wall = self.walltime(run)
            runs[run.name] = {
                "label": run.label, "run_dir": rel(run.run_dir), "preset": run.preset, "overrides": run.overrides,
                "plan": read_json(run.run_dir / "plan.json"), "train_seconds": wall.get("train_seconds") if wall.get("sessions") else None,
                "finished": wall.get("finished", False), "eval_seconds": (wall.get("eval_seconds") or {}).get(self.split),
                "train_command": wall.get("train_command"), "metrics": headline(self.metrics.get(run.name)),
                "error": self.errors.get(run.name),
            }
        done, total = self.completed()
        summary = json.loads(json.dumps({"experiment": self.name, "split": self.split, "quick": self.quick, "size": self.size,
                                         "iterations": self.iterations, "evaluated": done, "runs_total": total, "runs": runs}))
        unchanged = previous is not None and "written" in previous and summary == {k: v for k, v in previous.items() if k != "written"}
        return {**summary, "written": previous["written"] if unchanged else now()}


def outdated_protocol(metrics: dict) -> bool:
    """Scores of generated label maps from before eval.label_decoding (semicycle 0.1 also decoded to
    void colours, counted wrong): to be scored again."""
    return "photo_to_label" in metrics and "label_decoding" not in metrics["photo_to_label"]


def headline(metrics: dict | None) -> dict | None:
    """The numbers the tables use, without per-class details."""
    if metrics is None:
        return None
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            if key == "label_to_photo":
                out[key] = {name: {k: v for k, v in scores.items() if not isinstance(v, dict)} for name, scores in value.items() if isinstance(scores, dict)}
            else:
                out[key] = {k: v for k, v in value.items() if not isinstance(v, dict)}
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------------
def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def install_signal_handlers() -> dict:
    """SIGINT, SIGTERM and SIGHUP behave like Ctrl-C: the trainer saves a checkpoint before exiting.
    SIGINT is caught even in a background job (where shells ignore it); a SIGHUP that ``nohup`` ignores
    stays ignored. Returns the previous handlers (restored when the experiment ends)."""
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or (name == "SIGHUP" and signal.getsignal(signum) == signal.SIG_IGN):
            continue
        previous[signum] = signal.signal(signum, _interrupt)
    return previous


# ---------------------------------------------------------------------------------------------------
# Data subsets and pair lists (Shukla et al.: 200 / 100 training images chosen by k-medoids)
def subset_root(source_root: Path, names: list[str], target: Path, split: str = "train") -> Path:
    """A dataset folder whose ``split`` holds only ``names`` (symlinks) and whose other entries link to
    the source's, so `semicycle evaluate` can score the runs on any split of the source layout."""
    source_root = Path(source_root).resolve()
    (target / split).mkdir(parents=True, exist_ok=True)
    def link(path: Path, to: Path) -> None:
        if path.is_symlink() and path.resolve() != to.resolve():
            path.unlink()  # stale (the data moved) or pointing elsewhere
        if not path.is_symlink() and not path.exists():
            path.symlink_to(to.resolve())

    for entry in source_root.iterdir():
        if entry.name != split:
            link(target / entry.name, entry)
    wanted = set(names)
    for existing in (target / split).iterdir():
        if existing.name not in wanted:
            existing.unlink()
    for name in names:
        link(target / split / name, source_root / split / name)
    return target


def select(exp: Experiment, data_dir: Path, budget: int, method: str, seed: int, out: Path, what: str) -> list[str]:
    """``semicycle select-pairs`` once (kept in the runs folder); returns the chosen file names."""
    from semicycle.selection import read_name_list, select_pairs

    command = " ".join(["semicycle select-pairs --data", shown(data_dir), command_line(["--budget", budget, "--method", method,
                                                                                      "--seed", seed, "--out", rel(out)])])
    exp.prepared.append({"what": what, "command": command, "file": rel(out)})
    if not out.is_file():
        print(f"[{exp.name}] {what}: {command}", flush=True)
        select_pairs(str(data_dir), budget, method=method, seed=seed, out=str(out), progress=False)
    return read_name_list(out)


def data_root(dataset: str) -> Path:
    from semicycle.data.paths import expand_path

    return Path(expand_path(f"$SEMICYCLE_DATA/{dataset}")).resolve()


# ---------------------------------------------------------------------------------------------------
def parser(description: str, name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="val", help="split of the same dataset layout to evaluate on (default val)")
    p.add_argument("--quick", action="store_true", help="minutes-long smoke version (32 px, ngf 8, 8 images); separate folders")
    p.add_argument("--out", help=f"results folder (default experiments/results/{name}, quick: experiments/results-quick/{name})")
    p.add_argument("--runs-dir", help="root of the run folders (default runs/experiments, quick: runs/experiments-quick)")
    p.add_argument("--only", help="comma-separated run names: train/evaluate only these (the tables still list every run)")
    p.add_argument("--tabulate-only", action="store_true", help="train nothing: evaluate finished runs, write tables and figures")
    p.add_argument("--no-docs", action="store_true", help="do not update this experiment's block in docs/results.md")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra config override for every run (e.g. a fast-path switch); changes the runs' configs")
    return p


def parse(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parse, make the given paths absolute, then work from the repository root (presets read
    $SEMICYCLE_DATA, default ../shared/data, relative to it). Defaults are filled in by Experiment."""
    args = p.parse_args(argv)
    args.out = str(Path(args.out).resolve()) if args.out else None
    args.runs_dir = str(Path(args.runs_dir).resolve()) if args.runs_dir else None
    os.chdir(REPO)
    return args
