"""What one server accepts (torch- and FastAPI-free: the command line reads the defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class ServeLimits:
    """What one server accepts: bytes per upload, pixels per image, requests admitted at once (in inference or
    waiting for it; one more gets 503 at once) and inference threads."""

    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    queue: int = 16
    threads: int = 1

    def __post_init__(self):
        for name in ("max_upload_bytes", "max_pixels", "queue", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
