"""Features of a list of clips, ready for the model: :meth:`FeatureStore.load_modalities`.

Loading happens once per run: every clip of every modality is read from the store, checked
(:meth:`FeatureStore.load` names a bad clip), resampled to T frames and stacked into a
``(clips, T, dim)`` array per modality. Folds then index these arrays, so cross-validation never
touches the disk again. It lives with the store because only the store knows its layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mefuse.errors import DataError
from mefuse.preprocess.sampling import resample

if TYPE_CHECKING:
    from mefuse.store.feature_store import FeatureStore


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
    store: FeatureStore, clip_ids: Sequence[str], modalities: Sequence[str], frames: int,
) -> ModalityData:
    """Read ``modalities`` for ``clip_ids`` from the store and resample each clip to ``frames``."""
    store.require()
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
