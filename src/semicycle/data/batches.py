"""Deterministic minibatches from in-memory data: a batch depends only on (seed, epoch, step).

Each epoch shuffles with permutations derived from (seed, epoch, stream), and each sample's crop
and flip from (seed, epoch, slot, stream), so training resumed mid-epoch sees exactly the batches
an uninterrupted run would. Every batch source has ``steps_per_epoch`` and ``batch(epoch, step)``,
which returns a :class:`Batch` (the one contract between batch sources and methods).

Processes: a source built with ``rank`` and ``world_size`` returns rank's share of the global batch
(``world_size * batch_size`` items, cut in contiguous blocks), so the ranks together see exactly what
one process with the global batch size sees. A short last batch (of pairs) is shared evenly, and one with
fewer items than processes is padded by repeating items: there the processes weight the items
differently from one process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import torch

from .augment import cutmix_box, photometric, scale_crop_flip
from .transforms import crop_and_flip, sample_seed, to_float

STREAM_A, STREAM_B, STREAM_PAIRS, STREAM_MIX, STREAM_STRONG, STREAM_JITTER = 0, 1, 2, 3, 4, 5


@dataclass
class Images:
    """A minibatch of domain-A and domain-B images; row i of A and B is a true pair where ``is_pair[i]``."""

    A: torch.Tensor  # (n, 3, S, S) float in [-1, 1]
    B: torch.Tensor  # (n, 3, S, S) float in [-1, 1]: photos, or label maps in their palette's colours
    labels_B: torch.Tensor | None  # (n, S, S) long class indices of B (the palette's ignore index = void), or None
    is_pair: torch.Tensor  # (n,) bool
    rows_A: list[int] = field(default_factory=list)  # the dataset rows drawn (for tests and diagnostics)
    rows_B: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.A)

    def to(self, put: Callable[[torch.Tensor], torch.Tensor]) -> Images:
        """The same minibatch with every tensor passed through ``put`` (e.g. ``Runtime.put``)."""
        labels = put(self.labels_B) if self.labels_B is not None else None
        return replace(self, A=put(self.A), B=put(self.B), labels_B=labels, is_pair=put(self.is_pair))


@dataclass
class Batch:
    """What a method's ``train_step`` gets at one step.

    ``images``: the step's main minibatch: unpaired A and B (CycleGAN), or a shuffled mix of unpaired and
    paired rows (Shukla; ``is_pair`` marks the pairs). ``pairs``: a paired minibatch (Okada's and Mondal's
    supervised batch, present at the steps their schedules give it; the paired method's only one).
    ``strong``: strongly augmented copies of ``images.A`` (same geometry), one (n, 3, S, S) tensor per view,
    and ``boxes``: a CutMix box (n, S, S) bool per view (UniMatch; :class:`StrongViewBatches`).
    """

    images: Images | None = None
    pairs: Images | None = None
    strong: tuple[torch.Tensor, ...] = ()
    boxes: tuple[torch.Tensor, ...] = ()

    @property
    def size(self) -> int:
        """Images of each domain in the step (for throughput)."""
        return sum(len(part) for part in (self.images, self.pairs) if part is not None)

    def to(self, put: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        images, pairs = (part.to(put) if part is not None else None for part in (self.images, self.pairs))
        return Batch(images, pairs, tuple(map(put, self.strong)), tuple(map(put, self.boxes)))


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


def gather_strong(data, rows: list[int], seeds: list[int], crop: int, flip: bool):
    """Pairs under the standard segmentation augmentation: one random scale-and-crop and flip of photo, label
    rendering and label map together (label maps nearest neighbour), then colour jitter of the photo alone.
    Returns float A, float B and long labels (or None)."""
    labels = data.labels_B
    A, B, label_maps = [], [], []
    for row, seed in zip(rows, seeds):
        parts = [data.A[row], data.B[row]] + ([labels[row]] if labels is not None else [])
        parts = scale_crop_flip(parts, [True, labels is None, False], crop, flip, seed)
        jitter = torch.Generator().manual_seed(sample_seed(seed, STREAM_JITTER))
        A.append(photometric(to_float(parts[0]), jitter, grayscale_prob=0.0, blur_prob=0.0))
        B.append(parts[1])
        label_maps.extend(parts[2:])
    return torch.stack(A), to_float(torch.stack(B)), torch.stack(label_maps).long() if labels is not None else None


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


class BatchSource:
    """Common part of the batch sources: the epoch's batches from a step on, and the rank's share."""

    steps_per_epoch: int
    batch_size: int  # per process
    rank: int = 0
    world_size: int = 1

    def batch(self, epoch: int, step: int) -> Batch:
        raise NotImplementedError

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[int, Batch]]:
        for step in range(start_step, self.steps_per_epoch):
            yield step, self.batch(epoch, step)

    def shard(self, positions: range) -> range:
        """Rank's contiguous block of a global batch's positions: ``batch_size`` of them, or of a short last
        batch an even share; a batch with fewer items than processes gives each process one item, repeating
        some (no process may step without a batch)."""
        count, world, rank = len(positions), self.world_size, self.rank
        if count >= world:
            return positions[rank * count // world : (rank + 1) * count // world]
        return positions[rank % count : rank % count + 1]


class UnpairedBatches(BatchSource):
    """Two independent shuffled streams (A and B); an epoch is max(|A|, |B|) // global batch steps."""

    def __init__(self, stream_A: Stream, stream_B: Stream, batch_size: int, crop: int, flip: bool, seed: int,
                 rank: int = 0, world_size: int = 1):
        self.A, self.B = stream_A, stream_B
        self.batch_size, self.crop, self.flip, self.seed = batch_size, crop, flip, seed
        self.rank, self.world_size = rank, world_size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, max(len(self.A), len(self.B)) // (self.batch_size * self.world_size))

    def slots(self, step: int) -> range:
        """This rank's positions in the epoch's streams at ``step``."""
        size = self.batch_size * self.world_size
        return self.shard(range(step * size, (step + 1) * size))

    def draw(self, stream: Stream, code: int, epoch: int, slots: range):
        perm = epoch_permutation(len(stream), self.seed, epoch, code)
        rows = [stream.indices[int(perm[i % len(perm)])] for i in slots]
        seeds = [sample_seed(self.seed, epoch, i, code) for i in slots]
        images, labels = gather(stream.images, stream.labels, rows, seeds, self.crop, self.flip)
        return images, labels, rows

    def images(self, epoch: int, step: int) -> Images:
        slots = self.slots(step)
        A, _, rows_A = self.draw(self.A, STREAM_A, epoch, slots)
        B, labels_B, rows_B = self.draw(self.B, STREAM_B, epoch, slots)
        return Images(A, B, labels_B, torch.zeros(len(slots), dtype=torch.bool), rows_A, rows_B)

    def batch(self, epoch: int, step: int) -> Batch:
        return Batch(images=self.images(epoch, step))


class PairedBatches(BatchSource):
    """Pairs (A[i], B[i]) with identical crop/flip; ``per_epoch`` items per epoch (default: each
    pair once; more replicates the pairs with fresh shuffles). The last batch may be smaller.
    ``augment="strong"``: random scale-and-crop, flip and the photo's colour jitter (:func:`gather_strong`)."""

    def __init__(self, data, rows: list[int], batch_size: int, crop: int, flip: bool, seed: int, per_epoch: int = 0,
                 rank: int = 0, world_size: int = 1, augment: str = "none"):
        self.data, self.rows = data, rows
        self.batch_size, self.crop, self.flip, self.seed, self.augment = batch_size, crop, flip, seed, augment
        self.per_epoch = per_epoch or len(rows)
        self.rank, self.world_size = rank, world_size

    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(self.per_epoch / (self.batch_size * self.world_size)))

    def items(self, epoch: int, positions: range) -> Images:
        order = epoch_sequence(len(self.rows), self.per_epoch, self.seed, epoch, STREAM_PAIRS)
        rows = [self.rows[order[p]] for p in positions]
        seeds = [sample_seed(self.seed, epoch, p, STREAM_PAIRS) for p in positions]
        data = self.data
        if self.augment == "strong":
            A, B, labels_B = gather_strong(data, rows, seeds, self.crop, self.flip)
        else:
            A, _ = gather(data.A, None, rows, seeds, self.crop, self.flip)
            B, labels_B = gather(data.B, data.labels_B, rows, seeds, self.crop, self.flip)
        return Images(A, B, labels_B, torch.ones(len(rows), dtype=torch.bool), rows, rows)

    def images(self, epoch: int, step: int) -> Images:
        start = step * self.batch_size * self.world_size
        return self.items(epoch, self.shard(range(start, min(start + self.batch_size * self.world_size, self.per_epoch))))

    def batch(self, epoch: int, step: int) -> Batch:
        return Batch(pairs=self.images(epoch, step))


