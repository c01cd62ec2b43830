"""k-medoids selection as in Shukla et al. 2019: k-means (k = budget) on features, then each cluster's medoid.

k-means: k-means++ seeding from a seeded ``torch.Generator``, then Lloyd iterations, in float64 on the CPU
(a few thousand points: exact and deterministic for a seed); ``n_init`` seedings, the lowest inertia wins.
The medoid of a cluster is the member with the least mean Euclidean distance to the other members.

Identical feature vectors (duplicate images) are merged before clustering and weighted by their count,
so a budget is never spent twice on the same picture; ties go to the earliest image.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class KMedoidsResult:
    """``medoids``: indices into the input rows, one per cluster, ordered by cluster size (largest first).

    ``labels[i]``: the cluster (position in ``medoids``) of row i; ``distances[i]``: Euclidean distance from
    row i to its cluster's medoid; ``sizes[c]``: rows in cluster c; ``inertia``: k-means objective.
    """

    medoids: np.ndarray
    labels: np.ndarray
    distances: np.ndarray
    sizes: np.ndarray
    inertia: float
    distinct: int  # distinct feature vectors in the input


def _sq_dist(x: torch.Tensor, centers: torch.Tensor, x_sq: torch.Tensor | None = None) -> torch.Tensor:
    """Squared Euclidean distances (n, k), float64, never negative; ``x_sq``: precomputed row norms^2."""
    if x_sq is None:
        x_sq = (x * x).sum(1)
    d = torch.addmm(x_sq[:, None] + (centers * centers).sum(1), x, centers.T, alpha=-2.0)
    return d.clamp_min_(0.0)


def kmeans_pp(x: torch.Tensor, weights: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding (D^2 x weight sampling); returns k distinct row indices of ``x``."""
    n = x.shape[0]
    x_sq = (x * x).sum(1)
    first = int(torch.multinomial(weights / weights.sum(), 1, generator=generator))
    chosen = [first]
    closest = _sq_dist(x, x[first : first + 1], x_sq).squeeze(1)
    for _ in range(1, k):
        p = closest * weights
        total = float(p.sum())
        if total <= 0.0:  # fewer distinct points than k (cannot happen after de-duplication): take unused ones
            unused = [i for i in range(n) if i not in set(chosen)]
            nxt = unused[0]
        else:
            nxt = int(torch.multinomial(p / total, 1, generator=generator))
        chosen.append(nxt)
        closest = torch.minimum(closest, _sq_dist(x, x[nxt : nxt + 1], x_sq).squeeze(1))
    return torch.tensor(chosen, dtype=torch.long)


def lloyd(x: torch.Tensor, weights: torch.Tensor, centers: torch.Tensor, max_iter: int = 100) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Weighted Lloyd iterations until the assignment stops changing; empty clusters take the farthest point."""
    k = centers.shape[0]
    x_sq = (x * x).sum(1)
    weighted = x * weights[:, None]
    labels = None
    for _ in range(max_iter):
        d = _sq_dist(x, centers, x_sq)
        new_labels = d.argmin(1)
        counts = torch.bincount(new_labels, weights=weights, minlength=k)
        if (counts == 0).any():
            # move each empty cluster's centre onto the point that is currently worst served
            point_cost = d.gather(1, new_labels[:, None]).squeeze(1) * weights
            taken = set()
            for c in torch.nonzero(counts == 0).flatten().tolist():
                order = torch.argsort(point_cost, descending=True, stable=True).tolist()
                far = next(i for i in order if i not in taken)
                taken.add(far)
                centers[c] = x[far]
                new_labels[far] = c
                point_cost[far] = 0.0
            counts = torch.bincount(new_labels, weights=weights, minlength=k)
        if labels is not None and torch.equal(new_labels, labels):
            break
        labels = new_labels
        sums = torch.nn.functional.one_hot(labels, k).T.to(x.dtype) @ weighted  # (k, d); faster than index_add_
        centers = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1e-300)[:, None], centers)
    d = _sq_dist(x, centers, x_sq)
    labels = d.argmin(1)
    inertia = float((d.gather(1, labels[:, None]).squeeze(1) * weights).sum())
    return labels, centers, inertia


def kmeans(x: torch.Tensor, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100, weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Weighted k-means on the rows of ``x`` (float64): (labels, centers, inertia), best of ``n_init``."""
    x = x.to(torch.float64)
    weights = torch.ones(x.shape[0], dtype=torch.float64) if weights is None else weights.to(torch.float64)
    generator = torch.Generator().manual_seed(int(seed))
    best = None
    for _ in range(max(1, n_init)):
        centers = x[kmeans_pp(x, weights, k, generator)].clone()
        labels, centers, inertia = lloyd(x, weights, centers, max_iter)
        if best is None or inertia < best[2] - 1e-12 * max(1.0, abs(best[2])):
            best = (labels, centers, inertia)
    return best


