"""What the experiment-script tests share (tests/test_experiments*.py): running a script's --quick version in this
process (no second torch start-up) and reading its results folder.

The script tests of one file share their trained runs through that file's ``folders`` (conftest.py): each file is
one pytest-xdist work unit, so the runs one test trains are there for the next. test_experiments.py holds
okada_table1's family (its sweeps, time_to_quality, mondal_table1, pretrained_encoder, unpaired_payoff,
cut_comparison); test_experiments_shukla.py holds shukla_tables' (shukla_supplement, shukla_maps,
label_to_photo_fid, which trains the okada run it also scores where it is missing).
"""

import importlib
import json
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"


def script(name):
    return importlib.import_module(f"experiments.{name}")


def generated_pages() -> dict:
    """Every page that holds generated blocks, with its bytes."""
    pages = [REPO / "README.md", REPO / "docs" / "results.md", *sorted((REPO / "docs" / "reproductions").glob("*.md"))]
    return {page: page.read_bytes() for page in pages}


def run_script(name, folders, *extra, capsys=None):
    """``name``'s --quick version into ``folders``; it must leave the docs pages alone and say it is a smoke version."""
    module = script(name)
    argv = ["--quick", "--runs-dir", str(folders["runs"]), "--out", str(folders["out"] / name), *extra]
    docs_before = generated_pages()
    code = module.main(argv)
    assert generated_pages() == docs_before, f"{name} --quick changed a docs page"
    assert "quick smoke version" in (folders["out"] / name / "results.md").read_text()
    if capsys is None:
        return code, ""
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def run_to_the_end(name, folders, capsys) -> tuple[Path, list[str]]:
    """``run_script`` that must succeed: the script's results folder and its tables' row names."""
    code, output = run_script(name, folders, capsys=capsys)
    assert code == 0, output
    out = folders["out"] / name
    return out, table_rows(out / "results.md")


def table_lines(results_md: Path) -> list[str]:
    """Lines of the result tables (not of the per-run list that follows them)."""
    return [line for line in results_md.read_text().split("\n## Runs")[0].splitlines() if line.startswith("| ")]


def table_rows(results_md: Path) -> list[str]:
    """First cells of the result tables' rows."""
    return [line.split("|")[1].strip() for line in table_lines(results_md) if "---" not in line]


def assert_png(path: Path):
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 100 and image.height > 100


def progress(folders, experiment, run):
    """What the trainer wrote after the run's latest save."""
    return json.loads((folders["runs"] / experiment / run / "ckpt" / "progress.json").read_text())
