"""Maps (aerial -> map) pixel accuracy: a pixel is right when its colour is close to the truth.

Shukla et al. 2019, section 4.2.2 (after Isola et al. 2017): a generated map pixel counts as
correct when the *maximum over the three channels* of the absolute RGB difference to the
ground-truth map is **below** 20 on the 0..255 scale (strict ``<``). Other thresholds are
reported beside it.

Two aggregates are given, because the papers' wording ("average pixel accuracy across all the
test samples") admits both:

* ``pixel_accuracy@T``: correct pixels of the whole split / all pixels of the split;
* ``mean_image_accuracy@T``: the mean over images of each image's own accuracy.

They are equal when every image has the same size (as in pix2pix maps, 600x600 halves), and
differ only when sizes vary.

The metric's floor is high, because map tiles are mostly plain background: :func:`blank_map_scores`
gives the score of a "map" filled with one colour (the colour that is right on most pixels of the
training maps, from :func:`best_blank_color`), the number a generator that draws nothing reaches.
"""

from __future__ import annotations

import torch

DEFAULT_THRESHOLDS = (5, 10, 20, 40)
PAPER_THRESHOLD = 20


def _as_uint8_batch(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 (N, 3, H, W) or (3, H, W); floats in [-1, 1] (generator outputs) are converted."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(images).__name__}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] != 3:
        raise TypeError(f"{name}: expected (N, 3, H, W) images, got shape {tuple(images.shape)}")
    if images.is_floating_point():
        images = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    elif images.dtype != torch.uint8:
        raise TypeError(f"{name}: expected uint8 or float images in [-1, 1], got {images.dtype}")
    return images


class MapsAccuracy:
    """Accumulates the maps pixel accuracy at several thresholds over batches of a split."""

    def __init__(self, thresholds=DEFAULT_THRESHOLDS) -> None:
        thresholds = tuple(sorted({int(t) for t in thresholds}))
        if not thresholds or thresholds[0] < 1 or thresholds[-1] > 256:
            raise ValueError(f"thresholds must be integers in 1..256, got {thresholds}")
        self.thresholds = thresholds
        self.correct = torch.zeros(len(thresholds), dtype=torch.float64)
        self.pixels = 0
        self.image_accuracy_sum = torch.zeros(len(thresholds), dtype=torch.float64)
        self.images = 0

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> "MapsAccuracy":
        """Add a batch of generated maps ``pred`` and ground-truth maps ``target``."""
        pred = _as_uint8_batch(pred, "prediction")
        target = _as_uint8_batch(target, "target")
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction shape {tuple(pred.shape)} differs from target shape "
                f"{tuple(target.shape)}; resize generated maps to the ground-truth size"
            )
        # max over channels of |pred - target|, in 0..255
        diff = (pred.to(torch.int16) - target.to(torch.int16)).abs().amax(dim=1)
        thresholds = torch.tensor(self.thresholds, device=diff.device, dtype=torch.int16)
        correct = diff.unsqueeze(1) < thresholds.view(1, -1, 1, 1)  # (N, T, H, W)
        per_image = correct.flatten(2).sum(dim=2).double().cpu()  # (N, T)
        pixels_per_image = diff.shape[-2] * diff.shape[-1]
        self.correct += per_image.sum(dim=0)
        self.pixels += pixels_per_image * diff.shape[0]
        self.image_accuracy_sum += (per_image / pixels_per_image).sum(dim=0)
        self.images += diff.shape[0]
        return self

    def merge(self, other: "MapsAccuracy") -> "MapsAccuracy":
        """Add the pixels and images another MapsAccuracy with the same thresholds has seen, in place."""
        if other.thresholds != self.thresholds:
            raise ValueError(f"cannot merge maps accuracies at thresholds {self.thresholds} and {other.thresholds}")
        self.correct += other.correct
        self.pixels += other.pixels
        self.image_accuracy_sum += other.image_accuracy_sum
        self.images += other.images
        return self

    def result(self) -> dict:
        """``{"pixel_accuracy@T": ..., "mean_image_accuracy@T": ..., "images": N, "pixels": P}``."""
        out: dict = {}
        for i, t in enumerate(self.thresholds):
            out[f"pixel_accuracy@{t}"] = (
                float(self.correct[i] / self.pixels) if self.pixels else float("nan")
            )
        for i, t in enumerate(self.thresholds):
            out[f"mean_image_accuracy@{t}"] = (
                float(self.image_accuracy_sum[i] / self.images) if self.images else float("nan")
            )
        out["images"] = self.images
        out["pixels"] = self.pixels
        return out


def maps_pixel_accuracy(pred: torch.Tensor, target: torch.Tensor, thresholds=DEFAULT_THRESHOLDS) -> dict:
    """Maps pixel accuracy of a whole split given at once; see :class:`MapsAccuracy`.

    ``pred`` and ``target`` are uint8 (N, 3, H, W) (or float in [-1, 1]). A pixel is correct at
    threshold T when ``max_c |pred - target| < T``; the paper's number is ``@20``.
    """
    return MapsAccuracy(thresholds).update(pred, target).result()


def best_blank_color(maps: torch.Tensor, threshold: int = PAPER_THRESHOLD, step: int = 4) -> tuple[int, int, int]:
    """The colour whose blank map is right on the most pixels of uint8 (N, 3, H, W) ``maps``.

    A pixel is right when ``max_c |colour - pixel| < threshold``: a box around the colour in RGB, so the
    count is a box sum over the colour histogram (``step``-level bins; the answer is a bin centre).
    """
    bins = 256 // step
    flat = _as_uint8_batch(maps, "maps").permute(1, 0, 2, 3).reshape(3, -1).to(torch.int64) // step
    hist = torch.bincount((flat[0] * bins + flat[1]) * bins + flat[2], minlength=bins**3).view(1, 1, bins, bins, bins)
    half = max(1, round(threshold / step))
    width = 2 * half - 1
    covered = torch.nn.functional.avg_pool3d(hist.double(), width, stride=1, padding=half - 1, count_include_pad=True) * width**3
    tie_break = hist / (hist.sum() + 1.0)  # < 1 pixel: among equal counts, a bin that holds pixels itself
    code = int((covered.round() + tie_break).flatten().argmax())
    return tuple(int(b) * step + step // 2 for b in (code // bins**2, code // bins % bins, code % bins))


def blank_map_scores(color: tuple[int, int, int], target: torch.Tensor, thresholds=DEFAULT_THRESHOLDS) -> dict:
    """Maps accuracy of a blank map in ``color`` against every ``target`` map (the metric's floor)."""
    target = _as_uint8_batch(target, "target")
    blank = torch.tensor(color, dtype=torch.uint8, device=target.device).view(1, 3, 1, 1).expand_as(target)
    return maps_pixel_accuracy(blank, target, thresholds)
