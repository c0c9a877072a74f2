"""Temporal sampling: the paper's uniform frame indices.

``uniform_indices(n, k)`` gives ``i * (n - 1) / (k - 1)`` for ``i = 0 .. k-1`` rounded half
up. The 4DMR authors' code used Python's ``round()``, which rounds half to even, so at exact
halves the two differ by one frame (``n = 6, k = 3``: mefuse 0, 3, 5; theirs 0, 2, 5); half up
is kept deliberately, since half to even makes the spacing depend on the parity of the index.
When ``n < k`` the same rule repeats the nearest frames, so short clips are stretched evenly;
the authors' code repeated the last frame instead.
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
