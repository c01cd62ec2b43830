"""Shared fixtures: the real data sets live in $SEMICYCLE_DATA (default ../shared/data)."""

import os
from pathlib import Path

import pytest

from semicycle.data.synthetic import write_aligned_dataset
from semicycle import runtime as device

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


@pytest.fixture(autouse=True)
def cpu_without_bf16(monkeypatch):
    """Every test sees a CPU without bf16 instructions, whatever this machine has: ``precision=auto``
    resolves to fp32 on AVX2 and AVX512-BF16/AMX machines alike. Tests about precision fake other CPUs
    with ``monkeypatch.setattr(device, "cpu_hardware_bf16", lambda: True)``."""
    monkeypatch.setattr(device, "cpu_hardware_bf16", lambda: False)
