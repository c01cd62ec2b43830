"""semicycle: image-to-image translation when paired examples are scarce."""

__version__ = "0.1.0"


def load(path, device: str = "auto", **speed):
    """Load a trained run for inference: ``semicycle.load(run_dir).translate(pil_image)``.

    ``speed``: ``precision`` (auto | fp32 | bf16 | fp16), ``channels_last``, ``compile`` (see docs/performance.md).
    """
    from .api import load as _load

    return _load(path, device, **speed)
