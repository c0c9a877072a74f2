"""Features of the clips of a clip table, ready for the model, and their standardiser.

Loading is the store's (:meth:`mefuse.store.FeatureStore.load_modalities`, which returns a
:class:`ModalityData`); :func:`load_modalities` is kept for callers that hold a path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mefuse.store import FeatureStore
from mefuse.store.loading import ModalityData

__all__ = ["ModalityData", "Standardiser", "load_modalities"]


def load_modalities(
    store: str | Path | FeatureStore, clip_ids: Sequence[str], modalities: Sequence[str],
    frames: int,
) -> ModalityData:
    """:meth:`FeatureStore.load_modalities` of ``store`` (a path is opened first)."""
    feature_store = store if isinstance(store, FeatureStore) else FeatureStore.open(store)
    return feature_store.load_modalities(clip_ids, modalities, frames)


class Standardiser:
    """Per-feature mean and standard deviation, fitted on training frames only."""

    def __init__(self, mean: list[np.ndarray] | None = None,
                 std: list[np.ndarray] | None = None) -> None:
        self.mean = mean or []
        self.std = std or []

    def fit(self, arrays: Sequence[np.ndarray]) -> Standardiser:
        self.mean, self.std = [], []
        for array in arrays:
            flat = array.reshape(-1, array.shape[-1])
            self.mean.append(flat.mean(axis=0, dtype=np.float64).astype(np.float32))
            std = flat.std(axis=0, dtype=np.float64)
            # Constant features (a zeroed coefficient) would divide by zero; leave them at 0.
            self.std.append(np.where(std > 1e-8, std, 1.0).astype(np.float32))
        return self

    def transform(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        if len(arrays) != len(self.mean):
            raise ValueError(f"fitted on {len(self.mean)} modalities, got {len(arrays)}")
        return [(a - m) / s for a, m, s in zip(arrays, self.mean, self.std, strict=True)]
