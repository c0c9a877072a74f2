"""Temporal sampling: the paper's uniform frame indices, and apex-anchored ones.

``uniform_indices(n, k)`` gives ``i * (n - 1) / (k - 1)`` for ``i = 0 .. k-1`` rounded half
up. The 4DMR authors' code used Python's ``round()``, which rounds half to even, so at exact
halves the two differ by one frame (``n = 6, k = 3``: mefuse 0, 3, 5; theirs 0, 2, 5); half up
is kept deliberately, since half to even makes the spacing depend on the parity of the index.
When ``n < k`` the same rule repeats the nearest frames, so short clips are stretched evenly;
the authors' code repeated the last frame instead.

``apex_indices(n, k, apex)`` (``--sampling apex``, beyond the paper) puts the clip's apex at
the same place in every sampled clip, so that position ``k // 2`` of the model's input is the
apex whatever the clip's length or the apex's place in it. The first sampled frame is the
onset (row 0) and the last the offset (row ``n - 1``); each side is sampled uniformly by the
same half-up rule::

    p = k // 2
    index[i]     = round_half_up(i * apex / p)                         for i = 0 .. p
    index[p + j] = apex + round_half_up(j * (n - 1 - apex) / (k - 1 - p))  for j = 0 .. k-1-p

Edge cases, all following from the rule: an apex on the first row makes the first half that
row repeated (and one on the last row the second half); a clip shorter than a side repeats
its frames, as uniform sampling does; ``k = 1`` is the apex alone and ``k = 2`` is
``[0, apex]`` (the apex keeps its place, the offset gives way). With ``n = k`` and the apex in
the middle row both rules take every frame once.
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


def apex_indices(n: int, k: int, apex: int) -> np.ndarray:
    """``k`` frame indices over ``n`` frames with ``apex`` at position ``k // 2``, row 0 first
    and row ``n - 1`` last (from ``k = 3``), each side uniform (int64, non-decreasing; the
    module docstring gives the rule and its edge cases)."""
    if n < 1:
        raise ValueError(f"cannot sample from a clip of {n} frames")
    if k < 1:
        raise ValueError(f"cannot sample {k} frames")
    if not 0 <= apex < n:
        raise ValueError(f"apex row {apex} is outside the clip's {n} rows")
    middle = k // 2
    if middle == 0:
        return np.array([apex], dtype=np.int64)
    left = np.arange(middle + 1, dtype=np.float64) * apex / middle
    right_steps = k - 1 - middle
    right = (apex + np.arange(1, right_steps + 1, dtype=np.float64) * (n - 1 - apex)
             / max(right_steps, 1))
    return np.floor(np.concatenate([left, right]) + 0.5).astype(np.int64)


def sample_indices(n: int, k: int, sampling: str = "uniform", apex: int | None = None
                   ) -> np.ndarray:
    """The ``k`` indices of ``sampling`` (``uniform`` or ``apex``, which needs ``apex``)."""
    if sampling == "uniform":
        return uniform_indices(n, k)
    if sampling == "apex":
        if apex is None:
            raise ValueError("apex sampling needs the clip's apex row")
        return apex_indices(n, k, apex)
    raise ValueError(f"unknown sampling {sampling!r}; use uniform or apex")
