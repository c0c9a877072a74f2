"""What every spotter offers (:class:`Spotter`), the checks of its input, and the
leave-one-subject-out evaluation that scores any spotter the same way.

A spotter is fitted on labelled long videos and then spots intervals in one video at a time.
Its input is a *per-frame signal*: for each video a float array ``(T, D)`` (one row per frame
in the video's frame order, one column per face region or feature), the video's frame rate,
and, for fitting, the truth interval table of :mod:`mefuse.data.intervals`. Both the
weight-free spotter (thresholds set on training videos) and the learned one
(:mod:`mefuse.spotting.learned`) have this shape, so :func:`evaluate_loso` compares them on
equal terms.

Why leave one *subject* out: a person's videos share their face, their tics and their lighting;
a spotter fitted on some of a person's videos and tested on another would be scored on
something it has half seen. MEGC's spotting results are per held-out person in the same way.
The predictions of all folds are pooled and scored once by
:func:`~mefuse.spotting.evaluation.evaluate_spotting` (counts summed over videos, as MEGC does),
not averaged per fold.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mefuse.data.intervals import check_intervals
from mefuse.errors import ConfigError, DataError
from mefuse.spotting.evaluation import IOU_THRESHOLD, SpottingScores, evaluate_spotting

PREDICTION_COLUMNS = ("video", "onset", "apex", "offset", "type", "score")
"""The columns a spotter's :meth:`Spotter.spot` returns (an interval table with apex and score)."""


@runtime_checkable
class Spotter(Protocol):
    """The interface every mefuse spotter implements (weight-free and learned alike).

    - ``fit(signals, fps, truth) -> self``: ``signals`` maps a video id to its per-frame signal
      ``(T, D)``; ``fps`` maps the same ids to frame rates; ``truth`` is an interval table
      (``video, onset, offset, type``; positions 0-based, inclusive) naming only videos of
      ``signals`` (videos without a row have no expression). Thresholds and any learned
      parameters come from these videos only.
    - ``spot(signal, fps, video) -> DataFrame``: the intervals spotted in one video, columns
      ``video, onset, apex, offset, type, score`` (:data:`PREDICTION_COLUMNS`), row order =
      the order in which the MEGC matching takes them. An empty table when nothing is found.

    A spotter whose ``fit`` also takes a ``groups`` keyword (video id -> subject) gets it from
    :func:`evaluate_loso`, so that its own inner splits can keep a person's videos together.
    """

    def fit(self, signals: Mapping[str, np.ndarray], fps: Mapping[str, float],
            truth: pd.DataFrame) -> Any: ...

    def spot(self, signal: np.ndarray, fps: float, video: str) -> pd.DataFrame: ...


def check_signal(signal: Any, video: str) -> np.ndarray:
    """``signal`` as a float64 array ``(T, D)`` (a 1-D signal becomes one column), or a DataError.

    NaN or infinite values are refused: they usually mean a frame without a face, and a spotter
    that silently skipped them would shift every position after them.
    """
    try:
        array = np.asarray(signal, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"video {video!r}: the per-frame signal is not a numeric array") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"video {video!r}: the per-frame signal must have shape (frames, "
                        f"features) with both > 0, got {array.shape}")
    bad = ~np.isfinite(array)
    if bad.any():
        frames = np.flatnonzero(bad.any(axis=1))
        shown = ", ".join(str(f) for f in frames[:5]) + (" ..." if len(frames) > 5 else "")
        raise DataError(f"video {video!r}: the per-frame signal holds NaN or infinite values "
                        f"at {len(frames)} frame(s) ({shown}); fill or drop them before spotting")
    return array


def check_fps(value: Any, video: str) -> float:
    """A video's frame rate as a positive finite float, or a ConfigError naming the video."""
    try:
        fps = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"video {video!r}: frame rate {value!r} is not a number") from None
    if not math.isfinite(fps) or fps <= 0:
        raise ConfigError(f"video {video!r}: frame rate must be > 0, got {value!r}")
    return fps


def check_videos(signals: Mapping[str, Any], fps: Mapping[str, Any], truth: pd.DataFrame,
                 ) -> tuple[dict[str, np.ndarray], dict[str, float], pd.DataFrame]:
    """Checked copies of a fit's inputs: every signal finite, every video with a frame rate,
    every truth row naming a known video, within its frames (an offset past the end is clipped
    to the last frame: a signal may stop a frame or two before the video does)."""
    if not signals:
        raise DataError("no videos given: a spotter needs at least one labelled video")
    arrays = {str(v): check_signal(s, str(v)) for v, s in signals.items()}
    missing = [v for v in arrays if v not in fps]
    if missing:
        raise DataError(f"no frame rate for video(s) {', '.join(missing[:5])}")
    rates = {v: check_fps(fps[v], v) for v in arrays}
    table = check_intervals(truth, "ground truth")
    unknown = sorted(set(table["video"]) - set(arrays))
    if unknown:
        raise DataError(f"ground truth names video(s) without a signal: "
                        f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}")
    lengths = table["video"].map({v: a.shape[0] for v, a in arrays.items()})
    outside = table[table["onset"] >= lengths]
    if not outside.empty:
        row = outside.iloc[0]
        raise DataError(f"ground truth: video {row['video']!r} has an interval starting at frame "
                        f"{int(row['onset'])}, but its signal has {int(lengths[outside.index[0]])} "
                        f"frames ({len(outside)} such row(s))")
    table["offset"] = np.minimum(table["offset"], lengths - 1).astype("int64")
    return arrays, rates, table


