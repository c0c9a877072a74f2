"""Fit on a whole store and score new clips: the plumbing behind ``mefuse train`` and
``mefuse predict`` (and the challenge submission)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mefuse.data.clips import ClipTable, read_clip_csv
from mefuse.errors import DataError
from mefuse.store import CONFIG_FIELDS, FeatureStore
from mefuse.train.config import TrainConfig
from mefuse.train.memory import advice, check_memory, estimate_memory
from mefuse.train.metrics import merge_views
from mefuse.train.trainer import TrainedModel
from mefuse.utils.progress import progress_bar


def fit_on_store(store: FeatureStore | str | Path, clips: ClipTable, config: TrainConfig,
                 seed: int = 0, *, progress: bool = False) -> TrainedModel:
    """Train on every labelled clip of ``clips``; record the extractors' provenance (the
    store manifests' extractor, parameters, weights and preprocessing, which let
    ``mefuse predict`` rebuild the pipeline on new videos)."""
    feature_store = FeatureStore.open(store)  # the door's store (a path: opened, for scripts)
    labelled = clips.subset(clips.labelled)
    if len(labelled) == 0:
        raise DataError("the clip table has no labelled clip to train on")
    data = feature_store.load_modalities(labelled.clip_ids, config.modalities,
                                         config.model.frames, config.model.sampling)
    check_memory(estimate_memory(config, data.dims, len(labelled), labelled.labels.shape[1]),
                 config.device, hint=advice())
    estimator = TrainedModel(config, seed=seed)
    with warnings.catch_warnings(), progress_bar("train", config.optim.epochs, progress,
                                                 unit="epochs") as advance:
        warnings.simplefilter("always")
        estimator.on_epoch = lambda epoch, loss: advance(1, description=f"loss {loss:.3f}")
        estimator.fit(data, labelled.labels, sequence_ids=labelled.frame["sequence_id"].tolist(),
                      classes=list(labelled.classes), context="training data",
                      groups=labelled.frame["subject"].tolist())
        estimator.on_epoch = None
    estimator.provenance = {
        "extractors": {m: {f: feature_store.info(m).manifest.get(f) for f in CONFIG_FIELDS}
                       for m in config.modalities},
        "n_clips": len(labelled),
    }
    return estimator


def predict_store(model: str | Path | TrainedModel, store: FeatureStore | str | Path,
                  clips: str | Path | ClipTable | None = None, *, views: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-clip and per-sequence probabilities and decisions for the clips of a store.

    Refuses a store whose extractors were configured differently from the training store's
    (features of another model or crop would be scored as if they were the same). ``views``:
    the camera layout the user chose for the store's inputs (``predict --views``), accepted
    in place of the training data's.
    """
    estimator = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    feature_store = FeatureStore.open(store)  # the door's store (a path: opened, for scripts)
    config = estimator.config
    for name in config.modalities:
        trained = estimator.provenance.get("extractors", {}).get(name)
        current = {f: feature_store.info(name).manifest.get(f) for f in CONFIG_FIELDS}
        if trained is not None and views is not None and trained.get("preprocess"):
            trained = {**trained, "preprocess": {**trained["preprocess"], "views": views}}
        if trained is not None and trained != current:
            from mefuse.utils.diff import describe_differences

            differences = describe_differences(trained, current, "model", "store")
            raise DataError(
                f"extractor {name!r} in {feature_store.root} was configured differently from "
                f"the one the model was trained on ({differences}); extract again with the model's "
                "settings, e.g. 'mefuse predict --model MODEL VIDEO_OR_FOLDER ...', which reads "
                "them from the model file"
            )
    table = _clip_table(feature_store, clips, estimator)
    data = feature_store.load_modalities(table.clip_ids, config.modalities, config.model.frames,
                                         config.model.sampling)
    probabilities = estimator.predict_proba(data)
    decisions = estimator.decide(probabilities)
    clip_frame = table.frame[["clip_id", "sequence_id", "view", "subject"]].copy()
    for c, name in enumerate(estimator.classes):
        clip_frame[f"p_{name}"] = probabilities[:, c]
    for c, name in enumerate(estimator.classes):
        clip_frame[name] = decisions[:, c]
    sequences, merged_p, _ = merge_views(clip_frame, probabilities, decisions)
    merged_d = estimator.decide(merged_p)  # single-label: one class per sequence
    sequence_frame = pd.DataFrame({"sequence_id": sequences})
    for c, name in enumerate(estimator.classes):
        sequence_frame[f"p_{name}"] = merged_p[:, c]
    for c, name in enumerate(estimator.classes):
        sequence_frame[name] = merged_d[:, c].astype(np.int64)
    if "source" in table.frame.columns:  # which file each prediction is about
        clip_frame["source"] = table.frame["source"].to_numpy()
        first = clip_frame.drop_duplicates("sequence_id").set_index("sequence_id")["source"]
        sequence_frame["source"] = sequence_frame["sequence_id"].map(first).to_numpy()
    return clip_frame, sequence_frame


def _clip_table(store: FeatureStore, clips: str | Path | ClipTable | None,
                estimator: TrainedModel) -> ClipTable:
    if isinstance(clips, ClipTable):
        return clips
    path = Path(clips) if clips is not None else store.clips_path
    if path.exists() or clips is not None:
        return ClipTable.for_prediction(read_clip_csv(path), estimator.classes, source=str(path))
    common = set.intersection(*(set(store.clip_ids(m)) for m in estimator.config.modalities))
    if not common:
        raise DataError(f"no clip in {store.root} has all of {estimator.config.modalities}")
    ids = sorted(common)
    frame = pd.DataFrame({"clip_id": ids, "sequence_id": ids, "view": "full", "subject": "?"})
    return ClipTable.for_prediction(frame, estimator.classes, source=str(store.root))
