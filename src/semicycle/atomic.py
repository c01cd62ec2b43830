"""Atomic file writes: the content goes to a temporary file in the same folder, which is then renamed
over the target. A reader, a second process or a crash sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object], *, fsync: bool = False) -> Path:
    """Call ``write(handle)`` on a fresh temporary file beside ``path``, then rename it over ``path``.

    Each call has its own temporary name, so concurrent writers never share one; if ``write`` raises,
    the temporary file is removed and ``path`` is left as it was. ``fsync`` flushes the data to disk
    before the rename (checkpoints), so that a power cut cannot leave an empty file under the name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temp, "xb") as handle:
            write(handle)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see `atomic_write`."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))
