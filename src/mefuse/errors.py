"""Exceptions that carry a message meant for the user.

Every error that a user can cause by what they give mefuse (a path, a file, a configuration)
derives from :class:`MefuseError`, so that the CLI can print its message alone, without a
traceback, and exit with status 2.
"""


class MefuseError(Exception):
    """An error caused by the user's input; its message says what is wrong and how to fix it."""


class DataError(MefuseError):
    """A clip table, frame source or feature file is missing, malformed or inconsistent."""


class ConfigError(MefuseError):
    """A configuration value or file is invalid."""


class StoreConfigMismatch(MefuseError):
    """A feature store holds features made with another configuration."""

    difference: str = ""
    """The differing fields, one per line (set where the mismatch is found)."""


class WeightsNotFound(MefuseError):
    """A model's weights are not where the user said, nor in a hub cache."""


class StorageError(MefuseError):
    """A file could not be written: read-only folder, no permission, disk full.

    The message names the path and the cause; files written before it stay intact (every write
    is atomic), so the same command can be run again once the cause is fixed.
    """


class InvalidArrayError(DataError, ValueError):
    """An array given to the Python API (``X``, ``y``) has a wrong shape, type or value.

    Also a ``ValueError``: scikit-learn's estimator contract (and code written against it, such
    as ``GridSearchCV(error_score=...)``) expects one for non-finite values and wrong shapes.
    """


class NonNumericArrayError(InvalidArrayError, TypeError):
    """An array that should hold numbers holds something else (a dict, a string).

    Also a ``TypeError``, as numpy and scikit-learn raise for such input.
    """


class TrainingDiverged(MefuseError):
    """Training produced a loss or weights that are NaN or infinite (a learning rate too high,
    features with extreme values): the model would score nothing, so the run stops."""
