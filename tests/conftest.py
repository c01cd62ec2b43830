"""Shared fixtures: the real data sets live in $SEMICYCLE_DATA (default ../shared/data)."""

import os
from pathlib import Path

import pytest
import torch

from semicycle.data.io import list_images, load_rgb, split_side_by_side
from semicycle.data.synthetic import write_aligned_dataset
from semicycle.models import create_generator, list_generators
from semicycle.runtime import devices

REPO = Path(__file__).resolve().parents[1]
# The slowest test files, slowest first: ``pytest -n N --dist loadfile`` (make test) starts them first, the rest
# follow in file order (``pytest_collection_modifyitems``).
SLOWEST_FIRST = ("tests/test_experiments.py", "tests/test_experiments_shukla.py", "tests/test_distributed.py",
                 "tests/test_export.py", "tests/test_methods.py", "tests/test_espnet.py")


def pytest_configure(config):
    """Under ``pytest -n N`` (pytest-xdist) the N workers share the cores: each one's torch threads, and those of the
    processes its tests start, get ``cores // N``."""
    if missing := [path for path in SLOWEST_FIRST if not (REPO / path).is_file()]:
        raise pytest.UsageError(f"tests/conftest.py SLOWEST_FIRST names no such file: {', '.join(missing)}")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, devices.available_cores() // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def pytest_collection_modifyitems(items):
    """The files of ``SLOWEST_FIRST`` first (a stable sort: each file's tests keep their order)."""
    def rank(item):
        path = item.nodeid.split("::")[0]
        return SLOWEST_FIRST.index(path) if path in SLOWEST_FIRST else len(SLOWEST_FIRST)

    items.sort(key=rank)
# generators on a pretrained ImageNet encoder take photos (RGB), never label maps: derived from the registry
RGB_INPUT_ONLY = {name for name in list_generators() if getattr(create_generator(name, ngf=8), "pretrained_encoder", None)}


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


def synthetic_dataset(tmp_path_factory, n_train: int, n_val: int) -> Path:
    """A new synthetic photo|label dataset of 32 px images with ``n_train`` train and ``n_val`` val pairs."""
    return write_aligned_dataset(tmp_path_factory.mktemp("synthetic"), n_train=n_train, n_val=n_val, size=32)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """A small synthetic photo|label dataset (40 train, 8 val, 32 px), one per test module."""
    return synthetic_dataset(tmp_path_factory, n_train=40, n_val=8)


@pytest.fixture(scope="module")
def folders(tmp_path_factory, data_root) -> dict:
    """The runs and results folders an experiment-script test file's tests share (tests/experiment_scripts.py)."""
    base = tmp_path_factory.mktemp("experiments")
    return {"runs": base / "runs", "out": base / "out"}


def read_halves(source, count: int | None = None, side: str | None = None) -> list:
    """The A|B images of ``source`` split into their halves.

    ``source`` is a folder (its images in ``list_images`` order) or a list of image paths; only the first
    ``count`` are read when it is given. Returns ``(photo, label)`` pairs of HxWx3 uint8 arrays, or only the
    ``side`` ("photo" or "label") of each.
    """
    paths = list_images(source) if isinstance(source, (str, os.PathLike)) else list(source)
    halves = [split_side_by_side(load_rgb(path)[0], path) for path in paths[:count]]
    if side is None:
        return halves
    index = {"photo": 0, "label": 1}[side]
    return [pair[index] for pair in halves]


def as_batch(arrays) -> torch.Tensor:
    """HxWx3 uint8 arrays as one Nx3xHxW uint8 tensor."""
    return torch.stack([torch.from_numpy(a).permute(2, 0, 1) for a in arrays])


@pytest.fixture(autouse=True)
def cpu_without_bf16(monkeypatch):
    """Every test sees a CPU without bf16 instructions, whatever this machine has: ``precision=auto``
    resolves to fp32 on AVX2 and AVX512-BF16/AMX machines alike. Tests about precision fake other CPUs
    with ``monkeypatch.setattr(devices, "cpu_hardware_bf16", lambda: True)``."""
    monkeypatch.setattr(devices, "cpu_hardware_bf16", lambda: False)
