"""TensorBoard event files of a run (``log.tensorboard=true``): the loss-log records as scalars and the
sample grids as images, in ``RUN_DIR/tb/`` (only the main process writes).

tensorboard is an optional dependency, imported only here and only when asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError

FOLDER = "tb"
# loss-log fields that are not losses -> their tags; every other field except ``iter`` is a loss, 'loss/<name>'
TAGS = {"epoch": "progress/epoch", "lr": "lr", "img_per_s": "speed/img_per_s", "s_per_iter": "speed/s_per_iter",
        "gpu_mem_mb": "memory/gpu_mem_mb"}
IMAGE_TAG = "samples"


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or a one-line ``ConfigError`` naming the fix."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("log.tensorboard=true needs the tensorboard package: pip install 'semicycle[tensorboard]' "
                          "(or set log.tensorboard=false)") from None
    return SummaryWriter


def tag(field: str) -> str:
    """The scalar tag of a loss-log field."""
    return TAGS.get(field, f"loss/{field}")


class TensorBoardLog:
    """Writes what the loss log records and the sample grids; the step is the global iteration.

    ``start_iteration`` is the iteration the run continues from: events an earlier session wrote after it
    (steps > start_iteration, which the checkpoint does not hold) are hidden from TensorBoard (``purge_step``),
    as the loss log trims its records after the checkpoint.
    """

    def __init__(self, run_dir: str | Path, start_iteration: int):
        writer = summary_writer_class()
        self.writer = writer(log_dir=str(Path(run_dir) / FOLDER), purge_step=start_iteration + 1)
        self.last_image_step = None

    def write(self, record: dict) -> None:
        """One loss-log record (``iter`` is the step)."""
        for field, value in record.items():
            if field != "iter":
                self.writer.add_scalar(tag(field), value, record["iter"])

    def add_grid(self, image, iteration: int) -> None:
        """A sample grid (a PIL image); one per step (the final grid repeats the last periodic one)."""
        if iteration == self.last_image_step:
            return
        self.writer.add_image(IMAGE_TAG, np.asarray(image.convert("RGB")), iteration, dataformats="HWC")
        self.last_image_step = iteration

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
