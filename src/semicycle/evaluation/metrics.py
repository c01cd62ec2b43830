"""The metrics ``semicycle evaluate`` computes, and the translations each one scores.

One direction's translations of a split are of one kind (:func:`translation_kind`):

* ``photo_to_label``: A -> B, B a label map (the data has a palette);
* ``label_to_photo``: B -> A, B a label map;
* ``rgb``: either direction of data without labels (e.g. maps).

Each metric class here has ``create(cfg, palette, device)`` (the metric as the configuration sets
it up), ``update(translations)`` (add a :class:`Translations` batch), ``merge(other)`` (add the state
another instance accumulated, e.g. on another shard of the split, in place) and ``result()`` (a
JSON-ready dict with stable snake_case keys). :func:`register` enters a class in :data:`METRICS`
with its ``metrics.json`` key and the kinds it scores; adding a metric is a class and its
registration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..api import load
from ..config import Config
from ..data.palettes import LABEL_DECODINGS, Palette, decode_generated_labels
from ..data.paths import expand_path
from ..data.transforms import to_float, to_uint8
from .confusion import ConfusionMatrix
from .fcn import DEFAULT_MAX_COLOR_DISTANCE, FcnScore
from .fid import FidKidScore
from .maps import MapsAccuracy

PHOTO_TO_LABEL, LABEL_TO_PHOTO, RGB = "photo_to_label", "label_to_photo", "rgb"
MAPS_THRESHOLDS = (5, 10, 20, 40)
# Networks are scored in fp32 on every machine: precision=auto would pick bf16 on some CPUs and shift the numbers.
EVAL_PRECISION = "fp32"
NO_SEGMENTER = "no segmenter for this palette: train one with 'semicycle train-scorer' and set eval.scorer"


def translation_kind(direction: str, palette: Palette | None) -> str:
    """``photo_to_label``, ``label_to_photo`` or ``rgb``: what ``direction`` translates on data with ``palette``."""
    if palette is None:
        return RGB
    return PHOTO_TO_LABEL if direction == "AtoB" else LABEL_TO_PHOTO


@dataclass(frozen=True)
class Translations:
    """One direction's outputs on (part of) a split, with the split's images; uint8 (N, 3, H, W)."""

    inputs: torch.Tensor  # what was translated
    outputs: torch.Tensor  # the translations
    targets: torch.Tensor  # the ground truth of the outputs: the split's images of the output domain
    target_classes: torch.Tensor | None = None  # (N, H, W) class indices of label-map targets, else None


@dataclass(frozen=True)
class Registration:
    """A metric class, the ``metrics.json`` key of its result and the translations it scores."""

    key: str  # "{direction}" in it becomes AtoB or BtoA
    kinds: tuple[str, ...]  # translation kinds it scores
    metric: type
    enabled: Callable[[Config], bool]  # whether the configuration asks for it
    paired: bool = True  # compares each output with its own target (False: the two sets' distributions)


#: The registered metrics, in the order their results appear in ``metrics.json``.
METRICS: list[Registration] = []


def register(key: str, kinds: tuple[str, ...], enabled: Callable[[Config], bool] = lambda cfg: True, paired: bool = True):
    """Class decorator: enter a metric class in :data:`METRICS`."""

    def add(cls: type) -> type:
        METRICS.append(Registration(key, kinds, cls, enabled, paired))
        return cls

    return add


def create_metrics(cfg: Config, palette: Palette | None, direction: str, device: str, paired: bool = True) -> dict:
    """The registered metrics that score ``direction``'s translations under ``cfg``, by ``metrics.json`` key; on
    unpaired data (``paired=False``: the targets are images of the output domain, not each input's) only those that
    compare distributions."""
    kind = translation_kind(direction, palette)
    return {
        entry.key.format(direction=direction): entry.metric.create(cfg, palette, device)
        for entry in METRICS
        if kind in entry.kinds and entry.enabled(cfg) and (paired or not entry.paired)
    }


class RunScorer:
    """A trained segmentation run (``semicycle train-scorer``) as an FCN-score segmenter."""

    def __init__(self, run: str | Path, device: str = "auto"):
        self.translator = load(run, device, precision=EVAL_PRECISION)
        self.protocol = f"semicycle segmentation run {run} (A -> labels, argmax)"

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        colors = to_uint8(self.translator.translate_tensor(to_float(images), "AtoB"))
        return self.translator.palette.to_class_index(colors)


def segmenter_for(cfg: Config, palette: Palette, device: str):
    """The label -> photo segmenter: a train-scorer run if given, ESPNet for Cityscapes, else None."""
    if cfg.eval.scorer:
        return RunScorer(expand_path(cfg.eval.scorer), device)
    if palette.name == "cityscapes":
        from .espnet import EspnetScorer

        return EspnetScorer(expand_path(cfg.eval.segmenter_weights), device=device, batch_size=cfg.eval.batch_size)
    return None


@register("photo_to_label", kinds=(PHOTO_TO_LABEL,))
class PhotoToLabelScores:
    """Generated label maps decoded to classes (``decoding``, see ``LABEL_DECODINGS``) against the
    split's ground-truth classes: one confusion matrix over the split."""

    def __init__(self, palette: Palette, decoding: str = "classes") -> None:
        self.palette = palette
        self.decoding = decoding
        self.matrix = ConfusionMatrix(palette.num_classes, palette.ignore_index, class_names=palette.class_names)

    @classmethod
    def create(cls, cfg: Config, palette: Palette, device: str) -> "PhotoToLabelScores":
        return cls(palette, cfg.eval.label_decoding)

    def update(self, batch: Translations) -> "PhotoToLabelScores":
        self.matrix.update(decode_generated_labels(batch.outputs, self.palette, self.decoding), batch.target_classes.long())
        return self

    def merge(self, other: "PhotoToLabelScores") -> "PhotoToLabelScores":
        if other.decoding != self.decoding:
            raise ValueError(f"cannot merge label maps decoded by {self.decoding!r} and {other.decoding!r}")
        self.matrix.merge(other.matrix)
        return self

    def result(self) -> dict:
        out = self.matrix.result()
        out["label_decoding"] = self.decoding
        out["protocol"] = f"output -> class by {LABEL_DECODINGS[self.decoding]}; confusion matrix over the split"
        return out


@register("label_to_photo", kinds=(LABEL_TO_PHOTO,))
class LabelToPhotoScores:
    """The FCN-score of the generated photos (``generated``) and, as its upper bound, of the real
    photos (``real_photos``, unless ``real_photos`` is False: it is the same for every run scored on a
    split, and segmenting them doubles the cost, e.g. ESPNet at 1024x512): segmented by ``segmenter``
    (:func:`segmenter_for`), ``batch_size`` images at a time, and scored against the input label maps.
    Without a segmenter the result is a note saying how to get one."""

    def __init__(
        self,
        segmenter,
        palette: Palette,
        max_color_distance: float | None = DEFAULT_MAX_COLOR_DISTANCE,
        void_predictions: str = "skip",
        batch_size: int = 8,
        real_photos: bool = True,
    ) -> None:
        self.batch_size = batch_size
        names = ("generated", "real_photos") if real_photos else ("generated",)
        self.scores = None if segmenter is None else {
            name: FcnScore(segmenter, palette, max_color_distance, void_predictions) for name in names
        }  # fmt: skip

    @classmethod
    def create(cls, cfg: Config, palette: Palette, device: str) -> "LabelToPhotoScores":
        e = cfg.eval
        return cls(segmenter_for(cfg, palette, device), palette, e.fcn_max_color_distance, e.fcn_void_predictions, e.batch_size,
                   e.fcn_real_photos)

    def update(self, batch: Translations) -> "LabelToPhotoScores":
        photos_of = {"generated": batch.outputs, "real_photos": batch.targets}
        for name, score in (self.scores or {}).items():
            photos = photos_of[name]
            for i in range(0, len(photos), self.batch_size):
                score.update(photos[i : i + self.batch_size], batch.inputs[i : i + self.batch_size])
        return self

    def merge(self, other: "LabelToPhotoScores") -> "LabelToPhotoScores":
        if (self.scores is None) != (other.scores is None):
            raise ValueError("cannot merge label -> photo scores with and without a segmenter")
        if set(self.scores or {}) != set(other.scores or {}):
            raise ValueError("cannot merge label -> photo scores with and without the real photos (eval.fcn_real_photos)")
        for name, score in (self.scores or {}).items():
            score.merge(other.scores[name])
        return self

    def result(self) -> dict:
        if self.scores is None:
            return {"note": NO_SEGMENTER}
        return {name: score.result() for name, score in self.scores.items()}


@register("{direction}_rgb", kinds=(RGB,))
class RgbScores:
    """Image -> image without labels (maps): pixel accuracy at max-|RGB difference| thresholds
    (:class:`~semicycle.evaluation.maps.MapsAccuracy`) and ``l1``, the mean absolute difference
    in [-1, 1] units."""

    def __init__(self, thresholds=MAPS_THRESHOLDS) -> None:
        self.accuracy = MapsAccuracy(thresholds)
        self.abs_difference = 0  # sum of |output - target| over every channel value, on the 0..255 scale
        self.values = 0

    @classmethod
    def create(cls, cfg: Config, palette: Palette | None, device: str) -> "RgbScores":
        return cls()

    def update(self, batch: Translations) -> "RgbScores":
        self.accuracy.update(batch.outputs, batch.targets)
        difference = batch.outputs.to(torch.int16) - batch.targets.to(torch.int16)
        self.abs_difference += int(difference.abs().sum(dtype=torch.int64))
        self.values += difference.numel()
        return self

    def merge(self, other: "RgbScores") -> "RgbScores":
        self.accuracy.merge(other.accuracy)
        self.abs_difference += other.abs_difference
        self.values += other.values
        return self

    def result(self) -> dict:
        out = self.accuracy.result()
        out["l1"] = self.abs_difference / (self.values * 127.5) if self.values else math.nan
        return out


@register("{direction}_fid", kinds=(LABEL_TO_PHOTO, RGB), enabled=lambda cfg: cfg.eval.fid, paired=False)
class RealismScores:
    """FID/KID of the generated images against the real images of the output domain (``eval.fid``)."""

    def __init__(self, score: FidKidScore) -> None:
        self.score = score

    @classmethod
    def create(cls, cfg: Config, palette: Palette | None, device: str) -> "RealismScores":
        return cls(FidKidScore(device=device))

    def update(self, batch: Translations) -> "RealismScores":
        self.score.update(batch.targets, batch.outputs)
        return self

    def merge(self, other: "RealismScores") -> "RealismScores":
        self.score.merge(other.score)
        return self

    def result(self) -> dict:
        return self.score.result()