def empty_predictions() -> pd.DataFrame:
    """A prediction table without rows (what a spotter returns when it finds nothing)."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("onset", "apex", "offset") else
                                      "float64" if c == "score" else object)
                         for c in PREDICTION_COLUMNS})


@dataclass(frozen=True)
class LosoResult:
    """What :func:`evaluate_loso` found: the pooled ``predictions`` (every video's spotted
    intervals, with a ``subject`` column), their ``scores`` against the whole truth, and
    ``folds``: one row per held-out subject with its videos and its own counts (diagnosis
    only; the score is the pooled one)."""

    predictions: pd.DataFrame
    scores: SpottingScores
    folds: pd.DataFrame


def _takes_groups(spotter: Any) -> bool:
    try:
        return "groups" in inspect.signature(spotter.fit).parameters
    except (TypeError, ValueError):
        return False


def evaluate_loso(features: Mapping[str, Any], fps: Mapping[str, Any], truth: pd.DataFrame,
                  subjects: Mapping[str, Any], spotter_factory: Callable[[], Spotter], *,
                  threshold: float = IOU_THRESHOLD,
                  progress: Callable[[str], None] | None = None) -> LosoResult:
    """Leave-one-subject-out spotting: for each subject, a fresh spotter from
    ``spotter_factory()`` is fitted on the *other* subjects' videos (their signals, frame
    rates and truth rows only) and spots the held-out subject's videos. All predictions are
    pooled and scored once by :func:`evaluate_spotting` (IoU ``threshold``, MEGC's 0.5).

    ``features`` maps video id -> per-frame signal ``(T, D)``; ``fps`` and ``subjects`` map the
    same ids to a frame rate and a subject. Needs at least two subjects. ``progress`` receives
    one line per fold.
    """
    signals, rates, table = check_videos(features, fps, truth)
    missing = [v for v in signals if v not in subjects or subjects[v] is None
               or str(subjects[v]) == ""]
    if missing:
        raise DataError(f"no subject for video(s) {', '.join(missing[:5])}: leave-one-subject-"
                        "out needs every video's subject")
    owner = {v: str(subjects[v]) for v in signals}
    people = list(dict.fromkeys(owner[v] for v in signals))
    if len(people) < 2:
        raise DataError(f"leave-one-subject-out needs at least 2 subjects, the videos have "
                        f"{len(people)}")
    parts: list[pd.DataFrame] = []
    rows: list[dict[str, Any]] = []
    for person in people:
        test = [v for v in signals if owner[v] == person]
        train = [v for v in signals if owner[v] != person]
        spotter = spotter_factory()
        train_truth = table[table["video"].isin(train)].reset_index(drop=True)
        args = ({v: signals[v] for v in train}, {v: rates[v] for v in train}, train_truth)
        if _takes_groups(spotter):
            fit: Any = spotter.fit              # the protocol's fit, plus ``groups``
            fit(*args, groups={v: owner[v] for v in train})
        else:
            spotter.fit(*args)
        found = [spotter.spot(signals[v], rates[v], v) for v in test]
        fold = pd.concat([f for f in found if not f.empty] or [empty_predictions()],
                         ignore_index=True)
        fold["subject"] = person
        parts.append(fold)
        fold_truth = table[table["video"].isin(test)]
        counts = evaluate_spotting(fold[list(PREDICTION_COLUMNS)], fold_truth,
                                   threshold=threshold).overall
        rows.append({"subject": person, "videos": len(test), "truth": len(fold_truth),
                     "spotted": len(fold), "tp": counts.tp, "fp": counts.fp, "fn": counts.fn})
        if progress is not None:
            progress(f"subject {person}: {len(test)} video(s), {len(fold)} spotted, "
                     f"{counts.tp} correct of {len(fold_truth)}")
    predictions = pd.concat([p for p in parts if not p.empty] or [parts[0]], ignore_index=True)
    scores = evaluate_spotting(predictions, table, threshold=threshold)
    return LosoResult(predictions=predictions, scores=scores, folds=pd.DataFrame(rows))


__all__ = ["PREDICTION_COLUMNS", "LosoResult", "Spotter", "check_fps", "check_signal",
           "check_videos", "empty_predictions", "evaluate_loso"]
