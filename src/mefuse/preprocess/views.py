"""Camera views: the 4DMR frames hold two synchronised views side by side.

Each frame is cut at ``width // 2`` (as the paper does) into a left and a right half, and each
half is treated as its own clip; sequence-level scores merge them again. Other datasets have one
view per frame (``none`` keeps the whole frame as the view ``full``).
"""

from __future__ import annotations

import numpy as np

from mefuse.errors import ConfigError

VIEW_CHOICES: dict[str, tuple[str, ...]] = {
    "both": ("left", "right"),
    "left": ("left",),
    "right": ("right",),
    "none": ("full",),
}


def views_for(choice: str) -> tuple[str, ...]:
    """The view names that a ``--views`` choice produces."""
    try:
        return VIEW_CHOICES[choice]
    except KeyError:
        raise ConfigError(
            f"unknown views {choice!r}; choose from {', '.join(VIEW_CHOICES)}"
        ) from None


def split_view(frame: np.ndarray, view: str) -> np.ndarray:
    """The part of ``frame`` (H, W[, C]) that shows ``view``: a view, not a copy."""
    width = frame.shape[1]
    if view == "left":
        return frame[:, : width // 2]
    if view == "right":
        return frame[:, width // 2 :]
    if view == "full":
        return frame
    raise ConfigError(f"unknown view {view!r}")
