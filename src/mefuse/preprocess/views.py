"""Camera views: the 4DMR frames hold two synchronised views side by side.

Each frame is cut at ``width // 2`` (as the paper does) into a left and a right half, and each
half is treated as its own clip; sequence-level scores merge them again. Other datasets have one
view per frame (``none`` keeps the whole frame as the view ``full``). The default, ``auto``,
splits only datasets known to hold two cameras side by side: halving a single-camera frame
gives half a face and a black or empty other half.
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


VIEWS_HELP = ("auto (split into halves only for side-by-side two-camera datasets: 4dmr), both, "
              "left, right or none (one full view)")
"""The ``--views`` help text shared by ``extract`` and ``check-data``."""

SIDE_BY_SIDE: frozenset[str] = frozenset({"4dmr"})
"""Dataset adapters whose frames hold two camera views side by side."""


def resolve_views(choice: str, dataset: str | None) -> str:
    """The ``--views`` choice to use: ``auto`` is ``both`` for a side-by-side dataset and
    ``none`` (one full view) for every other one, including a ready clip table."""
    if choice != "auto":
        views_for(choice)
        return choice
    return "both" if dataset is not None and dataset.lower() in SIDE_BY_SIDE else "none"


def describe_views(choice: str) -> str:
    """What a resolved ``--views`` choice does to each frame, in words (for reports)."""
    return {
        "both": "each frame is split into left and right halves (two cameras side by side)",
        "left": "only the left half of each frame is used",
        "right": "only the right half of each frame is used",
        "none": "each frame is one full view (no split)",
    }[choice]


def views_for(choice: str) -> tuple[str, ...]:
    """The view names that a ``--views`` choice produces."""
    try:
        return VIEW_CHOICES[choice]
    except KeyError:
        raise ConfigError(
            f"unknown views {choice!r}; choose from auto, {', '.join(VIEW_CHOICES)}"
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
