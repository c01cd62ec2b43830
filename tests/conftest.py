"""Shared fixtures: the real data sets live in $SEMICYCLE_DATA (default ../shared/data)."""

import os
from pathlib import Path

import pytest

from semicycle.data.synthetic import write_aligned_dataset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Folder of the real data sets; fails (never skips) when it is missing."""
    root = Path(os.environ.get("SEMICYCLE_DATA", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        pytest.fail(
            f"real data not found at {root}; set SEMICYCLE_DATA to the folder that holds "
            f"facades/, cityscapes/, cmp_facade_base/, ... (see shared/data/README.md)"
        )
    return root


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic photo|label dataset (40 train, 8 val, 32 px), one per test module."""
    return write_aligned_dataset(tmp_path_factory.mktemp("synthetic"), n_train=40, n_val=8, size=32)
