"""Deterministic minibatches from in-memory data: a batch depends only on (seed, epoch, step).

Each epoch shuffles with permutations derived from (seed, epoch, stream), and each sample's crop
and flip from (seed, epoch, slot, stream), so training resumed mid-epoch sees exactly the batches
an uninterrupted run would. Every batch source has ``steps_per_epoch`` and ``batch(epoch, step)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import torch

from .transforms import crop_and_flip, sample_seed, to_float

STREAM_A, STREAM_B, STREAM_PAIRS, STREAM_MIX = 0, 1, 2, 3


@dataclass
class Stream:
    """The rows of one in-memory domain that take part in training."""

    images: torch.Tensor  # (N, 3, S, S) uint8
    labels: torch.Tensor | None  # (N, S, S) uint8 class maps, or None
    indices: list[int]

    def __len__(self) -> int:
        return len(self.indices)


def epoch_permutation(count: int, seed: int, epoch: int, stream: int, repeat: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(sample_seed(seed, epoch, stream, repeat))
    return torch.randperm(count, generator=gen)


def epoch_sequence(count: int, length: int, seed: int, epoch: int, stream: int) -> list[int]:
    """``length`` positions in 0..count-1: fresh permutations back to back (replication)."""
    out: list[int] = []
    repeat = 0
    while len(out) < length:
        out.extend(epoch_permutation(count, seed, epoch, stream, repeat).tolist())
        repeat += 1
    return out[:length]


def gather(images: torch.Tensor, labels: torch.Tensor | None, rows: list[int], seeds: list[int], crop: int, flip: bool):
    """Crop/flip each selected image (and its label map identically) -> float images, long labels."""
    out_images, out_labels = [], []
    for row, seed in zip(rows, seeds):
        parts = [images[row]] + ([labels[row]] if labels is not None else [])
        parts = crop_and_flip(parts, crop, flip, seed)
        out_images.append(parts[0])
        if labels is not None:
            out_labels.append(parts[1])
    batch_labels = torch.stack(out_labels).long() if labels is not None else None
    return to_float(torch.stack(out_images)), batch_labels


class UnpairedBatches:
    """Two independent shuffled streams (A and B); an epoch is max(|A|, |B|) // batch_size steps."""

    def __init__(self, stream_A: Stream, stream_B: Stream, batch_size: int, crop: int, flip: bool, seed: int):
        self.A, self.B = stream_A, stream_B
        self.batch_size, self.crop, self.flip, self.seed = batch_size, crop, flip, seed

    @property
    def steps_per_epoch(self) -> int:
        return max(1, max(len(self.A), len(self.B)) // self.batch_size)

    def draw(self, stream: Stream, code: int, epoch: int, slots: range):
        perm = epoch_permutation(len(stream), self.seed, epoch, code)
        rows = [stream.indices[int(perm[i % len(perm)])] for i in slots]
        seeds = [sample_seed(self.seed, epoch, i, code) for i in slots]
        images, labels = gather(stream.images, stream.labels, rows, seeds, self.crop, self.flip)
        return images, labels, rows

    def batch(self, epoch: int, step: int) -> dict:
        slots = range(step * self.batch_size, (step + 1) * self.batch_size)
        A, _, rows_A = self.draw(self.A, STREAM_A, epoch, slots)
        B, labels_B, rows_B = self.draw(self.B, STREAM_B, epoch, slots)
        batch = {"A": A, "B": B, "rows_A": rows_A, "rows_B": rows_B, "size": len(slots)}
        if labels_B is not None:
            batch["labels_B"] = labels_B
        return batch

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, dict]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)


