"""Paths in configs: ``~``, environment variables, and ``$SEMICYCLE_DATA`` (default ../shared/data)."""

from __future__ import annotations

import os

DEFAULT_DATA_ROOT = "../shared/data"


def expand_path(value: str) -> str:
    """Expand ``~`` and environment variables; ``$SEMICYCLE_DATA`` defaults to ../shared/data."""
    if "SEMICYCLE_DATA" in value and "SEMICYCLE_DATA" not in os.environ:
        value = value.replace("${SEMICYCLE_DATA}", DEFAULT_DATA_ROOT).replace("$SEMICYCLE_DATA", DEFAULT_DATA_ROOT)
    return os.path.expanduser(os.path.expandvars(value))
