"""Features of the clips of a clip table, ready for the model.

Loading happens once per run: every clip of every modality is read from the store, checked
(:meth:`FeatureStore.load` names a bad clip), resampled to T frames and stacked into a
``(clips, T, dim)`` array per modality. Folds then index these arrays, so cross-validation never
touches the disk again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mefuse.errors import DataError
from mefuse.preprocess.sampling import resample
from mefuse.store import FeatureStore


@dataclass
class ModalityData:
    """Stacked, resampled features of several modalities for one list of clips."""

    names: list[str]
    arrays: list[np.ndarray]
    """One float32 ``(clips, T, dim_m)`` array per modality."""
    clip_ids: list[str]

    @property
    def dims(self) -> list[int]:
        return [a.shape[-1] for a in self.arrays]

    def take(self, index: np.ndarray) -> ModalityData:
        return ModalityData(self.names, [a[index] for a in self.arrays],
                            [self.clip_ids[i] for i in index])


def load_modalities(
    store: str | Path | FeatureStore, clip_ids: Sequence[str], modalities: Sequence[str],
    frames: int,
) -> ModalityData:
    """Read ``modalities`` for ``clip_ids`` from the store and resample each clip to ``frames``."""
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if not store.root.is_dir():
        raise DataError(f"feature store {store.root} does not exist")
    if not store.extractor_keys():
        raise DataError(f"feature store {store.root} is empty: it has no extractor folder with "
                        ".npy files (expected <store>/<extractor>/<clip_id>.npy)")
    if not clip_ids:
        raise DataError("no clips to load")
    arrays = []
    for name in modalities:
        stacked: np.ndarray | None = None
        # Clip by clip, so that only the resampled frames stay in memory, never a whole
        # modality at its stored length (60-frame clips of 1536-d features add up).
        for index, clip in enumerate(clip_ids):
            (features,) = store.load(name, [clip], expect_dim=None if stacked is None
                                     else (stacked.shape[-1], clip_ids[0]))
            if stacked is None:
                stacked = np.empty((len(clip_ids), frames, features.shape[1]), np.float32)
            stacked[index] = resample(features, frames)
        assert stacked is not None  # clip_ids is not empty
        arrays.append(stacked)
    return ModalityData(list(modalities), arrays, list(clip_ids))


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