class JointBatches(BatchSource):
    """An unpaired batch at every step, plus a paired batch at the first ``paired.steps_per_epoch``
    steps of the epoch (Okada's Algorithm 2; with replicated pairs, every step, as Mondal)."""

    def __init__(self, unpaired: UnpairedBatches, paired: PairedBatches):
        self.unpaired, self.paired = unpaired, paired
        self.batch_size, self.rank, self.world_size = unpaired.batch_size, unpaired.rank, unpaired.world_size

    @property
    def steps_per_epoch(self) -> int:
        return max(self.unpaired.steps_per_epoch, self.paired.steps_per_epoch)

    def batch(self, epoch: int, step: int) -> Batch:
        pairs = self.paired.images(epoch, step) if step < self.paired.steps_per_epoch else None
        return Batch(images=self.unpaired.images(epoch, step % self.unpaired.steps_per_epoch), pairs=pairs)


class StrongViewBatches(BatchSource):
    """A :class:`JointBatches` step (the unlabelled photos' weak view, crop and flip, in ``images.A``; the pairs in
    ``pairs``) with ``views`` strong views of the unlabelled photos (:func:`~semicycle.data.augment.photometric`)
    and a CutMix box for each (probability ``cutmix_prob``), drawn per sample from (seed, epoch, slot, view):
    UniMatch's dual-stream input (Yang et al. 2023, sec. 3.3)."""

    def __init__(self, joint: JointBatches, views: int, cutmix_prob: float):
        self.joint, self.views, self.cutmix_prob = joint, views, cutmix_prob
        self.batch_size, self.rank, self.world_size = joint.batch_size, joint.rank, joint.world_size

    @property
    def steps_per_epoch(self) -> int:
        return self.joint.steps_per_epoch

    def batch(self, epoch: int, step: int) -> Batch:
        batch = self.joint.batch(epoch, step)
        unpaired = self.joint.unpaired
        slots = unpaired.slots(step % unpaired.steps_per_epoch)
        size = batch.images.A.shape[-1]
        strong, boxes = [], []
        for view in range(self.views):
            gens = [torch.Generator().manual_seed(sample_seed(unpaired.seed, epoch, slot, STREAM_STRONG, view)) for slot in slots]
            strong.append(torch.stack([photometric(image, gen) for image, gen in zip(batch.images.A, gens)]))
            boxes.append(torch.stack([cutmix_box(size, size, gen, self.cutmix_prob) for gen in gens]))
        return replace(batch, strong=tuple(strong), boxes=tuple(boxes))


