"""The experiments' locks: one per run (a pid file: one worker trains a run) and flock for shared files."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


class RunLock:
    """``RUN/.experiment.lock`` holding the pid: two processes never train the same run at once."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".experiment.lock"
        self.held = False

    def owner(self) -> str:
        try:
            return self.path.read_text().strip()
        except FileNotFoundError:
            return "?"

    def _alive(self) -> bool:
        try:
            host, pid = self.owner().split(":")
            if host != socket.gethostname():
                return True  # cannot check another machine's process: respect its lock
            os.kill(int(pid), 0)
            return True
        except (ValueError, ProcessLookupError):
            return False
        except PermissionError:
            return True

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = f"{socket.gethostname()}:{os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if self._alive():
                    return False
                self.path.unlink(missing_ok=True)  # stale lock of a dead process
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(me)
            self.held = True
            return True
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


@contextlib.contextmanager
def exclusive_lock(lock_path: Path):
    """An advisory lock (flock) on ``lock_path`` for the duration of the block; a no-op where the OS has no flock."""
    try:
        import fcntl
    except ImportError:  # Windows: no mutual exclusion, but every write is atomic, so each file stays whole
        yield
        return
    with open(lock_path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
