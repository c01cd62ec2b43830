"""Static check: no unused imports, undefined names or shadowed definitions anywhere in the project (pyflakes)."""

import io
from pathlib import Path

from pyflakes.api import checkRecursive
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]


def test_library_experiments_benchmarks_and_tests_are_pyflakes_clean():
    out = io.StringIO()
    problems = checkRecursive([str(ROOT / d) for d in ("src", "experiments", "benchmarks", "tests")], Reporter(out, out))
    assert problems == 0, out.getvalue()
