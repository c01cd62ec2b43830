"""Training and evaluation with several processes (torchrun, gloo on the CPU), tiny networks at 32 px.

Each test launches ``python -m torch.distributed.run ... -m semicycle ...`` in subprocesses, as a user would; a
two-process run that several tests look at is trained once per module (``two_process_run``).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import semicycle
from semicycle import checkpoints
from test_training import assert_states_equal
from tiny_runs import TINY

pytestmark = pytest.mark.distributed

TWO_PROCESS_RUN = ["train.method=cyclegan", "cyclegan.pool_size=2", "train.max_steps=3"]
SRC = str(Path(semicycle.__file__).resolve().parents[1])
# every process one thread: two processes share the 2-core machines without oversubscribing
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
SMALL = [*TINY, "model.ngf=4", "model.ndf=4", "runtime.threads=1", "log.sample_every=0", "log.log_every=1"]
METHODS = {
    "cyclegan": [],
    "okada": ["pairs.count=4"],
    "shukla": ["pairs.count=4", "cyclegan.gan_loss=rasgan"],  # relativistic: its batch means span the processes
    "mondal": ["pairs.count=4"],
    "paired": ["paired.task=segment"],
    # every pixel confident, so every term trains; CutMix partners and dropout differ between the batchings
    "unimatch": ["pairs.count=4", "unimatch.threshold=0", "unimatch.cutmix_prob=0", "unimatch.feature_perturbation=off"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_command(*args: str, processes: int = 2, launcher: tuple = ()) -> list[str]:
    launcher = launcher or (f"--nproc_per_node={processes}", f"--master_port={free_port()}")
    return [sys.executable, "-m", "torch.distributed.run", *launcher, "-m", "semicycle", *args]


def semicycle_run(*args: str, processes: int = 1, launcher: tuple = (), timeout: int = 300) -> subprocess.CompletedProcess:
    command = torchrun_command(*args, processes=processes, launcher=launcher) if processes > 1 or launcher else [
        sys.executable, "-m", "semicycle", *args]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=timeout)


def train(run: Path, root: Path, *overrides: str, processes: int = 1, resume: bool = False) -> dict:
    args = ["train", "--resume", str(run), *overrides] if resume else ["train", "--out", str(run), f"data.root={root}", *SMALL, *overrides]
    done = semicycle_run(*args, processes=processes)
    assert done.returncode == 0, done.stderr[-4000:]
    return checkpoints.load(run / "ckpt")


@pytest.fixture(scope="module")
def two_process_run(synthetic_root, tmp_path_factory) -> Path:
    """A CycleGAN run (pool 2) that two processes on one node stopped after 3 steps (``TWO_PROCESS_RUN``): the run
    that one process continues, that two one-process nodes must reproduce and that one and two processes score.
    Tests copy it before changing it."""
    run = tmp_path_factory.mktemp("two_processes") / "run"
    train(run, synthetic_root, *TWO_PROCESS_RUN, processes=2)
    return run


def assert_same_gradients(one: dict, two: dict) -> None:
    """The optimizers' first moments (after one step: the averaged gradients) agree to rounding: each
    tensor's difference is within 1e-4 of its optimizer's whole gradient (the biases just before an
    instance norm have only rounding noise for a gradient, equally noisy either way)."""
    for name, state in one["optimizers"].items():
        moments = {i: s["exp_avg"] for i, s in state["state"].items()}
        total = torch.sqrt(sum(m.double().pow(2).sum() for m in moments.values()))
        for i, moment in moments.items():
            difference = (two["optimizers"][name]["state"][i]["exp_avg"] - moment).double().norm()
            assert difference <= 1e-4 * total, f"optimizer {name}, tensor {i}: {float(difference / total):.2e} of the gradient"


# Trains each ``sys.argv[1:]`` run (JSON lists of `semicycle` arguments) in turn, in one process or under one torchrun
# launch: the process group joined for the first run serves them all and is left after the last.
SEVERAL_RUNS = """import json, sys
from semicycle.cli import main
from semicycle.runtime.processes import Processes
leave, runs = Processes.close, [json.loads(arg) for arg in sys.argv[1:]]
remaining = [len(runs)]
def close_after_the_last_run(self):
    remaining[0] -= 1
    if remaining[0] == 0:
        leave(self)
