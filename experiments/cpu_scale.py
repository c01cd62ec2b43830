"""The CPU-scale configuration every experiment trains at (docs/reproductions/setup.md, experiments/step_time.py):
64 px, ngf = ndf = 32; the --quick smoke version at 32 px, ngf = ndf = 8 on 8 images."""

from __future__ import annotations

SIZE, WIDTH, GENERATOR = 64, 32, "resnet_6blocks"
QUICK_SIZE, QUICK_WIDTH, QUICK_IMAGES, QUICK_EVAL_IMAGES, QUICK_ITERATIONS = 32, 8, 8, 4, 16
# fp32 written out: precision=auto may pick bf16 on some CPUs, so a run resumed elsewhere could change precision
PINNED_PRECISION = ["runtime.precision=fp32"]
BOOKKEEPING = ["log.log_every=50", "log.sample_every=2000", "log.checkpoint_every=250", "log.keep_every_epochs=0", "log.progress=false"]
QUICK_BOOKKEEPING = ["log.log_every=4", "log.sample_every=0", "log.checkpoint_every=0", "log.keep_every_epochs=0", "log.progress=false"]


def load_size_for(size: int) -> int:
    """The resize-then-crop size of the CycleGAN recipe (286 for 256), rounded to an even number."""
    return round(size * 286 / 256 / 2) * 2


def cpu_scale_overrides(size: int = SIZE, quick: bool = False, augment: bool = True) -> list[str]:
    """Architecture and image size shared by every compared method (``augment=False``: no crop, no flip)."""
    width = QUICK_WIDTH if quick else WIDTH
    out = [f"data.load_size={load_size_for(size) if augment else size}", f"data.crop_size={size}",
           f"model.generator={GENERATOR}", f"model.ngf={width}", f"model.ndf={width}"]
    out += ([] if augment else ["data.flip=false"]) + ([f"data.max_images={QUICK_IMAGES}"] if quick else [])
    return out + PINNED_PRECISION
