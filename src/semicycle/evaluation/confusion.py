"""Segmentation scores from a confusion matrix accumulated over a whole split.

The definitions are the FCN-score ones (Long et al. 2015, as written in Okada et al. 2019,
section 4), with ``n_ij`` the number of pixels of ground-truth class ``i`` predicted as class
``j`` and ``t_i = sum_j n_ij`` the number of ground-truth pixels of class ``i``:

* pixel accuracy        ``sum_i n_ii / sum_i t_i``
* mean class accuracy   ``(1/n_cl) sum_i n_ii / t_i``
* mean IoU              ``(1/n_cl) sum_i n_ii / (t_i + sum_j n_ji - n_ii)``

``n_cl`` is the number of classes *present in the ground truth* (``t_i > 0``) of the pixels
seen so far. Counts are summed over every image before any ratio is taken (no per-image
averaging). Conventions:

* Ground-truth pixels equal to ``ignore_index`` are skipped entirely.
* A prediction that is not a class (``ignore_index``, e.g. a segmenter's "void" output, or any
  value outside ``0..num_classes-1``) on a valid ground-truth pixel is kept apart in
  :attr:`ConfusionMatrix.unassigned`. With ``void_predictions="wrong"`` (the default) it counts
  as an error: it adds to ``t_i`` but to no ``n_ij``. With ``"skip"`` the pixel is left out of
  every score, as when one keeps the ``K x K`` block of a ``(K+1) x (K+1)`` matrix whose extra
  class is void (the FCN-score protocol of :mod:`semicycle.evaluation.fcn`). Either way
  :meth:`ConfusionMatrix.result` reports the fraction of such pixels.
* A class absent from the ground truth has no accuracy and no IoU: :meth:`per_class_iou` and
  :meth:`per_class_accuracy` give ``NaN`` for it (``None`` in :meth:`result`, so the dict is
  valid JSON), and it does not count in the means. Its false positives still lower the IoU of
  the true classes of those pixels (through ``t_i - n_ii``).
"""

from __future__ import annotations

import math

import torch


