"""The label -> photo FCN-score: segment generated photos with a fixed segmenter, score vs labels.

Protocol (Isola et al. 2017 / Zhu et al. 2017, with the ESPNet Cityscapes segmenter of
:mod:`semicycle.evaluation.espnet` in place of their Caffe FCN-8s):

1. Ground truth: the colour label image is decoded by nearest palette colour
   (:meth:`~semicycle.data.palettes.Palette.to_index`; Cityscapes void colours -> ignore), and
   pixels farther than ``max_color_distance`` (Euclidean RGB, default 40) from *every* palette
   colour are ignored too: in the pix2pix JPEG label halves these are blended object edges whose
   class is ambiguous.
2. Prediction: ``scorer.segment(photos)`` at the label resolution.
3. A pixel the segmenter calls void is left out (``void_predictions="skip"``: the 19 x 19 block
   of the 20-class matrix), as the README of the shared weights did.
4. :class:`~semicycle.evaluation.confusion.ConfusionMatrix` summed over the whole split: pixel
   accuracy, mean class accuracy and mean IoU over the classes present in the ground truth.

With these settings the real photos of the first 100 files of ``cityscapes/val`` in
lexicographic file-name order (1.jpg, 10.jpg, 101.jpg, ...) score 0.834 / 0.476 / 0.345,
the figures of ``shared/weights/README.md`` to three decimals; the first 100 in natural order
(1.jpg, 2.jpg, 3.jpg, ...) score 0.831 / 0.479 / 0.345. Counting void predictions as errors
(``void_predictions="wrong"``) and keeping every pixel gives 0.71 / 0.37 / 0.28 on the same
photos. :attr:`FcnScore.protocol` names the settings; print it with the numbers.
"""

from __future__ import annotations

import torch

from semicycle.data.palettes import Palette, get_palette

from .confusion import ConfusionMatrix

DEFAULT_MAX_COLOR_DISTANCE = 40.0


def label_targets(
    label_rgb: torch.Tensor,
    palette: Palette | str = "cityscapes",
    max_color_distance: float | None = DEFAULT_MAX_COLOR_DISTANCE,
) -> torch.Tensor:
    """Decode colour labels uint8 (N, 3, H, W) or (3, H, W) into scoring targets (long).

    Nearest palette colour; ignore colours and (unless ``max_color_distance`` is None) pixels
    farther than ``max_color_distance`` from every palette colour -> ``palette.ignore_index``.
    """
    if isinstance(palette, str):
        palette = get_palette(palette)
    index, dist_sq = palette._nearest(label_rgb)
    if max_color_distance is not None:
        index = index.masked_fill(dist_sq > max_color_distance**2, palette.ignore_index)
    return index


class FcnScore:
    """Accumulates the FCN-score of (photo, label) batches over a split.

    ``scorer`` is anything with ``segment(uint8 (N, 3, H, W)) -> long (N, H, W)`` and a
    ``protocol`` string, e.g. :class:`~semicycle.evaluation.espnet.EspnetScorer`.
    """

    def __init__(
        self,
        scorer,
        palette: Palette | str = "cityscapes",
        max_color_distance: float | None = DEFAULT_MAX_COLOR_DISTANCE,
        void_predictions: str = "skip",
    ) -> None:
        self.scorer = scorer
        self.palette = get_palette(palette) if isinstance(palette, str) else palette
        self.max_color_distance = max_color_distance
        self.matrix = ConfusionMatrix(
            self.palette.num_classes, self.palette.ignore_index, void_predictions, self.palette.class_names
        )

    @property
    def protocol(self) -> str:
        distance = (
            "all label pixels" if self.max_color_distance is None
            else f"label pixels > {self.max_color_distance:g} RGB from every palette colour ignored"
        )  # fmt: skip
        void = "void predictions skipped" if self.matrix.void_predictions == "skip" else "void predictions wrong"
        return f"{getattr(self.scorer, 'protocol', type(self.scorer).__name__)}; {distance}; {void}"

    def update(self, photos: torch.Tensor, labels: torch.Tensor) -> "FcnScore":
        """Add photos uint8 (N, 3, H, W) and their labels: colour uint8 (N, 3, H, W) or long (N, H, W)."""
        if labels.dtype == torch.uint8 and labels.dim() == 4:
            targets = label_targets(labels, self.palette, self.max_color_distance)
        else:
            targets = labels.long()
        predictions = self.scorer.segment(photos)
        if predictions.shape[-2:] != targets.shape[-2:]:
            raise ValueError(
                f"photos are {tuple(photos.shape[-2:])} but labels {tuple(targets.shape[-2:])}; "
                "give photos at the label resolution"
            )
        self.matrix.update(predictions, targets)
        return self

    def merge(self, other: "FcnScore") -> "FcnScore":
        """Add the pixels another FcnScore with the same protocol has scored, in place."""
        if other.protocol != self.protocol:
            raise ValueError(f"cannot merge FCN-scores of different protocols: {self.protocol!r} and {other.protocol!r}")
        self.matrix.merge(other.matrix)
        return self

    def result(self) -> dict:
        """Scores as :meth:`ConfusionMatrix.result` (class names from the palette) + protocol."""
        out = self.matrix.result()
        out["protocol"] = self.protocol
        return out