Processes.close = close_after_the_last_run
for args in runs:
    if main(args):
        sys.exit(f"run failed: {args}")
"""


def train_several(runs: dict[Path, list[str]], root: Path, tmp_path: Path, processes: int) -> None:
    """Train each run (its folder: its overrides) in turn, in one process or under one torchrun launch (SEVERAL_RUNS)."""
    script = tmp_path / "several_runs.py"
    script.write_text(SEVERAL_RUNS)
    argument_lists = [json.dumps(["train", "--out", str(run), f"data.root={root}", *SMALL, *overrides]) for run, overrides in runs.items()]
    launcher = ["-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}"] if processes > 1 else []
    done = subprocess.run([sys.executable, *launcher, str(script), *argument_lists], env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def one_step_per_method(synthetic_root, tmp_path_factory) -> dict:
    """For each method, its first step (pool off) taken by two processes of batch 1 (one torchrun launch trains
    every method) and by one process of batch 2: ``{method: (one, two)}`` checkpoints."""
    base = tmp_path_factory.mktemp("one_step")
    for processes, batch in ((2, 1), (1, 2)):
        train_several({base / f"{method}_{processes}": [f"train.method={method}", "cyclegan.pool_size=0", "data.palette=synthetic",
                                                         "train.max_steps=1", *METHODS[method], f"train.batch_size={batch}"]
                       for method in sorted(METHODS)}, synthetic_root, base, processes)
    return {method: tuple(checkpoints.load(base / f"{method}_{processes}" / "ckpt") for processes in (1, 2)) for method in METHODS}


@pytest.mark.parametrize("method", sorted(METHODS))
def test_two_processes_of_batch_one_step_as_one_process_of_batch_two(method, one_step_per_method):
    """Gradients averaged over the processes = the gradient of the global batch (pool off, one step; Adam
    turns rounding noise in near-zero gradients into full-size steps, so weights are compared through the
    gradients they were updated with)."""
    one, two = one_step_per_method[method]
    assert two["progress"]["iteration"] == one["progress"]["iteration"] == 1
    assert_same_gradients(one, two)
    assert len(two["ranks"]) == 2 and "ranks" not in one


def test_cut_refuses_several_processes_in_one_line(synthetic_root, tmp_path):
    """CUT's averaged PatchNCE gradients did not match one process's of the same global batch (forward losses do
    match: each rank's is half the batch's); until they do, CUT refuses torchrun rather than train something else."""
    done = semicycle_run("train", "--out", str(tmp_path / "cut"), f"data.root={synthetic_root}", *SMALL, "train.method=cut",
                         "train.max_steps=1", "train.batch_size=1", processes=2)
    assert done.returncode != 0 and "train.method=cut does not train under several processes yet" in done.stderr
    assert not (tmp_path / "cut" / "ckpt" / "latest.pt").exists()


def test_a_stopped_two_process_run_resumes_bitwise_and_only_rank_0_writes(synthetic_root, tmp_path):
    common = ["train.method=okada", "pairs.count=6", "cyclegan.pool_size=3", "train.epochs=2", "log.checkpoint_every=3",
              "log.tensorboard=true"]
    train_several({tmp_path / "straight": common, tmp_path / "stopped": [*common, "train.max_steps=5"]}, synthetic_root, tmp_path, 2)
    straight = checkpoints.load(tmp_path / "straight" / "ckpt")
    resumed = train(tmp_path / "stopped", synthetic_root, "train.max_steps=0", processes=2, resume=True)  # a new launch
    assert straight["progress"]["iteration"] == resumed["progress"]["iteration"] == 2 * 40 // 4
    for part in ("models", "optimizers", "method_state", "ranks"):
        assert_states_equal(straight[part], resumed[part], part)
    # the run folder looks like a one-process run's
    one = tmp_path / "one"
    train(one, synthetic_root, *common)
    files = {run: sorted(re.sub(r"^tb/events\.out\.tfevents\..*", "tb/events", str(p.relative_to(run)))  # time, host, pid
                         for p in run.rglob("*") if p.is_file()) for run in (one, tmp_path / "straight")}
    assert files[one] == files[tmp_path / "straight"] and files[one].count("tb/events") == 1
    logged = (tmp_path / "straight" / "losses.jsonl").read_text().splitlines()
    assert len(logged) == straight["progress"]["iteration"]  # one record per step (log_every 1), from rank 0 only


def test_a_two_process_run_continues_in_one_process_with_one_warning(two_process_run, tmp_path):
    run = shutil.copytree(two_process_run, tmp_path / "run")
    done = semicycle_run("train", "--resume", str(run), "train.max_steps=0")
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if "trained with 2 process(es) and continues with 1" in line]
    assert len(warnings) == 1 and checkpoints.read_progress(run)["finished"]


def test_evaluate_under_two_processes_writes_the_metrics_of_one(two_process_run, tmp_path):
    for processes, out in ((1, tmp_path / "one"), (2, tmp_path / "two")):
        done = semicycle_run("evaluate", str(two_process_run), "--out", str(out), processes=processes)
        assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "two" / "metrics.json").read_text() == (tmp_path / "one" / "metrics.json").read_text()


def test_two_nodes_on_localhost_train_as_two_processes_on_one(two_process_run, synthetic_root, tmp_path):
    one_node = checkpoints.load(two_process_run / "ckpt")
    port = free_port()
    args = ["train", "--out", str(tmp_path / "two_nodes"), f"data.root={synthetic_root}", *SMALL, *TWO_PROCESS_RUN]
    nodes = [subprocess.Popen(torchrun_command(*args, launcher=(
        "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1", "--master_addr=127.0.0.1", f"--master_port={port}")),
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(2)]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(err[-3000:] for _, err in outputs)
    two_nodes = checkpoints.load(tmp_path / "two_nodes" / "ckpt")
    for part in ("models", "optimizers", "ranks"):
        assert_states_equal(one_node[part], two_nodes[part], part)


def test_a_killed_rank_stops_the_other_within_60_s_and_the_run_resumes(synthetic_root, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--out", str(run), f"data.root={synthetic_root}", *SMALL, "train.epochs=20", "log.checkpoint_every=2"]
    job = subprocess.Popen(torchrun_command(*args), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    progress = run / "ckpt" / checkpoints.PROGRESS
    deadline = time.monotonic() + 120
    while not (progress.is_file() and checkpoints.read_progress(run)["iteration"] >= 4):
        assert job.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.2)
    workers = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True).stdout.split()
    assert len(workers) == 2
    os.kill(int(workers[-1]), signal.SIGKILL)
    killed = time.monotonic()
    _, err = job.communicate(timeout=90)
    assert job.returncode != 0 and time.monotonic() - killed < 60, err[-3000:]
    saved = checkpoints.read_progress(run)["iteration"]
    resumed = train(run, synthetic_root, f"train.max_steps={saved + 2}", processes=2, resume=True)
    assert resumed["progress"]["iteration"] == saved + 2


def test_a_process_restarted_by_torchrun_continues_from_the_last_checkpoint(synthetic_root, tmp_path):
    """torchrun --max-restarts starts the same command again with TORCHELASTIC_RESTART_COUNT > 0: it resumes."""
    run = tmp_path / "run"
    args = ["train", "--out", str(run), f"data.root={synthetic_root}", *SMALL, "train.epochs=2"]
    stopped = semicycle_run(*args, "train.max_steps=3")
    assert stopped.returncode == 0 and checkpoints.read_progress(run)["iteration"] == 3
    restarted = subprocess.run([sys.executable, "-m", "semicycle", *args], env={**ENV, "TORCHELASTIC_RESTART_COUNT": "1"},
                               capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert checkpoints.read_progress(run)["finished"]
    again = semicycle_run(*args)  # not a restart: the run folder is refused as before
    assert again.returncode != 0 and "already holds a run" in again.stderr


def test_a_diverging_run_stops_every_process(synthetic_root, tmp_path):
    # the config refuses train.lr=inf, so the schedule's factor makes Adam's step size infinite (as test_divergence)
    script = tmp_path / "diverging.py"
    script.write_text("import math, sys\nfrom semicycle.engine import trainer\n"
                      "trainer.linear_decay = lambda *schedule: lambda epoch: math.inf\n"
                      "from semicycle.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}", str(script),
               "train", "--out", str(tmp_path / "run"), f"data.root={synthetic_root}", *SMALL]
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert done.stderr.count("training diverged: loss 'G_AB_gan' is nan at iteration 2") == 2, done.stderr[-3000:]
