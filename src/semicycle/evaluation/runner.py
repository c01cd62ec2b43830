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
Networks run in fp32 on every machine (``EVAL_PRECISION``). The metrics, and which translations
each scores, are registered in :mod:`semicycle.evaluation.metrics`.
:func:`evaluate` scores (:func:`score`), writes ``metrics.json`` and ``metrics.md``
(:func:`write_metrics`) and a self-contained ``report.html`` (:func:`write_report`).
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
from ..data.io import list_images, load_rgb
from ..data.transforms import to_float, to_uint8
from ..runtime import resolve_device
from ..errors import DataError
from .metrics import EVAL_PRECISION, Translations, create_metrics
from .report import compare_table, write_html_report


def translate_all(translator: Translator, images: torch.Tensor, direction: str, batch_size: int) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> translated uint8 (N, 3, H, W), in batches. Under several processes (torchrun)
    each translates its share of the images and every process gets all the translations, in order."""
    runtime = translator.runtime
    rows = runtime.share(len(images))
    out = [
        to_uint8(translator.translate_tensor(to_float(images[i : min(i + batch_size, rows.stop)]), direction))
        for i in range(rows.start, rows.stop, batch_size)
    ]
    translated = torch.cat(out) if out else images[:0]
    return torch.cat(runtime.gather_objects(translated)) if runtime.world_size > 1 else translated


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


def score(
    cfg: Config,
    translator: Translator | None = None,
    images: str | Path | None = None,
    direction: str | None = None,
    split: str | None = None,
    device: str = "cpu",
    checkpoint: str | Path | None = None,
) -> tuple[dict, list]:
    """Score ``translator`` (its directions, or ``direction``) or the folder ``images`` of one
    ``direction``'s translations on ``split`` (default: ``data.val_split``); writes no file.

    Returns the metrics (``checkpoint``, the translator's source, is recorded in them) and the
    report's sample rows ``[input, output, ground truth]``. Under torchrun the processes share the
    translating, then leave the process group, and the main process scores (the others' metrics hold no
    scores).
    """
    size = cfg.eval.size or cfg.data.crop_size
    data_cfg = dataclasses.replace(cfg.data, load_size=size, crop_size=size, flip=False, subset="", max_images=cfg.eval.max_images)
    split = split or cfg.data.val_split
    data = load_data(data_cfg, split, cfg.run_dir, progress=False)
    if not data.paired and not cfg.eval.fid:
        raise DataError(f"{cfg.data.root}: unpaired data is scored by FID/KID only: set eval.fid=true (or evaluate aligned, "
                        "cmp or synthetic data)")
    directions = [direction] if direction else (translator.directions if translator else [])
    if not directions:
        raise DataError("evaluating a folder of images needs --direction AtoB or BtoA")

    metrics: dict = {"split": split, "images": len(data.A), "size": size, "precision": EVAL_PRECISION}
    if checkpoint:
        metrics["checkpoint"] = str(checkpoint)
    sources = {name: (data.A, data.B) if name == "AtoB" else (data.B, data.A) for name in directions}
    if images:
        translated = {name: read_translations(images, data.paths_A, size, nearest=name == "AtoB" and data.palette is not None)
                      for name in directions}
    else:
        translated = {name: translate_all(translator, sources[name][0], name, cfg.eval.batch_size) for name in directions}
        translator.runtime.close()  # torchrun: every process has every translation; the main one scores alone
        if not translator.runtime.is_main:
            return metrics, []
    rows = []
    for name in directions:
        (inputs, targets), outputs = sources[name], translated[name]
        translations = Translations(inputs, outputs, targets, data.labels_B if name == "AtoB" else None)
        for key, metric in create_metrics(cfg, data.palette, name, device, paired=data.paired).items():
            metrics[key] = metric.update(translations).result()
        rows += [[inputs[i], outputs[i], targets[i]] for i in range(min(cfg.eval.samples, len(inputs)))]
    return metrics, rows


def write_metrics(out: Path, metrics: dict) -> None:
    """``out/metrics.json`` and ``out/metrics.md`` (the metrics as a markdown table)."""
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    atomic_write_text(out / "metrics.md", compare_table({out.name: metrics}) + "\n")


def write_report(out: Path, cfg: Config, metrics: dict, sample_rows: list) -> Path:
    """``out/report.html``: the metrics, per-class IoU of photo -> label, samples, ``out/loss_curves.png`` if there is one."""
    curves = out / "loss_curves.png"
    return write_html_report(
        out / "report.html", title=f"semicycle evaluation: {out.name} ({metrics['split']})", config=cfg.to_dict(),
        metrics=metrics, per_class_iou=metrics.get("photo_to_label", {}).get("per_class_iou"), sample_rows=sample_rows,
        loss_curves_png=curves if curves.is_file() else None,
    )


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
    """Score a checkpoint (both of its directions) or a folder of translations (one direction), and
    write metrics.json, metrics.md and report.html to ``out_dir`` (default: the run folder, else ``images``)."""
    device = str(resolve_device(device))
    translator = load(checkpoint, device, precision=EVAL_PRECISION) if checkpoint else None
    if translator is not None:
        cfg = from_dict(translator.config)
    if cfg is None:
        raise DataError("evaluating a folder of images needs the dataset: pass --config or --preset (and data.root)")
    cfg = from_dict(overrides or {}, base=cfg)
    metrics, rows = score(cfg, translator, images, direction, split, device=device, checkpoint=checkpoint)
    if translator is not None and not translator.runtime.is_main:
        return metrics
    out = Path(out_dir) if out_dir else (Path(checkpoint) if checkpoint and Path(checkpoint).is_dir() else Path(images or "."))
    out.mkdir(parents=True, exist_ok=True)
    write_metrics(out, metrics)
    write_report(out, cfg, metrics, rows)
    return metrics
