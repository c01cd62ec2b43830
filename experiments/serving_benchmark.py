"""docs/serving.md's load table, from the committed benchmarks/results/serve_load.json (benchmarks/serve_load.py
writes it; ``python -m experiments.regenerate_docs`` places the block)."""

from __future__ import annotations

from experiments.records import REPO, read_json

NAME = "serve_load"
RESULTS = REPO / "benchmarks" / "results" / "serve_load.json"


def block() -> str:
    """The measured load test as a table, or a line saying it has not been measured."""
    record = read_json(RESULTS, None)
    if record is None:
        return "Not measured yet: run `python benchmarks/serve_load.py`."
    machine = record["machine"]
    rows = [
        ("raw `Translator` (one image after another, same process)", f"{record['raw_images_per_s']:.2f} images/s"),
        (f"served ({record['requests']} requests, concurrency {record['concurrency']})", f"{record['served_images_per_s']:.2f} images/s"),
        ("served / raw", f"{record['served_over_raw']:.2f}"),
        ("latency p50 / p99", f"{record['latency_p50_s']:.3f} s / {record['latency_p99_s']:.3f} s"),
        ("errors", str(record["errors"])),
        ("server resident memory, after warm-up / after the burst", f"{record['server_rss_mib_before']:.1f} MiB / {record['server_rss_mib_after']:.1f} MiB"),
    ]
    lines = ["| measure | value |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows)]
    return (f"`{record['command']}`, {record['size']} px PNG uploads, the model {record['model']}; {machine['cpu']}, "
            f"{machine['cores']} cores, torch {machine.get('torch', '?')}, measured {record['measured']}.\n\n" + "\n".join(lines))
