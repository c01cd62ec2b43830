"""The pair budget: which training samples are paired, and the streams every method draws from.

``pairs.count=N``, ``pairs.rate=0.1`` (Okada's supervised rate) or ``pairs.list=FILE`` choose the
paired rows of a paired dataset; a random choice is seeded. The unpaired streams hold every training
image of each domain (paired ones included unless ``pairs.exclude_from_unpaired``), or take domain B
from another folder (``pairs.unpaired_b_root``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from .batches import Stream
from .domains import TranslationData
from .io import NameList
from .paths import expand_path
from .transforms import sample_seed

if TYPE_CHECKING:
    from ..config import PairsConfig

PAIRS_SEED_STREAM = 7


def pair_count(pairs: PairsConfig, total: int) -> int:
    if pairs.count:
        if pairs.count > total:
            raise ConfigError(f"pairs.count={pairs.count} exceeds the {total} training samples; lower it")
        return pairs.count
    if pairs.rate:
        return max(1, round(pairs.rate * total))
    return 0


def read_pair_list(path: str | Path, data: TranslationData) -> list[int]:
    """Rows named in ``path`` (one file name per line; '#' comments and blank lines ignored)."""
    paths = [Path(p) for p in data.paths_A]
    listed = set(NameList.read(path, "pairs.list").keep(paths, "the training set"))
    return [row for row, p in enumerate(paths) if p in listed]


def choose_pairs(data: TranslationData, pairs: PairsConfig, seed: int) -> list[int]:
    """Sorted rows of ``data`` that are paired ([] when no pair budget is set)."""
    if not (pairs.count or pairs.rate or pairs.list):
        return []
    if not data.paired:
        raise ConfigError("a pair budget needs a paired dataset (data.dataset=aligned, cmp or synthetic), not unaligned folders")
    if pairs.list:
        return read_pair_list(expand_path(pairs.list), data)
    count = pair_count(pairs, len(data.A))
    gen = torch.Generator().manual_seed(sample_seed(seed, PAIRS_SEED_STREAM))
    return sorted(torch.randperm(len(data.A), generator=gen)[:count].tolist())


def pair_names(data: TranslationData, rows: list[int]) -> list[str]:
    return [Path(data.paths_A[r]).name for r in rows]


@dataclass
class TrainingSets:
    """What a method trains on: the data, its paired rows and the two unpaired streams."""

    data: TranslationData
    paired_rows: list[int]
    unpaired_A: Stream
    unpaired_B: Stream

    @property
    def palette(self):
        return self.data.palette


def training_sets(data: TranslationData, pairs: PairsConfig, seed: int, other_B: TranslationData | None = None) -> TrainingSets:
    rows = choose_pairs(data, pairs, seed)
    paired = set(rows) if pairs.exclude_from_unpaired else set()
    keep_A = [i for i in range(len(data.A)) if i not in paired]
    if other_B is not None:
        stream_B = Stream(other_B.B, other_B.labels_B, list(range(len(other_B.B))))
    else:
        stream_B = Stream(data.B, data.labels_B, [i for i in range(len(data.B)) if i not in paired])
    if not keep_A or not stream_B.indices:
        raise ConfigError("no unpaired images left (every sample is paired and pairs.exclude_from_unpaired=true); use the 'paired' method")
    return TrainingSets(data, rows, Stream(data.A, None, keep_A), stream_B)
