"""Exceptions with one-line messages that name the offending file or key and the fix."""


class SemicycleError(Exception):
    """Base class for every error semicycle raises on purpose."""


class DataError(SemicycleError, ValueError):
    """A data file or folder cannot be used as it is (corrupt, wrong size, empty, ...)."""


class ConfigError(SemicycleError, ValueError):
    """A configuration value or key is invalid."""


class CheckpointError(SemicycleError, ValueError):
    """A checkpoint is missing, unreadable or incompatible with the requested run."""


class TrainingDiverged(SemicycleError, FloatingPointError):
    """A loss or the training state became NaN/Inf; the last finite checkpoint is kept."""