class PairedBatches:
    """Pairs (A[i], B[i]) with identical crop/flip; ``per_epoch`` items per epoch (default: each
    pair once; more replicates the pairs with fresh shuffles). The last batch may be smaller."""

    def __init__(self, data, rows: list[int], batch_size: int, crop: int, flip: bool, seed: int, per_epoch: int = 0):
        self.data, self.rows = data, rows
        self.batch_size, self.crop, self.flip, self.seed = batch_size, crop, flip, seed
        self.per_epoch = per_epoch or len(rows)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.per_epoch / self.batch_size))

    def items(self, epoch: int, positions: range) -> dict:
        order = epoch_sequence(len(self.rows), self.per_epoch, self.seed, epoch, STREAM_PAIRS)
        rows = [self.rows[order[p]] for p in positions]
        seeds = [sample_seed(self.seed, epoch, p, STREAM_PAIRS) for p in positions]
        data = self.data
        A, _ = gather(data.A, None, rows, seeds, self.crop, self.flip)
        B, labels_B = gather(data.B, data.labels_B, rows, seeds, self.crop, self.flip)
        batch = {"A": A, "B": B, "rows": rows, "size": len(rows)}
        if labels_B is not None:
            batch["labels_B"] = labels_B
        return batch

    def batch(self, epoch: int, step: int) -> dict:
        start = step * self.batch_size
        return self.items(epoch, range(start, min(start + self.batch_size, self.per_epoch)))

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, dict]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)


class JointBatches:
    """An unpaired batch at every step, plus a paired batch at the first ``paired.steps_per_epoch``
    steps of the epoch (Okada's Algorithm 2; with replicated pairs, every step, as Mondal)."""

    def __init__(self, unpaired: UnpairedBatches, paired: PairedBatches):
        self.unpaired, self.paired = unpaired, paired

    @property
    def steps_per_epoch(self) -> int:
        return max(self.unpaired.steps_per_epoch, self.paired.steps_per_epoch)

    def batch(self, epoch: int, step: int) -> dict:
        batch = {"unpaired": self.unpaired.batch(epoch, step % self.unpaired.steps_per_epoch)}
        if step < self.paired.steps_per_epoch:
            batch["paired"] = self.paired.batch(epoch, step)
        batch["size"] = sum(part["size"] for part in batch.values())
        return batch

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, dict]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)


class MixedBatches:
    """One shuffled sequence of unpaired and paired items (Shukla et al. 2019, sec. 4.1.5).

    An epoch holds U = max(|A|, |B|) unpaired items and ``paired.per_epoch`` paired items (U when
    balanced: the pairs replicated; else each pair once). A batch holds ``batch_size`` consecutive items:
    unpaired ones take A and B from independent streams, paired ones take a true pair; the
    boolean ``paired`` marks which rows are pairs.
    """

    def __init__(self, unpaired: UnpairedBatches, paired: PairedBatches, batch_size: int):
        self.unpaired, self.paired, self.batch_size = unpaired, paired, batch_size
        self.unpaired_count = max(len(unpaired.A), len(unpaired.B))
        self.paired_count = paired.per_epoch

    @property
    def steps_per_epoch(self) -> int:
        return max(1, (self.unpaired_count + self.paired_count) // self.batch_size)

    def tokens(self, epoch: int) -> list[tuple[bool, int]]:
        """(is_paired, position in its own stream) for every item of the epoch, shuffled."""
        items = [(False, k) for k in range(self.unpaired_count)] + [(True, k) for k in range(self.paired_count)]
        order = epoch_permutation(len(items), self.unpaired.seed, epoch, STREAM_MIX)
        return [items[int(i)] for i in order]

    def batch(self, epoch: int, step: int) -> dict:
        chosen = self.tokens(epoch)[step * self.batch_size : (step + 1) * self.batch_size]
        parts_A, parts_B, labels, is_paired = [], [], [], []
        for paired, position in chosen:
            if paired:
                part = self.paired.items(epoch, range(position, position + 1))
            else:
                slot = range(position, position + 1)
                A, _, _ = self.unpaired.draw(self.unpaired.A, STREAM_A, epoch, slot)
                B, lab, _ = self.unpaired.draw(self.unpaired.B, STREAM_B, epoch, slot)
                part = {"A": A, "B": B, "labels_B": lab}
            parts_A.append(part["A"])
            parts_B.append(part["B"])
            labels.append(part.get("labels_B"))
            is_paired.append(paired)
        batch = {
            "A": torch.cat(parts_A),
            "B": torch.cat(parts_B),
            "paired": torch.tensor(is_paired),
            "size": len(chosen),
        }
        if all(lab is not None for lab in labels):
            batch["labels_B"] = torch.cat(labels)
        return batch

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, dict]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)
