"""Spot then recognise: each spotted interval of a long video classified by a trained model.

MEGC 2025's STR task: the spotter (:mod:`mefuse.spotting`) finds the intervals, each interval
(``ME`` ones by default: the models of ``mefuse train`` are trained on micro-expression clips)
is cut from the video as a clip of its frames ``onset..offset``, and the clip goes through the
same path as ``mefuse predict`` on a frame folder (:func:`mefuse.inference.predict_inputs`: the
model's own extractors and preprocessing, rebuilt from its manifest). The class probabilities
become ``p_<class>`` columns of the interval table; an interval whose clip could not be scored
(no face in its crop, say) keeps empty probabilities and its reason in ``recognise_error``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mefuse.data.frames import FrameSource, open_frames
from mefuse.errors import DataError
from mefuse.inference import input_name, predict_inputs
from mefuse.predictions import Predictions
from mefuse.train.trainer import TrainedModel


def clip_name(row: Any) -> str:
    """The clip folder of one interval (its name is the clip's sequence id)."""
    return f"{row.video}_{int(row.onset):06d}_{int(row.offset):06d}"


def write_interval_clips(video: str | Path | FrameSource | np.ndarray, intervals: pd.DataFrame,
                         folder: Path) -> list[Path]:
    """Each interval's frames ``onset..offset`` as a folder of PNG frames under ``folder``."""
    source = open_frames(video) if isinstance(video, str | Path) else video
    try:
        paths = []
        for row in intervals.itertuples():
            path = folder / clip_name(row)
            path.mkdir(parents=True, exist_ok=True)
            onset, offset = int(row.onset), int(row.offset)  # type: ignore[arg-type]
            for index in range(onset, offset + 1):
                frame = source[index] if isinstance(source, np.ndarray) else source.read(index)
                rgb = np.asarray(frame)
                bgr = rgb[:, :, ::-1] if rgb.ndim == 3 else rgb
                cv2.imwrite(str(path / f"frame_{index:06d}.png"), np.ascontiguousarray(bgr),
                            [cv2.IMWRITE_PNG_COMPRESSION, 1])
            paths.append(path)
    finally:
        if isinstance(video, str | Path):
            source.close()  # type: ignore[union-attr]
    return paths


def recognise_intervals(
    video: str | Path | FrameSource | np.ndarray, intervals: pd.DataFrame,
    model: str | Path | TrainedModel, *, types: Sequence[str] = ("ME",),
    predict: Callable[..., Predictions] = predict_inputs, **predict_options: Any,
) -> pd.DataFrame:
    """``intervals`` (one video's spotting table) with ``p_<class>`` columns for the rows whose
    ``type`` is in ``types``; ``predict_options`` go to :func:`predict_inputs` (``views``,
    ``device``, ``progress``, ...)."""
    estimator = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    out = intervals.reset_index(drop=True).copy()
    for name in estimator.classes:
        out[f"p_{name}"] = np.nan
    out["recognise_error"] = ""
    chosen = out[out["type"].isin(list(types))]
    if chosen.empty:
        return out
    with tempfile.TemporaryDirectory(prefix="mefuse-spot-") as scratch:
        folders = write_interval_clips(video, chosen, Path(scratch))
        try:
            result = predict(estimator, folders, **predict_options)
        except DataError as exc:  # no clip could be featurised at all
            out.loc[chosen.index, "recognise_error"] = str(exc)
            return out
    sequences = result.sequences.set_index("sequence_id")
    for index, path in zip(chosen.index, folders, strict=True):
        key = input_name(path)
        if key in sequences.index:
            for name in estimator.classes:
                out.loc[index, f"p_{name}"] = float(sequences.loc[key, f"p_{name}"])  # type: ignore[arg-type]
        else:
            out.loc[index, "recognise_error"] = next(
                (f"{f.stage}: {f.reason}" for f in result.failures
                 if f.clip_id == key or f.clip_id.startswith(f"{key}_")), "not scored")
    return out


def recognise_predictions(predictions: pd.DataFrame, sources: Mapping[str, str | Path],
                          model: str | Path | TrainedModel, **options: Any) -> pd.DataFrame:
    """A pooled prediction table (many videos; ``sources`` maps each video id to its file or
    frame folder) with ``p_<class>`` columns and ``emotion``, the most probable class, for the
    recognised rows (empty elsewhere): what :func:`~mefuse.spotting.str_score` compares with
    the truth's emotions. ``options`` go to :func:`recognise_intervals`."""
    estimator = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    parts = []
    for video, rows in predictions.groupby("video", sort=False):
        if video not in sources:
            raise DataError(f"no source for video {video!r}: cannot cut its intervals")
        parts.append(recognise_intervals(sources[str(video)], rows, estimator, **options))
    out = (pd.concat(parts, ignore_index=True) if parts
           else predictions.assign(**{f"p_{c}": np.nan for c in estimator.classes}))
    columns = [f"p_{c}" for c in estimator.classes]
    scored = out[columns].notna().all(axis=1)
    out["emotion"] = ""
    if scored.any():
        best = out.loc[scored, columns].to_numpy().argmax(axis=1)
        out.loc[scored, "emotion"] = [estimator.classes[i] for i in best]
    return out
