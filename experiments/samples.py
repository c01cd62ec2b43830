"""Sample grids for the results pages: the first images of the split through each finished run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from semicycle.figures import image_grid, save


def sample_grid(exp, columns: list[tuple[str, str]], direction: str, path: Path, count: int = 4,
                input_title: str = "input", target_title: str = "ground truth") -> bool:
    """Rows = the first ``count`` images of the split; columns = input, each run's output, ground truth.

    ``columns``: (title, run name); runs without a finished checkpoint are left out. False if none has one.
    """
    import torch

    import semicycle
    from semicycle import config as cfgmod
    from semicycle.data import load_data
    from semicycle.data.transforms import to_float, to_uint8

    ready = [(title, exp.run(name)) for title, name in columns if exp.is_finished(exp.run(name))]
    if not ready:
        return False
    cfg = cfgmod.load_yaml(ready[0][1].run_dir / "config.yaml", warn_renamed=False)  # a run's own config: old keys are fine
    size = cfg.eval.size or cfg.data.crop_size
    data_cfg = dataclasses.replace(cfg.data, load_size=size, crop_size=size, flip=False, max_images=count)
    data = load_data(data_cfg, exp.split, cfg.run_dir, progress=False)
    inputs, targets = (data.A, data.B) if direction == "AtoB" else (data.B, data.A)
    outputs = []
    for _, run in ready:
        translator = semicycle.load(run.run_dir, device="cpu")
        outputs.append(to_uint8(translator.translate_tensor(to_float(inputs), direction)))
    rows = [[inputs[i]] + [out[i] for out in outputs] + [targets[i]] for i in range(len(inputs))]
    titles = [input_title] + [title for title, _ in ready] + [target_title]
    scale = max(1, 128 // size)
    grid = image_grid([[torch.as_tensor(x) for x in row] for row in rows], column_titles=titles, scale=scale)
    save(grid, path)
    return True


def samples_figure(exp, columns: list[tuple[str, str]], direction: str, caption: str, name: str = "", **kwargs) -> list[dict]:
    """``name`` (default ``samples_<direction>.png``) in the results folder, as a figure note (none before any run is finished).
    While a column's run is only recorded (trained on another machine: ``Experiment.recorded``), the figure drawn where
    it was trained is kept, not redrawn without it."""
    name = name or f"samples_{direction}.png"
    if (exp.out_dir / name).is_file() and any(exp.recorded(exp.run(run_name)) for _, run_name in columns):
        return [{"file": name, "caption": caption}]
    if sample_grid(exp, columns, direction, exp.out_dir / name, **kwargs):
        return [{"file": name, "caption": caption}]
    return []
