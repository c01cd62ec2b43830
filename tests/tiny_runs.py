"""The smallest training configuration the tests share: 32 px crops of 36, ResNet-6, ngf = ndf = 8, one epoch."""

from semicycle.config import Config, apply_overrides

TINY = [
    "data.load_size=36", "data.crop_size=32", "model.generator=resnet_6blocks", "model.ngf=8", "model.ndf=8",
    "train.epochs=1", "train.decay_epochs=0", "train.batch_size=2", "log.progress=false",
    "runtime.precision=fp32",  # tests that are not about precision train in fp32 on every CPU (auto is bf16 on some)
]


def tiny_config(run_dir, root, *changes: str) -> Config:
    """A run in ``run_dir`` on the synthetic data set at ``root``: ``TINY``, then a test's own settings."""
    return apply_overrides(Config(), [f"run_dir={run_dir}", f"data.root={root}", *TINY, *changes])


def tiny_overrides(*changes: str) -> list[str]:
    """``TINY`` followed by a test file's own settings (later overrides win)."""
    return [*TINY, *changes]


def interrupt_at(trainer, monkeypatch, iteration: int) -> None:
    """Make ``trainer`` raise KeyboardInterrupt (Ctrl-C) when its step for ``iteration + 1`` starts."""
    real_step = trainer.method.train_step

    def step_then_interrupt(batch):
        if trainer.iteration == iteration:
            raise KeyboardInterrupt
        return real_step(batch)

    monkeypatch.setattr(trainer.method, "train_step", step_then_interrupt)
