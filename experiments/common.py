"""The experiment driver shared by the scripts in experiments/ (issue 7: the papers' tables at CPU scale).

An experiment is named runs (preset + overrides, seed included) and a function turning their metrics into tables and
figures (results_page.py). Each run gets the experiment's iterations (epochs at a constant learning rate, then of linear
decay; planned once by ``semicycle.plan`` into ``RUN/plan.json``), is trained by ``semicycle.train`` (resumed from its
checkpoint) and scored by ``semicycle.evaluate`` into ``RUN/metrics_<split>.json``; runs with scores are skipped. Ctrl-C,
SIGTERM or a hang-up save a checkpoint (the same command continues); a lock per run keeps two processes off it.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported: see README "Measured"

import argparse
import dataclasses
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import yaml

import semicycle
from experiments import results_page
from experiments.cpu_scale import (BOOKKEEPING, QUICK_BOOKKEEPING, QUICK_EVAL_IMAGES, QUICK_ITERATIONS, QUICK_SIZE, SIZE,
                                   cpu_scale_overrides)
from experiments.locks import RunLock, exclusive_lock
from experiments.records import REPO, now, read_json, rel, resolved_paths, runs_relative, scored_by_todays_protocol, write_json
from semicycle import config as cfgmod
from semicycle.checkpoints import read_progress
from semicycle.evaluation import load_metrics

SECOND_SEED = 1  # the second training seed of the rows a conclusion rests on (issue 23)


class ExperimentError(Exception):
    """A run cannot be used as it is; the message says what to do."""


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
        self.name, self.title, self.args, self.decay_fraction = name, title, args, decay_fraction
        self.script, self.script_args = script or name, list(script_args or [])
        self.quick, self.split = args.quick, args.split
        self.iterations, self.size = (QUICK_ITERATIONS, QUICK_SIZE) if self.quick else (iterations, SIZE)
        self.runs_root = Path(args.runs_dir or REPO / "runs" / ("experiments-quick" if self.quick else "experiments")).resolve()
        self.runs_dir = self.runs_root / name
        self.out_dir = Path(args.out or REPO / "experiments" / ("results-quick" if self.quick else "results") / name).resolve()
        self.runs: list[Run] = []
        self.metrics, self.status, self.errors = {}, {}, {}  # by run name: scores, what happened, why it failed
        self.prepared: list[dict] = []  # preparation steps (pair selection) with their commands: see select()

    def add(self, run: Run) -> Run:
        run.run_dir = Path(run.run_dir or self.runs_dir / run.name).resolve()
        # one folder may be two runs only when they score different directions (Shukla's Table 9 scores Table 2's runs B -> A)
        if any(run.name == other.name or (run.run_dir == other.run_dir and (run.direction == "BtoA") == (other.direction == "BtoA"))
               for other in self.runs):
            raise ValueError(f"run {run.name!r} of {self.name}: another run has that name or the folder {run.run_dir}")
        self.runs.append(run)
        return run

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)

    def add_second_seed(self, run: Run, seed: int = SECOND_SEED) -> Run:
        """``run`` (added already) again as ``<name>_seed<seed>`` with ``train.seed=<seed>`` instead of 0 (other weights and
        batches, and another seeded pair choice), in the folder beside its own, ``<folder>_seed<seed>``: a run shared
        with another experiment (Shukla's Table 2 runs) shares that experiment's second seed too."""
        if "train.seed=0" not in run.overrides:
            raise ValueError(f"run {run.name!r} of {self.name}: a second seed replaces its train.seed=0, which it does not set")
        overrides = [f"train.seed={seed}" if item == "train.seed=0" else item for item in run.overrides]
        return self.add(dataclasses.replace(run, name=f"{run.name}_seed{seed}", overrides=overrides,
                                            label=f"{run.label}, seed {seed}", run_dir=run.run_dir.with_name(f"{run.run_dir.name}_seed{seed}")))

    def seeds(self, name: str) -> list[str]:
        """``name`` and its second-seed run when the plan has one (a table cell averages them)."""
        second = f"{name}_seed{SECOND_SEED}"
        return [name] + [second] * any(run.name == second for run in self.runs)

    def base_overrides(self, run: Run) -> list[str]:
        out = cpu_scale_overrides(self.size, self.quick, run.augment) + (QUICK_BOOKKEEPING if self.quick else BOOKKEEPING)
        return out + list(run.overrides) + list(self.args.set or [])

    def eval_overrides(self, run: Run) -> list[str]:
        return list(run.eval_overrides) + ([f"eval.max_images={QUICK_EVAL_IMAGES}"] if self.quick else [])

    def build_config(self, run: Run, schedule: list[str]):
        cfg = cfgmod.apply_overrides(cfgmod.load_preset(run.preset), self.base_overrides(run) + schedule)
        cfg.run_dir = rel(run.run_dir)
        return cfg

    def plan(self, run: Run) -> dict:
        """The run's schedule (epochs), computed once from its steps per epoch (``semicycle.plan``) and stored."""
        path, iterations = run.run_dir / "plan.json", run.iterations or self.iterations
        plan = read_json(path)
        if plan and (plan["iterations_budget"] == iterations or (run.run_dir / "config.yaml").is_file()):
            if plan["iterations_budget"] != iterations:
                raise ExperimentError(f"{rel(path)}: planned for {plan['iterations_budget']} iterations, the script now asks for "
                                      f"{iterations}; restore the script's budget or move the run folder away to start the run again")
            return plan
        one_epoch = semicycle.plan(self.build_config(run, ["train.epochs=1", "train.decay_epochs=0"]))
        steps, fraction = one_epoch.steps_per_epoch, self.decay_fraction if run.decay_fraction is None else run.decay_fraction
        total = max(2, round(iterations / steps))
        decay = min(total - 1, max(1, round(total * fraction)))
        plan = {"iterations_budget": iterations, "steps_per_epoch": steps, "epochs": total - decay, "decay_epochs": decay,
                "iterations": total * steps, "training_samples": one_epoch.training_samples,
                "paired_samples": one_epoch.paired_samples, "planned": now()}
        write_json(path, plan)
        return plan

    def schedule(self, run: Run) -> list[str]:
        return [f"train.{key}={self.plan(run)[key]}" for key in ("epochs", "decay_epochs")]

    def scores_name(self, run: Run) -> str:
        """``<split>``, or ``<split>_BtoA`` for a run scored label -> photo only: two experiments sharing a run (Shukla's
        Tables 2 and 9) may score it in each direction."""
        return f"{self.split}_BtoA" if run.direction == "BtoA" else self.split

    def metrics_for(self, run: Run) -> dict | None:
        """The run's scores on the split (``metrics_<split>.json``, else a plain ``semicycle evaluate RUN``'s ``metrics.json``
        of that split; for a run not on this machine, its recorded scores: ``recorded``), or None while it has none scored by
        today's protocol (so --tabulate-only re-scores it)."""
        plain = [run.run_dir / "metrics.json"] if run.direction != "BtoA" else []
        for path in [run.run_dir / f"metrics_{self.scores_name(run)}.json", *plain]:
            metrics = load_metrics(path) if path.is_file() else None
            if metrics is not None and (path.name != "metrics.json" or metrics.get("split") == self.split):
                return metrics if scored_by_todays_protocol(metrics) else None
        entry = self.recorded(run)
        return entry["metrics"] if entry else None

    def config_changing_set(self) -> list[str]:
        """The --set values that change what a run trains (not train.max_steps, logging, ...)."""
        return [o for o in self.args.set or [] if o.split("=", 1)[0] not in cfgmod.RESUME_NEUTRAL_KEYS]

    def recorded(self, run: Run) -> dict | None:
        """The run's entry in the results folder's ``results.json`` (committed) when the run is not on this machine: run
        folders stay on the machine that trained them, so a table spanning sessions on several machines keeps the
        scores of the runs trained elsewhere. Used only for the configuration the script asks for now (preset,
        overrides with paths in the runs folder compared relative to it, budget, size, split, --set), scored by
        today's protocol, and for a run whose scoring needs no tool run trained here (a facades scorer retrained on
        this machine would score new runs otherwise than the recorded ones: those are trained again). A run shared
        with the experiment whose runs folder holds it, and not yet recorded here, is looked up in that experiment's
        results.json."""
        if read_progress(run.run_dir) is not None or any(read_progress(self.run(n).run_dir) for n in run.needs):
            return None
        saved = read_json(self.out_dir / "results.json", {})
        entry = (saved.get("runs") or {}).get(run.name)
        owner = run.run_dir.parent.name  # the experiment whose runs folder holds the run
        if entry is None and owner != self.name and run.direction != "BtoA":  # shared: the owner's record of its scores
            saved = read_json(self.out_dir.parent / owner / "results.json", {})
            entry = next((e for e in (saved.get("runs") or {}).values() if PurePath(e.get("run_dir", "")).name == run.run_dir.name), None)
        if not entry or not entry.get("finished") or entry.get("metrics") is None or entry.get("error"):
            return None
        scored = (entry.get("split", saved.get("split")), entry.get("set", saved.get("set", [])), saved.get("quick"), saved.get("size"))
        same_setup = scored == (self.split, self.config_changing_set(), self.quick, self.size)
        same_run = (entry.get("preset"), runs_relative(entry.get("overrides") or [], entry.get("run_dir", "")),
                    (entry.get("plan") or {}).get("iterations_budget")) == \
            (run.preset, runs_relative(run.overrides, rel(run.run_dir)), run.iterations or self.iterations)
        return entry if same_setup and same_run and scored_by_todays_protocol(entry["metrics"]) else None

    def is_finished(self, run: Run) -> bool:
        """Finished on this machine (its checkpoints are here)."""
        return bool((read_progress(run.run_dir) or {}).get("finished"))

    def train_seconds(self, run: Run) -> float | None:
        """The finished run's training seconds, from its checkpoint here or its recorded entry."""
        progress = read_progress(run.run_dir) or self.recorded(run) or {}
        return progress.get("train_seconds") if progress.get("finished") else None

    def check_config(self, run: Run) -> None:
        """A run folder that holds another configuration than the script asks for is never reused. Paths name files, not
        spellings: a run trained from a worktree with ``--runs-dir`` in this checkout holds the absolute path of a list
        this checkout asks for by its relative one (``rel``)."""
        saved = run.run_dir / "config.yaml"
        if saved.is_file():
            requested = self.build_config(run, self.schedule(run)).to_dict()
            diffs = cfgmod.resume_differences(resolved_paths(yaml.safe_load(saved.read_text())), resolved_paths(requested))
            if diffs:
                raise ExperimentError(f"{rel(run.run_dir)} holds a run with another configuration ({'; '.join(diffs)}); "
                                      "move it away (or restore the script's settings) and run again")

    def evaluate(self, run: Run) -> dict:
        """Score the run on the split; the scores go to ``RUN/metrics_<scores_name>.json``, the seconds to ``RUN/walltime.json``."""
        print(f"[{self.name}] evaluating {run.name} on {self.split}", flush=True)
        start, overrides = time.perf_counter(), dict(item.split("=", 1) for item in self.eval_overrides(run))
        metrics = semicycle.evaluate(run.run_dir, direction=run.direction, split=self.split,
                                     out_dir=run.run_dir / "eval" / self.scores_name(run), overrides=overrides)
        write_json(run.run_dir / f"metrics_{self.scores_name(run)}.json", metrics)
        wall = read_json(run.run_dir / "walltime.json", {})
        wall.setdefault("eval_seconds", {})[self.scores_name(run)] = round(time.perf_counter() - start, 1)
        write_json(run.run_dir / "walltime.json", wall)
        return metrics

    def ensure(self, run: Run) -> str:
        """Bring one run to 'evaluated on the split' (or 'trained' for tool runs) under its lock; says what happened."""
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
                resume = read_progress(run.run_dir) is not None  # a checkpoint: continue it
                print(f"[{self.name}] {'resuming' if resume else 'training'} {run.name} ({rel(run.run_dir)})", flush=True)
                semicycle.train(self.build_config(run, self.schedule(run)), resume=resume)
                did = "resumed" if resume else "trained"
                if not (progress := read_progress(run.run_dir))["finished"]:  # stopped early (train.max_steps): continue next time
                    return f"{did}, stopped at iteration {progress['iteration']} of {progress['iterations']}"
            if run.evaluate:
                waiting = [n for n in run.needs if not self.is_finished(self.run(n))]
                if waiting:  # e.g. the scorer is still training in another process: score this run next time
                    return f"{did}; evaluation waits for {', '.join(waiting)}"
                self.evaluate(run)
                did = "evaluated" if did == "done" else f"{did}+evaluated"
            return did
        finally:
            lock.release()

    def execute(self, tabulate, figures=None) -> int:
        """Run everything (honouring --only / --tabulate-only), then write the results folder. SIGINT (also in a
        background job), SIGTERM and SIGHUP (unless nohup ignores it) act as Ctrl-C: the trainer saves a checkpoint."""
        only, names = set(self.args.only.split(",")) if self.args.only else set(), [r.name for r in self.runs]
        if only - set(names):
            raise SystemExit(f"--only: no run named {', '.join(sorted(only - set(names)))} in {self.name} (runs: {', '.join(names)})")
        pending = list(only)
        while pending:  # the runs they need come along
            needs = set(self.run(pending.pop()).needs) - only
            only, pending = only | needs, pending + list(needs)
        signals = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]
        previous = {s: signal.signal(s, signal.default_int_handler) for s in signals
                    if s != getattr(signal, "SIGHUP", None) or signal.getsignal(s) != signal.SIG_IGN}
        try:
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
                    self.errors[run.name], self.status[run.name] = f"{type(exc).__name__}: {exc}", "failed"
                    traceback.print_exc()
                print(f"[{self.name}] {run.name}: {self.status[run.name]}", flush=True)
                if "evaluated" in self.status[run.name] and run is not self.runs[-1]:
                    self.write_results(tabulate)  # a new number: the partial tables stay current (figures at the end)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.write_results(tabulate, figures)
        return 1 if self.errors else 0

    def write_results(self, tabulate, figures=None) -> Path:
        """The results folder (results_page.py) from a fresh look at the runs; two workers take turns (a lock)."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.out_dir / ".results.lock"):
            self.collect_metrics()
            return results_page.write(self, tabulate, figures)

    def collect_metrics(self) -> None:
        """``self.metrics`` from a fresh look at the runs (and the recorded scores of those trained elsewhere)."""
        self.metrics = {run.name: self.metrics_for(run) for run in self.runs if run.evaluate}

