"""Every generated block of the documentation pages, from the committed results alone (no run folder is read).

    python -m experiments.regenerate_docs           # rewrite every block (docs/reproductions/*.md, docs/results.md, README.md,
                                                    # docs/serving.md, docs/performance.md)
    python -m experiments.regenerate_docs --check   # write nothing; exit 1 naming each block that differs

Each experiment's block is what its script writes after a run (``--tabulate-only`` gives the same from the run
folders); the verdict's blocks are experiments/verdict.py's; the benchmarks' tables (docs/serving.md,
docs/performance.md) are experiments/benchmark_tables.py's. A test asserts that ``--check`` passes on the committed
pages.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile

from experiments import benchmark_tables, cli, results_page, verdict
from experiments.docs_page import PRINTED_NUMBERS, markers, printed_numbers, read_block, update_docs_section
from experiments.records import read_json

EXPERIMENTS = [  # (script, its arguments): every experiment that has a block on a page
    ("okada_table1", []), ("okada_rate_sweep", []), ("okada_rate_sweep", ["--dataset", "cityscapes"]), ("okada_sweeps", []),
    ("time_to_quality", []), ("mondal_table1", []), ("shukla_tables", []), ("shukla_supplement", []), ("shukla_maps", []),
    ("pretrained_encoder", []), ("unpaired_payoff", []), ("label_to_photo_fid", []), ("cut_comparison", []),
    ("cut_comparison", ["--dataset", "facades"]),
]


def committed_blocks() -> dict[str, tuple[str, str]]:
    """{block name: (the script that writes it, its text)} from experiments/results/*/results.json and papers.json."""
    blocks = {}
    with tempfile.TemporaryDirectory() as no_runs:  # an empty runs folder: every score comes from results.json
        for script, arguments in EXPERIMENTS:
            module = importlib.import_module(f"experiments.{script}")
            exp = cli.build_experiment(module.__doc__, module.NAME, module.build,
                                          [*arguments, "--tabulate-only", "--no-docs", "--runs-dir", no_runs],
                                          getattr(module, "add_arguments", None))
            exp.collect_metrics()
            blocks[exp.name] = (script, results_page.docs_block(exp, results_page.tables_text(exp, module.tabulate)))
    for name, text in verdict.blocks(verdict.summarise()).items():
        blocks[name] = ("verdict", text)
    for name, text in benchmark_tables.blocks().items():
        blocks[name] = ("benchmark_tables", text)
    return blocks


def stale_blocks(blocks: dict[str, tuple[str, str]]) -> list[str]:
    """The names of the blocks whose text on their page, or whose stored numbers (docs_page.PRINTED_NUMBERS), differ
    from ``blocks``."""
    stored = read_json(PRINTED_NUMBERS, {})
    return [name for name, (script, text) in blocks.items()
            if read_block(name, script) != text.strip("\n") or stored.get(name) != printed_numbers(text)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a block differs from its regeneration")
    args = p.parse_args(argv)
    blocks = committed_blocks()
    stale = stale_blocks(blocks)
    if args.check:
        for name in stale:
            print(f"{name}: the page's block differs from its regeneration; run python -m experiments.regenerate_docs", file=sys.stderr)
        return 1 if stale else 0
    for name in stale:
        script, text = blocks[name]
        if not update_docs_section(name, text, script=script):
            raise SystemExit(f"{name}: its page lacks the markers {' / '.join(markers(name, script))}")
        print(f"rewrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
