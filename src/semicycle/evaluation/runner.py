"""``semicycle evaluate``: score a trained run (or a folder of translated images) on a split.

Protocols (docs/evaluation.md):
* photo -> label (A -> B, B a label map): each output pixel is decoded to the nearest *class*
  colour (``eval.label_decoding=classes``, Shukla et al. 2019 sec. 4.1.2 and the CycleGAN FCN-score
  protocol: never void) and compared with the ground-truth classes (void ground truth ignored); one
  confusion matrix over the whole split. ``classes_and_void`` is semicycle 0.1's decoding.
* label -> photo (B -> A): the FCN-score. The generated photos are segmented by a fixed segmenter
  (Cityscapes: ESPNet; other data: a ``train-scorer`` run) and scored against the input labels;
  the same segmenter on the real photos is the upper-bound row.
* image -> image without labels (maps): pixel accuracy at max-|RGB difference| thresholds, and L1.
* optionally FID/KID of generated vs real images.
Networks run in fp32 on every machine (``EVAL_PRECISION``).
Writes ``metrics.json``, ``metrics.md`` and a self-contained ``report.html``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..api import Translator, load
from ..atomic import atomic_write_text
from ..config import Config, from_dict
from ..data import load_data
from ..data.paths import expand_path
from ..data.io import list_images, load_rgb
from ..data.palettes import LABEL_DECODINGS, decode_generated_labels
from ..data.transforms import to_float, to_uint8
from ..runtime import resolve_device
from ..errors import DataError
from .confusion import ConfusionMatrix
from .fcn import FcnScore
from .maps import MapsAccuracy
from .report import compare_table, write_html_report

MAPS_THRESHOLDS = (5, 10, 20, 40)
# Networks are scored in fp32 on every machine: precision=auto would pick bf16 on some CPUs and shift the numbers.
EVAL_PRECISION = "fp32"


class RunScorer:
    """A trained segmentation run (``semicycle train-scorer``) as an FCN-score segmenter."""

    def __init__(self, run: str | Path, device: str = "auto"):
        self.translator = load(run, device, precision=EVAL_PRECISION)
        self.protocol = f"semicycle segmentation run {run} (A -> labels, argmax)"

    def segment(self, images: torch.Tensor) -> torch.Tensor:
        colors = to_uint8(self.translator.translate_tensor(to_float(images), "AtoB"))
        return self.translator.palette.to_class_index(colors)


def translate_all(translator: Translator, images: torch.Tensor, direction: str, batch_size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> translated uint8 (N, 3, H, W), in batches."""
    out = [
        to_uint8(translator.translate_tensor(to_float(images[i : i + batch_size]), direction))
        for i in range(0, len(images), batch_size)
    ]
    return torch.cat(out)


def read_translations(folder: str | Path, names: list[str], size: int, nearest: bool) -> torch.Tensor:
    """Already-translated images, matched to the split's files by name stem, at ``size``."""
    by_stem = {p.stem: p for p in list_images(folder, hint="--images takes a folder of translated images")}
    arrays = []
    for name in names:
        stem = Path(name).stem
        if stem not in by_stem:
            raise DataError(f"{folder}: no translation of {Path(name).name} (expected {stem}.png or .jpg); translate the whole split")
        image = Image.fromarray(load_rgb(by_stem[stem])[0])
        if image.size != (size, size):
            image = image.resize((size, size), Image.NEAREST if nearest else Image.BICUBIC)
        arrays.append(np.asarray(image))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def segmenter_for(cfg: Config, palette, device: str):
    """The label -> photo segmenter: a train-scorer run if given, ESPNet for Cityscapes, else None."""
    if cfg.eval.scorer:
        return RunScorer(expand_path(cfg.eval.scorer), device)
    if palette.name == "cityscapes":
        from .espnet import EspnetScorer

        return EspnetScorer(expand_path(cfg.eval.segmenter_weights), device=device, batch_size=cfg.eval.batch_size)
    return None


