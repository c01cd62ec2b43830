"""The docs pages' tables of the benchmarks/ scripts, from their committed JSON in benchmarks/results/ (each script
writes its file; ``python -m experiments.regenerate_docs`` places the blocks): docs/serving.md's load test
(benchmarks/serve_load.py), docs/performance.md's CUT step times (benchmarks/cut_speed.py), the bf16 variants'
step times (benchmarks/precision_variants.py) and their quality against fp32 (benchmarks/precision_parity.py)."""

from __future__ import annotations

from experiments.records import REPO, read_json

RESULTS = REPO / "benchmarks" / "results"


def serve_load(record: dict) -> str:
    """The measured load test as a table."""
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


def cut_speed(record: dict) -> str:
    """Each method's median seconds per training step and its ratio to CycleGAN's, per size."""
    machine = record["machine"]
    lines = ["| size | method | s / step (median) | / CycleGAN's step |", "| --- | --- | --- | --- |",
             *(f"| {row['size']} px | {row['method']} | {row['seconds_per_step']:.3f} | {row['over_cyclegan']:.2f} |" for row in record["rows"])]
    return (f"`{record['command']}`: {record['steps']} timed steps per method after {record['warmup']} warm-up steps; "
            f"{machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, torch {machine['torch']}, load average "
            f"{record['load_average_start']} at the start and {record['load_average_end']} at the end, measured {record['measured']}.\n\n"
            + "\n".join(lines))


def precision_variants(record: dict) -> str:
    """Each precision variant's median seconds per CycleGAN step and fp32's over it, per size."""
    machine = record["machine"]
    lines = ["| size | variant | compiled | s / step (median) | speed-up over fp32 |", "| --- | --- | --- | --- | --- |",
             *(f"| {row['size']} px | {row['variant']} | {'yes' if row['compiled'] else 'no'} | {row['seconds_per_step']:.3f} | "
               f"{row['speedup']:.2f}x |" for row in record["rows"])]
    return (f"`{record['command']}`: {record['steps']} timed steps per variant after {record['warmup']} warm-up steps; "
            f"{machine['cpu']} ({machine['capability']}), {machine['cores']} cores, {machine['threads']} threads, torch "
            f"{machine['torch']}, load average {record['load_average_start']} at the start and {record['load_average_end']} "
            f"at the end, measured {record['measured']}.\n\n" + "\n".join(lines))


def precision_parity(record: dict) -> str:
    """Every scored run, then each variant against fp32 per method and metric (mean ± sd over seeds)."""
    runs = sorted(record["runs"].values(), key=lambda r: (r["method"], r["variant"] != "fp32", r["variant"], r["seed"]))
    lines = ["| method | variant | seed | pixel acc | class acc | mIoU | fast inference agreement | images/s (1 thread) | machine |",
             "|" + " --- |" * 9]
    for r in runs:
        m = r["fp32_inference"]
        lines.append(f"| {r['method']} | {r['variant']} | {r['seed']} | {m['pixel_accuracy']:.4f} | {m['mean_class_accuracy']:.4f} | "
                     f"{m['mean_iou']:.4f} | {r['inference_agreement']:.4f} | {r['training']['img_per_s_median']:.2f} | {r['machine']} |")
    lines += ["", "| method | variant | metric | fp32 mean ± sd | variant mean ± sd | difference | within the seed spread |",
              "|" + " --- |" * 7]
    for method, variants in record["parity"].items():
        for variant, metrics in variants.items():
            for metric, p in metrics.items():
                lines.append(f"| {method} | {variant} | {metric} | {p['mean_fp32']:.4f} ± {p['sd_fp32']:.4f} (n={p['n_fp32']}) | "
                             f"{p['mean_variant']:.4f} ± {p['sd_variant']:.4f} (n={p['n_variant']}) | {p['difference']:+.4f} | "
                             f"{'yes' if p['within_spread'] else 'NO'} |")
    return f"`{record['command']}`, written {record['written']}.\n\n" + "\n".join(lines)


BLOCKS = {"serve_load": serve_load, "cut_speed": cut_speed, "precision_variants": precision_variants,
          "precision_parity": precision_parity}  # block name = its benchmark script and JSON file


def blocks() -> dict[str, str]:
    """Every benchmark's block: its table, or a line saying it has not been measured."""
    out = {}
    for name, table in BLOCKS.items():
        record = read_json(RESULTS / f"{name}.json", None)
        out[name] = table(record) if record else f"Not measured yet: run `python benchmarks/{name}.py`."
    return out
