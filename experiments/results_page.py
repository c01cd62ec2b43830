"""An experiment's results page: ``results.md`` (its tables and figures, then every run's status, wall times
and exact commands), ``results.json`` and its block on its docs page (docs_page.PAGES).

A concern of its own beside the driver (common.py, which brings runs to 'evaluated'): this module only
reads what the run folders hold (``ckpt/progress.json``, ``plan.json``, ``walltime.json``) and the
metrics the driver collected, and writes the results folder.
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from pathlib import Path

from experiments.cpu_scale import GENERATOR, QUICK_WIDTH, WIDTH, load_size_for
from experiments.docs_page import PAGES, update_docs_section
from experiments.records import REPO, command_line, now, read_json, rel, scored_by_todays_protocol, write_json
from semicycle.atomic import atomic_write_text
from semicycle.checkpoints import read_progress


def write(exp, tabulate, figures=None) -> Path:
    """Write the results folder from ``exp.metrics`` (collected just before); returns results.md's path."""
    out = exp.out_dir
    try:
        notes = [note for note in (figures(exp) if figures else None) or [] if note.get("file")]
    except Exception:  # a figure must not lose the tables
        traceback.print_exc()
        notes = []
    tables = tables_text(exp, tabulate)
    shown = "".join(f"![{n['caption']}]({n['file']})\n\n*{n['caption']}*\n\n" for n in notes)
    text = f"# {exp.title}\n{header(exp)}{tables}{shown}{runs_section(exp)}"
    for step in exp.prepared:  # the chosen image lists (select-pairs) are part of the result of the experiment that
        # owns their runs folder (shukla_supplement's lists are shukla_tables'): kept once, where select() looks
        if (REPO / step["file"]).is_file():  # (REPO / an absolute path is that path)
            step["kept_in"].parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO / step["file"], step["kept_in"])
    atomic_write_text(out / "results.md", text)
    write_json(out / "results.json", summary(exp, previous=read_json(out / "results.json", {})))
    if not exp.quick and not exp.args.no_docs and exp.name in PAGES:
        update_docs_section(exp.name, docs_block(exp, tables), script=exp.script)
    print(f"[{exp.name}] results: {rel(out / 'results.md')} ({'%d of %d' % completed(exp)} runs evaluated)", flush=True)
    return out / "results.md"


def tables_text(exp, tabulate) -> str:
    """The experiment's tables (``tabulate(exp)``) under a note of the runs not yet scored."""
    return partial_banner(exp) + tabulate(exp) + "\n"


def docs_block(exp, tables: str) -> str:
    """The experiment's block on its documentation page (docs_page.PAGES): its tables and a link to its results page,
    which shows the figures (a page's own text places the figures it discusses)."""
    page_dir = PAGES[exp.name].parent
    link = os.path.relpath(exp.out_dir / "results.md", page_dir)
    return f"{tables}Per-run status, wall times and exact commands: [{rel(exp.out_dir / 'results.md')}]({link}).\n"


def completed(exp) -> tuple[int, int]:
    scored = [run for run in exp.runs if run.evaluate]
    return sum(exp.metrics.get(run.name) is not None for run in scored), len(scored)


def partial_banner(exp) -> str:
    """Empty when every run is scored; else how many are, and of the others those whose recorded scores predate
    today's protocol (trained on another machine, scored with the old label decoding) with their training time: what
    it costs to train them again."""
    done, total = completed(exp)
    if done == total:
        return ""
    earlier = (read_json(exp.out_dir / "results.json", {}).get("runs") or {})
    old = [earlier[run.name] for run in exp.runs if run.evaluate and exp.metrics.get(run.name) is None
           and (earlier.get(run.name) or {}).get("metrics") and not scored_by_todays_protocol(earlier[run.name]["metrics"])]
    text = f"**PARTIAL ({done} of {total} runs)** — rows marked \"not yet run\" have no finished, evaluated run yet."
    if old:
        hours = sum(entry.get("train_seconds") or 0 for entry in old) / 3600
        text += (f" {len(old)} of them were trained on another machine and scored with the old label decoding (void "
                 f"colours counted wrong): not shown; training them again took {hours:.1f} one-worker hours.")
    return text + "\n\n"


def header(exp) -> str:
    command = ["OMP_WAIT_POLICY=PASSIVE", "python", "-m", f"experiments.{exp.script}", *exp.script_args, "--split", exp.split]
    command += ["--quick"] if exp.quick else []
    lines = [
        f"Command: `{command_line(command)}`" + (" (quick smoke version: numbers mean nothing)" if exp.quick else ""),
        f"Configuration: {exp.size} px (resized to {load_size_for(exp.size)}, random crop {exp.size}, flip; unless the runs "
        f"say otherwise), {GENERATOR}, ngf = ndf = {QUICK_WIDTH if exp.quick else WIDTH}, {exp.iterations} iterations per run "
        f"({100 * (1 - exp.decay_fraction):.0f}% constant LR, then linear decay); evaluated on `{exp.split}` at {exp.size} px.",
        f"Runs: `{rel(exp.runs_dir)}` (checkpoints, `ckpt/progress.json`, `plan.json`, `eval/{exp.split}/report.html`).",
    ]
    return "\n".join(lines) + "\n\n"


