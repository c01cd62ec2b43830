"""The package version (pyproject.toml holds the same), importable by the layers below the package front."""

__version__ = "0.1.0"