class MixedBatches(BatchSource):
    """One shuffled sequence of unpaired and paired items (Shukla et al. 2019, sec. 4.1.5).

    An epoch holds U = max(|A|, |B|) unpaired items and ``paired.per_epoch`` paired items (U when
    balanced: the pairs replicated; else each pair once). A batch holds ``batch_size`` consecutive items:
    unpaired ones take A and B from independent streams, paired ones take a true pair; ``is_pair``
    marks which rows are pairs.
    """

    def __init__(self, unpaired: UnpairedBatches, paired: PairedBatches, batch_size: int):
        self.unpaired, self.paired, self.batch_size = unpaired, paired, batch_size
        self.rank, self.world_size = unpaired.rank, unpaired.world_size
        self.unpaired_count = max(len(unpaired.A), len(unpaired.B))
        self.paired_count = paired.per_epoch

    @property
    def steps_per_epoch(self) -> int:
        return max(1, (self.unpaired_count + self.paired_count) // (self.batch_size * self.world_size))

    def tokens(self, epoch: int) -> list[tuple[bool, int]]:
        """(is_paired, position in its own stream) for every item of the epoch, shuffled."""
        items = [(False, k) for k in range(self.unpaired_count)] + [(True, k) for k in range(self.paired_count)]
        order = epoch_permutation(len(items), self.unpaired.seed, epoch, STREAM_MIX)
        return [items[int(i)] for i in order]

    def batch(self, epoch: int, step: int) -> Batch:
        size = self.batch_size * self.world_size
        tokens = self.tokens(epoch)
        parts = []
        for i in self.shard(range(step * size, (step + 1) * size)):
            paired, position = tokens[i]
            slot = range(position, position + 1)
            if paired:
                parts.append(self.paired.items(epoch, slot))
            else:
                A, _, rows_A = self.unpaired.draw(self.unpaired.A, STREAM_A, epoch, slot)
                B, labels_B, rows_B = self.unpaired.draw(self.unpaired.B, STREAM_B, epoch, slot)
                parts.append(Images(A, B, labels_B, torch.zeros(1, dtype=torch.bool), rows_A, rows_B))
        labels = [part.labels_B for part in parts]
        return Batch(images=Images(
            A=torch.cat([part.A for part in parts]), B=torch.cat([part.B for part in parts]),
            labels_B=torch.cat(labels) if all(lab is not None for lab in labels) else None,
            is_pair=torch.cat([part.is_pair for part in parts]),
            rows_A=[r for part in parts for r in part.rows_A], rows_B=[r for part in parts for r in part.rows_B],
        ))
