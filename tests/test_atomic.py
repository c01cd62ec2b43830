"""Atomic writes (semicycle.atomic) and the experiments' shared docs page under concurrent writers."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from semicycle.atomic import atomic_write, atomic_write_text
from semicycle.engine.runlog import LossLog

from experiments import common, docs_page, results_page


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "metrics.json", '{"old": 1}')

    def half_then_fail(handle):
        handle.write(b'{"new": ')
        raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError, match="half-way"):
        atomic_write(path, half_then_fail)
    assert path.read_text() == '{"old": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_concurrent_writers_leave_one_whole_version(tmp_path):
    path = tmp_path / "sub" / "results.md"
    versions = [f"version {i}\n" * 20000 for i in range(6)]
    with ThreadPoolExecutor(len(versions)) as pool:
        for future in [pool.submit(atomic_write_text, path, text) for text in versions]:
            future.result()  # a writer's exception fails the test
    assert path.read_text() in versions
    assert [p.name for p in path.parent.iterdir()] == ["results.md"]


def test_fsync_write_and_binary_content(tmp_path):
    path = atomic_write(tmp_path / "a.bin", lambda handle: handle.write(bytes(range(256))), fsync=True)
    assert path.read_bytes() == bytes(range(256))


def test_two_experiments_updating_the_docs_page_at_once_keep_both_blocks(tmp_path, monkeypatch):
    page = tmp_path / "results.md"
    page.write_text("# Results\n\nhand-written intro\n\n" + "\n\nbetween\n\n".join("\n".join(docs_page.markers(n)) for n in ("one", "two")) + "\n\nhand-written end\n")
    slow_write = docs_page.atomic_write_text

    def write_slowly(path, text):  # widens the read-modify-write window that the lock must cover
        time.sleep(0.02)
        return slow_write(path, text)

    monkeypatch.setattr(docs_page, "atomic_write_text", write_slowly)

    def updates(name):
        for i in range(5):
            assert docs_page.update_docs_section(name, f"{name} table, update {i}", page)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(updates, name) for name in ("one", "two")]:
            future.result()
    text = page.read_text()
    assert "one table, update 4" in text and "two table, update 4" in text
    assert text.startswith("# Results\n\nhand-written intro") and text.endswith("hand-written end\n")
    assert "update 3" not in text


def test_two_workers_writing_one_experiments_results_take_turns(tmp_path, monkeypatch):
    inside, overlaps = [], []

    def look_and_write(self, tabulate, figures):  # collect() + writes: must never run twice at once
        if inside:
            overlaps.append(tabulate)
        inside.append(tabulate)
        time.sleep(0.05)
        inside.remove(tabulate)
        return self.out_dir / "results.md"

    monkeypatch.setattr(common.Experiment, "collect_metrics", lambda self: None)
    monkeypatch.setattr(results_page, "write", look_and_write)
    experiment = object.__new__(common.Experiment)
    experiment.out_dir = tmp_path / "results" / "exp"
    with ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(experiment.write_results, worker) for worker in ("w1", "w2", "w3")]:
            assert future.result() == experiment.out_dir / "results.md"
    assert overlaps == []


def test_a_loss_log_line_torn_by_a_kill_is_dropped_on_resume(tmp_path):
    log = LossLog(tmp_path / "losses.jsonl")
    for iteration in (50, 100, 150):
        log.write({"iter": iteration, "loss": 1.0 / iteration})
    with log.path.open("a") as handle:
        handle.write('{"iter": 200, "lo')  # the process died inside this append
    assert [r["iter"] for r in log.read()] == [50, 100, 150]
    log.trim_after(100)  # resuming from the checkpoint at iteration 100
    log.write({"iter": 150, "loss": 0.5})
    assert [r["iter"] for r in log.read()] == [50, 100, 150]
    assert log.path.read_text().endswith('"loss": 0.5}\n')
