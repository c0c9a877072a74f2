"""Features of a list of clips, ready for the model: :meth:`FeatureStore.load_modalities`.

Loading happens once per run: every clip of every modality is read from the store, checked
(:meth:`FeatureStore.load` names a bad clip), resampled to T frames and stacked into a
``(clips, T, dim)`` array per modality. Resampling is the paper's uniform one, or with
``sampling="apex"`` the apex-anchored one (:func:`mefuse.preprocess.sampling.apex_indices`),
whose apex is each clip's ``apex_row`` in the quality table (:meth:`FeatureStore.apex_rows`).
Folds then index these arrays, so cross-validation never touches the disk again. It lives with
the store because only the store knows its layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mefuse.errors import DataError
from mefuse.preprocess.sampling import sample_indices

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
    sampling: str = "uniform",
) -> ModalityData:
    """Read ``modalities`` for ``clip_ids`` from the store and resample each clip to ``frames``
    (``sampling``: ``uniform`` or ``apex``)."""
    store.require()
    if not store.extractor_keys():
        raise DataError(f"feature store {store.root} is empty: it has no extractor folder with "
                        ".npy files (expected <store>/<extractor>/<clip_id>.npy)")
    if not clip_ids:
        raise DataError("no clips to load")
    if sampling not in ("uniform", "apex"):
        raise DataError(f"unknown sampling {sampling!r}; use uniform or apex")
    apexes = store.apex_rows(clip_ids) if sampling == "apex" else {}
    arrays = []
    for name in modalities:
        stacked: np.ndarray | None = None
        # a clip-level modality (apexflow's phases, apeximage) has no frames to centre: its
        # rows are resampled uniformly whatever the sampling
        modality_sampling = sampling if per_frame(store, name) else "uniform"
        # Clip by clip, so that only the resampled frames stay in memory, never a whole
        # modality at its stored length (60-frame clips of 1536-d features add up).
        for index, clip in enumerate(clip_ids):
            (features,) = store.load(name, [clip], expect_dim=None if stacked is None
                                     else (stacked.shape[-1], clip_ids[0]))
            if stacked is None:
                stacked = np.empty((len(clip_ids), frames, features.shape[1]), np.float32)
            rows = sample_indices(
                len(features), frames, modality_sampling,
                _apex_row(store, name, clip, apexes, len(features))
                if modality_sampling == "apex" else None)
            stacked[index] = features[rows]
        assert stacked is not None  # clip_ids is not empty
        arrays.append(stacked)
    return ModalityData(list(modalities), arrays, list(clip_ids))


def per_frame(store: FeatureStore, name: str) -> bool:
    """Whether ``name``'s rows are frames (every per-frame extractor) rather than phases of
    the clip (its manifest's ``params.per_frame`` is false: ``apexflow``, ``apeximage``)."""
    params = store.info(name).manifest.get("params") or {}
    return bool(params.get("per_frame", True))


def _apex_row(store: FeatureStore, name: str, clip: str, apexes: dict[str, int],
              length: int) -> int | None:
    """The clip's apex row in this modality's array (None for uniform sampling).

    ``apex_row`` counts the rows of the clip's stored arrays (extraction records the row it
    kept when it stores fewer frames than it read); a row past this array's end means the
    features and the quality table disagree, an error that names the clip.
    """
    if clip not in apexes:
        return None
    row = apexes[clip]
    if row >= length:
        raise DataError(f"clip {clip}: its apex row {row} (quality.csv) is past the end of its "
                        f"{length} rows of {name!r} in {store.root}; extract it again")
    return row
