"""Deterministic minibatches from in-memory data: a batch depends only on (seed, epoch, step).

Each epoch shuffles with a permutation derived from (seed, epoch, stream), and each sample's crop
and flip from (seed, epoch, step, slot, stream), so training resumed mid-epoch sees exactly the
batches an uninterrupted run would.
"""

from __future__ import annotations

from typing import Iterator

import torch

from .domains import TranslationData
from .transforms import crop_and_flip, sample_seed, to_float

STREAM_A, STREAM_B, STREAM_PAIRS = 0, 1, 2


def epoch_permutation(count: int, seed: int, epoch: int, stream: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(sample_seed(seed, epoch, stream))
    return torch.randperm(count, generator=gen)


def gather(images: torch.Tensor, labels: torch.Tensor | None, indices: list[int], seeds: list[int], crop: int, flip: bool):
    """Crop/flip each selected image (and its label map identically) -> float images, long labels."""
    out_images, out_labels = [], []
    for index, seed in zip(indices, seeds):
        parts = [images[index]] + ([labels[index]] if labels is not None else [])
        parts = crop_and_flip(parts, crop, flip, seed)
        out_images.append(parts[0])
        if labels is not None:
            out_labels.append(parts[1])
    batch_images = to_float(torch.stack(out_images))
    batch_labels = torch.stack(out_labels).long() if labels is not None else None
    return batch_images, batch_labels


class UnpairedBatches:
    """Two independent shuffled streams (A and B); an epoch is max(|A|, |B|) // batch_size steps."""

    def __init__(self, data: TranslationData, batch_size: int, crop: int, flip: bool, seed: int):
        self.data, self.batch_size, self.crop, self.flip, self.seed = data, batch_size, crop, flip, seed

    @property
    def steps_per_epoch(self) -> int:
        return max(1, max(len(self.data.A), len(self.data.B)) // self.batch_size)

    def batch(self, epoch: int, step: int) -> dict:
        data, size = self.data, self.batch_size
        perm_A = epoch_permutation(len(data.A), self.seed, epoch, STREAM_A)
        perm_B = epoch_permutation(len(data.B), self.seed, epoch, STREAM_B)
        slots = range(step * size, (step + 1) * size)
        idx_A = [int(perm_A[i % len(perm_A)]) for i in slots]
        idx_B = [int(perm_B[i % len(perm_B)]) for i in slots]
        seeds_A = [sample_seed(self.seed, epoch, i, STREAM_A) for i in slots]
        seeds_B = [sample_seed(self.seed, epoch, i, STREAM_B) for i in slots]
        A, _ = gather(data.A, None, idx_A, seeds_A, self.crop, self.flip)
        B, labels_B = gather(data.B, data.labels_B, idx_B, seeds_B, self.crop, self.flip)
        batch = {"A": A, "B": B, "index_A": idx_A, "index_B": idx_B}
        if labels_B is not None:
            batch["labels_B"] = labels_B
        return batch

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, dict]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)
