"""semicycle: image-to-image translation when paired examples are scarce.

The public API: :func:`load` (inference), :func:`export_onnx`, :func:`plan`, :func:`train`, :func:`evaluate`, and the config
(:mod:`semicycle.config`: ``load_preset``, ``apply_overrides``, ``Config``). Everything else is internal.
"""

from .version import __version__

__all__ = ["__version__", "evaluate", "export_onnx", "load", "plan", "train"]


def load(path, device: str = "auto", **options):
    """Load a trained run for inference: ``semicycle.load(run_dir).translate(pil_image)``; a ``.onnx`` file of
    :func:`export_onnx` runs on onnxruntime with the same pre- and post-processing.

    ``options``: ``precision`` (auto | fp32 | bf16 | fp16), ``channels_last``, ``compile`` (see docs/performance.md),
    ``backend`` (auto | pytorch | onnxruntime).
    """
    from .api import load as _load

    return _load(path, device, **options)


def export_onnx(source, direction: str, output, **options):
    """Write the ``direction`` generator of a run (folder, ckpt/ or .pt) to ``output`` (.onnx), eval mode, with a
    dynamic batch, height and width and its inputs, outputs and palette described in the file's metadata.
    ``options``: ``opset``. Needs ``pip install 'semicycle[export]'``."""
    from .export import export_onnx as _export_onnx

    return _export_onnx(source, direction, output, **options)


def plan(cfg):
    """What a run as configured will do (steps per epoch, epochs, iterations, training and paired samples),
    without building a network: a :class:`semicycle.engine.trainer.Plan`."""
    from .engine.trainer import plan as _plan

    return _plan(cfg)


def train(cfg, resume: bool = False):
    """Train as configured (``resume``: continue the run in ``cfg.run_dir`` exactly); returns the latest
    checkpoint's path. Progress after each save: ``RUN/ckpt/progress.json``."""
    from .engine.trainer import train as _train

    return _train(cfg, resume=resume)


def evaluate(run, **options):
    """Score a run as ``semicycle evaluate`` does; returns the metrics (see
    :func:`semicycle.evaluation.runner.evaluate` for ``split``, ``direction``, ``out_dir``, ``overrides``)."""
    from .evaluation.runner import evaluate as _evaluate

    return _evaluate(str(run), **options)