class ConfusionMatrix:
    """Counts (ground truth, prediction) pairs of a segmentation over many batches.

    ``class_names`` name the per-class scores of :meth:`result` (default: ``"0"``, ``"1"``, ...).
    """

    def __init__(
        self, num_classes: int, ignore_index: int = 255, void_predictions: str = "wrong", class_names=None
    ) -> None:
        if void_predictions not in ("wrong", "skip"):
            raise ValueError(f"void_predictions must be 'wrong' or 'skip', got {void_predictions!r}")
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(
                f"ignore_index {ignore_index} is a class index; use a value outside "
                f"0..{num_classes - 1} (e.g. 255)"
            )
        class_names = [str(i) for i in range(num_classes)] if class_names is None else list(class_names)
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names given for {num_classes} classes")
        self.num_classes = num_classes
        self.class_names = class_names
        self.ignore_index = ignore_index
        self.void_predictions = void_predictions
        self.reset()

    def reset(self) -> None:
        """Forget every pixel seen so far."""
        k = self.num_classes
        #: ``matrix[i, j]``: pixels of ground-truth class i predicted as class j (int64, CPU).
        self.matrix = torch.zeros(k, k, dtype=torch.long)
        #: ``unassigned[i]``: pixels of ground-truth class i predicted as no class.
        self.unassigned = torch.zeros(k, dtype=torch.long)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> "ConfusionMatrix":
        """Add a batch: integer tensors of the same shape (any shape, any device)."""
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction shape {tuple(pred.shape)} differs from target shape "
                f"{tuple(target.shape)}; resize predictions to the label resolution first"
            )
        if pred.is_floating_point() or target.is_floating_point():
            raise TypeError(
                f"expected integer class maps, got {pred.dtype} and {target.dtype} "
                "(take argmax over the class dimension first)"
            )
        k = self.num_classes
        target = target.reshape(-1).long()
        pred = pred.reshape(-1).long()
        valid = target != self.ignore_index
        target, pred = target[valid], pred[valid]
        if target.numel() == 0:
            return self
        low, high = int(target.min()), int(target.max())
        if low < 0 or high >= k:
            raise ValueError(
                f"target holds values {low}..{high}; expected classes 0..{k - 1} or the "
                f"ignore index {self.ignore_index}"
            )
        # Predictions that are no class go to an extra column k.
        pred = torch.where((pred >= 0) & (pred < k), pred, k)
        counts = torch.bincount(target * (k + 1) + pred, minlength=k * (k + 1))
        counts = counts.reshape(k, k + 1).cpu()
        self.matrix += counts[:, :k]
        self.unassigned += counts[:, k]
        return self

    def merge(self, other: "ConfusionMatrix") -> "ConfusionMatrix":
        """Add the counts of another matrix with the same classes (e.g. from another worker), in place."""
        if (other.num_classes, other.class_names, other.ignore_index, other.void_predictions) != (
            self.num_classes, self.class_names, self.ignore_index, self.void_predictions
        ):
            raise ValueError("cannot merge confusion matrices with different classes")
        self.matrix += other.matrix
        self.unassigned += other.unassigned
        return self

    # ----------------------------------------------------------------------------- counts
    @property
    def gt_totals(self) -> torch.Tensor:
        """``t_i``: scored ground-truth pixels of each class (long, (K,))."""
        totals = self.matrix.sum(dim=1)
        return totals + self.unassigned if self.void_predictions == "wrong" else totals

    @property
    def unassigned_fraction(self) -> float:
        """Fraction of valid ground-truth pixels whose prediction was no class."""
        seen = int(self.matrix.sum()) + int(self.unassigned.sum())
        return int(self.unassigned.sum()) / seen if seen else math.nan

    @property
    def present(self) -> torch.Tensor:
        """Boolean mask of the classes present in the ground truth."""
        return self.gt_totals > 0

    @property
    def num_pixels(self) -> int:
        """Valid (non-ignore) ground-truth pixels seen."""
        return int(self.gt_totals.sum())

    # ----------------------------------------------------------------------------- scores
    def pixel_accuracy(self) -> float:
        """``sum n_ii / sum t_i``; NaN before any valid pixel."""
        total = self.num_pixels
        return float(self.matrix.diagonal().sum()) / total if total else math.nan

    def per_class_accuracy(self) -> list[float]:
        """``n_ii / t_i`` per class; NaN for classes absent from the ground truth."""
        t = self.gt_totals.double()
        acc = self.matrix.diagonal().double() / t
        return [float(v) if p else math.nan for v, p in zip(acc, self.present)]

    def per_class_iou(self) -> list[float]:
        """``n_ii / (t_i + sum_j n_ji - n_ii)`` per class; NaN for classes absent from the GT."""
        diag = self.matrix.diagonal().double()
        union = self.gt_totals.double() + self.matrix.sum(dim=0).double() - diag
        iou = diag / union
        return [float(v) if p else math.nan for v, p in zip(iou, self.present)]

    def mean_class_accuracy(self) -> float:
        """Mean of :meth:`per_class_accuracy` over the classes present in the GT."""
        return _nanmean(self.per_class_accuracy())

    def mean_iou(self) -> float:
        """Mean of :meth:`per_class_iou` over the classes present in the GT."""
        return _nanmean(self.per_class_iou())

    def result(self) -> dict:
        """JSON-ready scores; per-class values are ``None`` for classes absent from the GT."""
        return {
            "pixel_accuracy": _none_if_nan(self.pixel_accuracy()),
            "mean_class_accuracy": _none_if_nan(self.mean_class_accuracy()),
            "mean_iou": _none_if_nan(self.mean_iou()),
            "per_class_iou": {
                name: _none_if_nan(v) for name, v in zip(self.class_names, self.per_class_iou())
            },
            "per_class_accuracy": {
                name: _none_if_nan(v) for name, v in zip(self.class_names, self.per_class_accuracy())
            },
            "classes_present": int(self.present.sum()),
            "pixels": self.num_pixels,
            "void_prediction_fraction": _none_if_nan(self.unassigned_fraction),
            "void_predictions": self.void_predictions,
        }

    def __repr__(self) -> str:
        return (
            f"ConfusionMatrix(num_classes={self.num_classes}, pixels={self.num_pixels}, "
            f"pixel_accuracy={self.pixel_accuracy():.4f}, mean_iou={self.mean_iou():.4f})"
        )


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def _none_if_nan(value: float) -> float | None:
    return None if math.isnan(value) else value