def medoid(x: torch.Tensor, weights: torch.Tensor) -> int:
    """Position (in ``x``) of the row with the least weighted mean distance to the other rows; ties -> first."""
    total = float(weights.sum())
    if x.shape[0] == 1:
        return 0
    dist = _sq_dist(x, x).sqrt_()
    mean = (dist @ weights) / max(total - 1.0, 1.0)
    return int(torch.nonzero(mean == mean.min())[0])


@contextlib.contextmanager
def _one_thread():
    """Small float64 matrices: one thread is as fast, and many times faster on a busy machine (measured)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def kmedoids(features, k: int, seed: int = 0, n_init: int = 4, max_iter: int = 100) -> KMedoidsResult:
    """Select ``k`` representative rows of ``features`` (N, D): k-means, then the medoid of each cluster.

    Duplicate rows count once (weighted by multiplicity); if ``k`` is at least the number of distinct rows,
    every distinct row is its own cluster (so fewer than ``k`` medoids come back when there are duplicates).
    Runs on one CPU thread (restored afterwards).
    """
    with _one_thread():
        return _kmedoids(features, k, seed, n_init, max_iter)


def _kmedoids(features, k: int, seed: int, n_init: int, max_iter: int) -> KMedoidsResult:
    x_all = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    if x_all.ndim != 2 or x_all.shape[0] == 0:
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {tuple(x_all.shape)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    n = x_all.shape[0]
    # de-duplicate, keeping distinct rows in order of first appearance (ties then favour early images)
    _, inverse = torch.unique(x_all, dim=0, return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), n, dtype=torch.long).scatter_reduce_(0, inverse, torch.arange(n), reduce="amin")
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    row_of = rank[inverse]  # input row -> distinct row
    representative = first[order]  # distinct row -> first input row
    x = x_all[representative]
    weights = torch.bincount(row_of, minlength=x.shape[0]).to(torch.float64)
    m = x.shape[0]

    if k >= m:
        labels_u = torch.arange(m)
        inertia = 0.0
        k = m
    else:
        labels_u, _, inertia = kmeans(x, k, seed=seed, n_init=n_init, max_iter=max_iter, weights=weights)
    medoid_u = []
    for c in range(k):
        members = torch.nonzero(labels_u == c).flatten()
        medoid_u.append(int(members[medoid(x[members], weights[members])]))
    medoid_u = torch.tensor(medoid_u, dtype=torch.long)
    sizes = torch.bincount(labels_u, weights=weights, minlength=k).round().long()

    # order clusters by size (largest first), ties by the medoid's position in the input
    keys = sorted(range(k), key=lambda c: (-int(sizes[c]), int(representative[medoid_u[c]])))
    relabel = torch.empty(k, dtype=torch.long)
    relabel[torch.tensor(keys)] = torch.arange(k)
    medoid_u, sizes = medoid_u[keys], sizes[keys]
    labels = relabel[labels_u][row_of]
    distances = (x_all - x[medoid_u][labels]).norm(dim=1)
    return KMedoidsResult(
        medoids=representative[medoid_u].numpy(),
        labels=labels.numpy(),
        distances=distances.numpy(),
        sizes=sizes.numpy(),
        inertia=float(inertia),
        distinct=m,
    )
