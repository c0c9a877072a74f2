"""Temporal sampling: the paper's uniform frame indices.

``uniform_indices(n, k)`` gives ``round(i * (n - 1) / (k - 1))`` for ``i = 0 .. k-1`` (rounding
half up, as the authors' code does, not Python's half-to-even). When ``n < k`` the same rule
repeats the nearest frames, so short clips are stretched evenly rather than padded at the end.
"""

from __future__ import annotations

import numpy as np


def uniform_indices(n: int, k: int) -> np.ndarray:
    """``k`` frame indices spread uniformly over ``n`` frames (int64, non-decreasing)."""
    if n < 1:
        raise ValueError(f"cannot sample from a clip of {n} frames")
    if k < 1:
        raise ValueError(f"cannot sample {k} frames")
    if k == 1:
        return np.zeros(1, dtype=np.int64)
    positions = np.arange(k, dtype=np.float64) * (n - 1) / (k - 1)
    return np.floor(positions + 0.5).astype(np.int64)


def resample(array: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` frames of ``array`` (frames first) at :func:`uniform_indices`."""
    return array[uniform_indices(len(array), k)]