def run_record(exp, run) -> dict:
    """What the page says about one run, from its folder (or, for a run trained on another machine, from its entry in
    results.json: ``Experiment.recorded``)."""
    entry = exp.recorded(run) if run.evaluate else None
    if entry:
        return {key: entry.get(key) for key in ("plan", "train_seconds", "finished", "eval_seconds")} | {
            "done": (entry.get("plan") or {}).get("iterations", 0),
            "state": "evaluated (recorded: trained on another machine, scores from results.json)"}
    progress, wall = read_progress(run.run_dir) or {}, read_json(run.run_dir / "walltime.json", {})
    seconds = progress.get("train_seconds")
    if seconds is None and progress:  # a checkpoint older than train_seconds: the sessions recorded by earlier versions
        seconds = wall.get("train_seconds")
    earlier = (read_json(exp.out_dir / "results.json", {}).get("runs") or {}).get(run.name) or {}
    if run.name in exp.errors:
        state = f"failed: {exp.errors[run.name]}"
    elif run.evaluate and exp.metrics.get(run.name) is not None:
        state = "evaluated"
    elif progress:
        state = "trained" if progress["finished"] else f"stopped (continues at iteration {progress['iteration']})"
    elif earlier.get("metrics") and not scored_by_todays_protocol(earlier["metrics"]):
        state = "trained on another machine, its recorded scores (results.json) predate today's label decoding: not tabulated"
    else:
        state = "not yet run"
    return {"plan": read_json(run.run_dir / "plan.json"), "done": progress.get("iteration", 0), "state": state,
            "train_seconds": seconds, "finished": bool(progress.get("finished")),
            "eval_seconds": (wall.get("eval_seconds") or {}).get(exp.scores_name(run))}


def runs_section(exp) -> str:
    rows = ["## Runs\n", "| run | what | status | iterations done / planned | train wall time | eval wall time |",
            "| --- | --- | --- | --- | --- | --- |"]
    commands = []
    for run in exp.runs:
        try:
            command = train_command(exp, run)  # plans the run if needed
        except Exception as exc:  # e.g. data missing on this machine: the table must still be written
            command = f"# cannot plan {run.name} here ({exc})"
        commands.append("\n".join([f"# {run.name}: {run.label}", command] + ([evaluate_command(exp, run)] if run.evaluate else [])))
        record = run_record(exp, run)
        planned = f"{record['done']} / {record['plan']['iterations']}" if record["plan"] else "—"
        rows.append(f"| `{run.name}` | {run.label} | {record['state']} | {planned} | {format_duration(record['train_seconds'])} | "
                    f"{format_duration(record['eval_seconds'])} |")
    text = "\n".join(rows) + "\n\n"
    if exp.prepared:
        text += "## Preparation\n\n```bash\n" + "\n".join(p["command"] for p in exp.prepared) + "\n```\n\n"
    return text + ("## Commands (the driver calls the same Python functions; `semicycle train --resume RUN` continues "
                   "an interrupted run)\n\n```bash\n" + "\n\n".join(commands) + "\n```\n")


def train_command(exp, run) -> str:
    """The run's `semicycle train` command; --set values that do not change the result (train.max_steps,
    logging, ...) are left out: they belong to a session, not to the run."""
    neutral = set(exp.args.set or []) - set(exp.config_changing_set())
    overrides = [o for o in exp.base_overrides(run) + exp.schedule(run) if o not in neutral]
    return command_line(["semicycle", "train", "--preset", run.preset, "--out", rel(run.run_dir), *overrides])


def evaluate_command(exp, run) -> str:
    direction = ["--direction", run.direction] if run.direction else []
    return command_line(["semicycle", "evaluate", rel(run.run_dir), "--split", exp.split, *direction,
                         "--out", rel(run.run_dir / "eval" / exp.scores_name(run)), *exp.eval_overrides(run)])


def summary(exp, previous: dict | None = None) -> dict:
    """results.json; its "written" time changes only with its content (a worker passing by rewrites nothing). A run
    trained on another machine whose scores do not serve this call (another split or --set) keeps its entry: it is
    the only record of those scores."""
    runs, earlier = {}, (previous or {}).get("runs") or {}
    for run in exp.runs:
        record = {k: v for k, v in run_record(exp, run).items() if k not in ("done", "state")}
        kept = earlier.get(run.name) or {}
        if exp.metrics.get(run.name) is None and kept.get("metrics") is not None and read_progress(run.run_dir) is None:
            runs[run.name] = kept | {"split": kept.get("split", previous.get("split")), "set": kept.get("set", previous.get("set", []))}
            continue
        runs[run.name] = {"label": run.label, "run_dir": rel(run.run_dir), "preset": run.preset, "overrides": run.overrides,
                          **record, "split": exp.split, "set": exp.config_changing_set(),
                          "metrics": headline(exp.metrics.get(run.name)), "error": exp.errors.get(run.name)}
    done, total = completed(exp)
    result = json.loads(json.dumps({"experiment": exp.name, "split": exp.split, "quick": exp.quick, "size": exp.size,
                                    "iterations": exp.iterations, "evaluated": done, "runs_total": total, "runs": runs}))
    unchanged = previous is not None and "written" in previous and result == {k: v for k, v in previous.items() if k != "written"}
    return {**result, "written": previous["written"] if unchanged else now()}


def headline(metrics: dict | None) -> dict | None:
    """The numbers the tables use: the scalars and the per-class IoU (shukla_tables' class-group table), without the
    other per-class details."""
    def flat(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if not isinstance(v, dict) or k == "per_class_iou"}

    if metrics is None:
        return None
    return {key: ({name: flat(s) for name, s in value.items() if isinstance(s, dict)} if key == "label_to_photo" else flat(value))
            if isinstance(value, dict) else value for key, value in metrics.items()}


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
