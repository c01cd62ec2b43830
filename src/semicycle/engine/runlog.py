"""The run's loss log (JSONL, one record per ``log_every`` iterations) and its figures."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_write_text


class LossLog:
    """Append-only JSONL log; resuming trims records written after the checkpoint."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def trim_after(self, iteration: int) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self._lines() if json.loads(line)["iter"] <= iteration]
        atomic_write_text(self.path, "".join(line + "\n" for line in kept))

    def write(self, record: dict) -> None:
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self._lines()]

    def _lines(self) -> list[str]:
        """The records' lines; a last line cut short by a kill during its append is dropped."""
        lines = [line for line in self.path.read_text().splitlines() if line.strip()]
        if lines:
            try:
                json.loads(lines[-1])
            except json.JSONDecodeError:
                lines.pop()
        return lines