def score_direction(cfg: Config, data, direction: str, outputs: torch.Tensor, device: str, segmenter=None) -> dict:
    """Metrics of one direction's outputs (uint8) against the split's ground truth."""
    palette = data.palette
    if direction == "AtoB" and palette is not None:
        decoding = cfg.eval.label_decoding
        matrix = ConfusionMatrix(palette.num_classes, palette.ignore_index)
        matrix.update(decode_generated_labels(outputs, palette, decoding), data.labels_B.long())
        result = matrix.as_dict(palette.class_names)
        result["label_decoding"] = decoding
        result["protocol"] = f"output -> class by {LABEL_DECODINGS[decoding]}; confusion matrix over the split"
        return {"photo_to_label": result}
    if direction == "BtoA" and palette is not None:
        if segmenter is None:
            return {"label_to_photo": {"note": "no segmenter for this palette: train one with 'semicycle train-scorer' and set eval.scorer"}}
        scores = {}
        for name, photos in (("generated", outputs), ("real photos (upper bound)", data.A)):
            fcn = FcnScore(segmenter, palette, cfg.eval.fcn_max_color_distance, cfg.eval.fcn_void_predictions)
            for i in range(0, len(photos), cfg.eval.batch_size):
                fcn.update(photos[i : i + cfg.eval.batch_size], data.B[i : i + cfg.eval.batch_size])
            scores[name] = fcn.result()
        return {"label_to_photo": scores}
    target = data.B if direction == "AtoB" else data.A
    accuracy = MapsAccuracy(MAPS_THRESHOLDS)
    accuracy.update(outputs, target)
    result = accuracy.result()
    result["l1"] = float((outputs.float() - target.float()).abs().mean() / 127.5)
    return {f"{direction}_rgb": result}


def evaluate(
    checkpoint: str | Path | None = None,
    images: str | Path | None = None,
    direction: str | None = None,
    cfg: Config | None = None,
    split: str | None = None,
    out_dir: str | Path | None = None,
    overrides: dict | None = None,
    device: str = "auto",
) -> dict:
    """Score a checkpoint (both of its directions) or a folder of translations (one direction)."""
    device = str(resolve_device(device))
    translator = load(checkpoint, device, precision=EVAL_PRECISION) if checkpoint else None
    if translator is not None:
        cfg = from_dict(translator.config)
    if cfg is None:
        raise DataError("evaluating a folder of images needs the dataset: pass --config or --preset (and data.root)")
    cfg = from_dict(overrides or {}, base=cfg)
    size = cfg.eval.size or cfg.data.crop_size
    data_cfg = dataclasses.replace(cfg.data, load_size=size, crop_size=size, flip=False, subset="", max_images=cfg.eval.max_images)
    split = split or cfg.data.val_split
    data = load_data(data_cfg, split, cfg.run_dir, progress=False)
    if not data.paired:
        raise DataError(f"{cfg.data.root}: evaluation needs paired ground truth (aligned, cmp or synthetic data)")
    directions = [direction] if direction else (translator.directions if translator else [])
    if not directions:
        raise DataError("evaluating a folder of images needs --direction AtoB or BtoA")

    metrics: dict = {"split": split, "images": len(data.A), "size": size, "precision": EVAL_PRECISION}
    if checkpoint:
        metrics["checkpoint"] = str(checkpoint)
    rows, per_class = [], None
    for name in directions:
        inputs = data.A if name == "AtoB" else data.B
        if images:
            outputs = read_translations(images, data.paths_A, size, nearest=name == "AtoB" and data.palette is not None)
        else:
            outputs = translate_all(translator, inputs, name, cfg.eval.batch_size)
        segmenter = segmenter_for(cfg, data.palette, device) if name == "BtoA" and data.palette is not None else None
        metrics.update(score_direction(cfg, data, name, outputs, device, segmenter))
        if cfg.eval.fid and not (name == "AtoB" and data.palette is not None):
            from .fid import compute_fid_kid

            real = data.A if name == "BtoA" else data.B
            metrics[f"{name}_fid"] = compute_fid_kid(real, outputs, device=device).as_dict()
        targets = data.B if name == "AtoB" else data.A
        rows += [[inputs[i], outputs[i], targets[i]] for i in range(min(cfg.eval.samples, len(inputs)))]
    if "photo_to_label" in metrics:
        per_class = metrics["photo_to_label"].get("per_class_iou")

    out = Path(out_dir) if out_dir else (Path(checkpoint) if checkpoint and Path(checkpoint).is_dir() else Path(images or "."))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(out / "metrics.md", compare_table({out.name: metrics}) + "\n")
    curves = out / "loss_curves.png"
    write_html_report(
        out / "report.html", title=f"semicycle evaluation: {out.name} ({split})", config=cfg.to_dict(), metrics=metrics,
        per_class_iou=per_class, sample_rows=rows, loss_curves_png=curves if curves.is_file() else None,
    )
    return metrics
