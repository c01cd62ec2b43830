"""The checkpoint format lives in :mod:`semicycle.checkpoints`; ``load`` and ``read_progress`` stay importable here
for experiments/mondal_diagnose.py and experiments/time_to_quality.py. New code imports semicycle.checkpoints."""

from ..checkpoints import load, read_progress

__all__ = ["load", "read_progress"]
