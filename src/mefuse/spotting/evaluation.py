"""The MEGC spotting evaluation, and MEGC 2025's spot-then-recognise score (STRS).

Rules (MEGC 2019-2025 spotting; the STRS script of the MEGC 2025 STR task, Liong, See and
Chan's "STRS-Metric", whose README defines STRS as the product of the two F1 scores):

- IoU on frame counts with inclusive bounds: ``|A & B| / |A | B|`` where an interval
  ``[onset, offset]`` holds ``offset - onset + 1`` frames (``[0, 4]`` vs ``[0, 9]`` is 5/10).
- A spotted interval is a true positive when its IoU with a ground-truth interval of the *same
  type* (ME or MaE) in the same video is ``>= 0.5``. Each ground truth is matched once.
  Matching is greedy as in the official script: predictions in their row order, each taking the
  first still-unmatched ground truth (in the truth's row order) that passes the threshold. A
  later prediction on an already matched truth is a false positive.
- Precision, recall and F1 per type and overall, from TP, FP and FN *summed over all videos*
  (not averaged per video). An empty denominator gives 0, not an error.

Where this differs from the STRS script, on purpose (each a corner case, each documented in
docs/guide/spotting.md):

- the script lets one prediction claim *several* ground truths (it keeps looping after a
  match); here a prediction matches at most one, so TP + FP is the number of spotted
  intervals, as MEGC's ``precision = TP / n`` (n = spotted intervals) assumes;
- the script only visits videos of subjects that have predictions, so a subject with none
  loses its false negatives; here every ground-truth video counts, and a prediction in a video
  with no ground truth is a false positive;
- per-emotion counts use a 2x2 confusion that the script's ``confusion_matrix(...).ravel()``
  turns into zeros when only one value occurs (a perfectly recognised emotion then scores 0);
  here the counts are taken directly;
- the script reports the mean *precision* as "UAR"; here UAR is the mean recall.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mefuse.data.intervals import TYPES, check_intervals, expression_type
from mefuse.errors import ConfigError

IOU_THRESHOLD = 0.5
"""MEGC's threshold: a prediction is correct when its IoU with the truth is at least this."""


def interval_iou(a_onset: int, a_offset: int, b_onset: int, b_offset: int) -> float:
    """IoU of two inclusive frame intervals, counted in frames (0.0 when disjoint)."""
    inter = min(a_offset, b_offset) - max(a_onset, b_onset) + 1
    if inter <= 0:
        return 0.0
    union = (a_offset - a_onset + 1) + (b_offset - b_onset + 1) - inter
    return inter / union


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives, and the scores they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 0 when nothing was spotted."""
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 0 when there is no ground truth."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall; 0 when both are 0."""
        return _f1(self.precision, self.recall)

    def to_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": self.precision,
                "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class SpottingScores:
    """What :func:`evaluate_spotting` found.

    ``by_type`` holds ``ME`` and ``MaE`` (always both, zeros where a type is absent);
    ``overall`` is their sum; ``by_video`` the counts of each video (for diagnosis only: the
    scores are *not* averages of these). ``matches`` lists the true positives: ``video``,
    ``type``, ``pred`` and ``truth`` (row numbers in the tables given), ``iou``.
    ``extra_videos`` names videos that have predictions but no ground truth (their predictions
    count as false positives).
    """

    by_type: dict[str, Counts]
    overall: Counts
    by_video: dict[str, Counts]
    matches: pd.DataFrame
    threshold: float = IOU_THRESHOLD
    extra_videos: tuple[str, ...] = ()

    @property
    def f1(self) -> float:
        """Overall F1 (the MEGC ranking score)."""
        return self.overall.f1

    def table(self) -> pd.DataFrame:
        """One row per type and ``overall``: tp, fp, fn, precision, recall, f1."""
        rows = {**{t: c.to_dict() for t, c in self.by_type.items()},
                "overall": self.overall.to_dict()}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per type, overall, the threshold and the videos without ground truth."""
        return {**{t: c.to_dict() for t, c in self.by_type.items()},
                "overall": self.overall.to_dict(), "iou_threshold": self.threshold,
                "videos_without_truth": list(self.extra_videos)}


def match_intervals(pred: pd.DataFrame, truth: pd.DataFrame, *,
                    threshold: float = IOU_THRESHOLD) -> pd.DataFrame:
    """The true-positive pairs of two *checked* interval tables (see module docstring).

    Columns ``video, type, pred, truth, iou``; ``pred``/``truth`` are row positions.
    """
    rows: list[dict[str, Any]] = []
    truth_groups = {key: group for key, group in truth.groupby(["video", "type"], sort=False)}
    for key, group in pred.groupby(["video", "type"], sort=False):
        candidates = truth_groups.get(key)
        if candidates is None:
            continue
        truth_rows = list(zip(candidates.index, candidates["onset"], candidates["offset"],
                              strict=True))
        taken: set[int] = set()
        for p_row, p_on, p_off in zip(group.index, group["onset"], group["offset"],
                                      strict=True):
            for t_row, t_on, t_off in truth_rows:
                if t_row in taken:
                    continue
                iou = interval_iou(int(p_on), int(p_off), int(t_on), int(t_off))
                if iou >= threshold:
                    taken.add(t_row)
                    rows.append({"video": key[0], "type": key[1], "pred": int(p_row),
                                 "truth": int(t_row), "iou": iou})
                    break
    return pd.DataFrame(rows, columns=["video", "type", "pred", "truth", "iou"])


def _checked_threshold(threshold: float) -> float:
    if not 0.0 < float(threshold) <= 1.0:
        raise ConfigError(f"IoU threshold must be in (0, 1], got {threshold}")
    return float(threshold)


def _only_types(frame: pd.DataFrame, types: Sequence[str] | None) -> pd.DataFrame:
    if types is None:
        return frame
    return frame[frame["type"].isin(list(types))].reset_index(drop=True)


def _wanted_types(types: Iterable[str] | str | None) -> tuple[str, ...] | None:
    if types is None:
        return None
    names = [types] if isinstance(types, str) else list(types)
    out = []
    for name in names:
        kind = expression_type(name)
        if kind is None:
            raise ConfigError(f"expression type {name!r} is neither ME nor MaE")
        out.append(kind)
    return tuple(dict.fromkeys(out))


def evaluate_spotting(pred: pd.DataFrame, truth: pd.DataFrame, *,
                      threshold: float = IOU_THRESHOLD,
                      types: Iterable[str] | str | None = None) -> SpottingScores:
    """Score spotted intervals against the ground truth, MEGC's way.

    ``pred`` and ``truth`` are interval tables (``video, onset, offset, type``; see
    :mod:`mefuse.data.intervals`), positions 0-based and inclusive. ``types`` keeps only the
    named types on both sides (``"ME"`` for an ME-only track). Raises ``DataError`` naming the
    bad rows of either table.
    """
    threshold = _checked_threshold(threshold)
    wanted = _wanted_types(types)
    pred = _only_types(check_intervals(pred, "predictions"), wanted)
    truth = _only_types(check_intervals(truth, "ground truth"), wanted)
    matches = match_intervals(pred, truth, threshold=threshold)
    by_type: dict[str, Counts] = {}
    for kind in wanted or TYPES:
        tp = int((matches["type"] == kind).sum())
        by_type[kind] = Counts(tp, int((pred["type"] == kind).sum()) - tp,
                               int((truth["type"] == kind).sum()) - tp)
    by_video: dict[str, Counts] = {}
    for video in dict.fromkeys([*truth["video"], *pred["video"]]):
        tp = int((matches["video"] == video).sum())
        by_video[video] = Counts(tp, int((pred["video"] == video).sum()) - tp,
                                 int((truth["video"] == video).sum()) - tp)
    overall = sum(by_type.values(), Counts())
    extra = tuple(sorted(set(pred["video"]) - set(truth["video"])))
    return SpottingScores(by_type=by_type, overall=overall, by_video=by_video, matches=matches,
                          threshold=threshold, extra_videos=extra)


@dataclass(frozen=True)
class STRScores:
    """What :func:`str_score` found: the spotting part, the analysis part and their product.

    ``analysis_f1`` is the harmonic mean of the macro (per-emotion mean) precision and recall
    over the correctly spotted intervals, as the STRS script computes it; ``uf1`` (mean of the
    per-emotion F1) and ``uar`` (mean per-emotion recall) are reported beside it.
    """

    strs: float
    spotting: SpottingScores
    analysis_precision: float
    analysis_recall: float
    analysis_f1: float
    uf1: float
    uar: float
    by_emotion: dict[str, Counts] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"strs": self.strs, "spotting": self.spotting.to_dict(),
                "analysis": {"precision": self.analysis_precision,
                             "recall": self.analysis_recall, "f1": self.analysis_f1,
                             "uf1": self.uf1, "uar": self.uar,
                             "by_emotion": {e: c.to_dict() for e, c in self.by_emotion.items()}}}


def _emotion(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip().lower()


def str_score(pred: pd.DataFrame, truth: pd.DataFrame, *,
              emotions: Sequence[str] | None = None, threshold: float = IOU_THRESHOLD,
              types: Iterable[str] | str | None = None) -> STRScores:
    """MEGC 2025's spot-then-recognise score: ``STRS = spotting F1 x analysis F1``.

    Both tables need an ``emotion`` column (compared case-insensitively). Spotting is scored by
    :func:`evaluate_spotting` (``types="ME"`` for the ME-only STR track). The analysis part looks
    only at the true-positive pairs whose *true* emotion is one of ``emotions`` (default: the
    emotions of the ground truth): for each emotion, one-vs-rest TP / FP / FN over those pairs;
    precision and recall are averaged over the emotions and ``analysis_f1`` is their harmonic
    mean.
    """
    for frame, what in ((pred, "predictions"), (truth, "ground truth")):
        if isinstance(frame, pd.DataFrame) and "emotion" not in frame.columns and not (
                what == "predictions" and frame.empty):
            raise ConfigError(f"{what}: the spot-then-recognise score needs an 'emotion' column")
    spotting = evaluate_spotting(pred, truth, threshold=threshold, types=types)
    pred_c = _only_types(check_intervals(pred, "predictions"), _wanted_types(types))
    truth_c = _only_types(check_intervals(truth, "ground truth"), _wanted_types(types))
    pred_emotion = [_emotion(v) for v in pred_c.get("emotion", pd.Series(dtype=object))]
    true_emotion = [_emotion(v) for v in truth_c["emotion"]]
    classes = list(dict.fromkeys(_emotion(e) for e in emotions) if emotions is not None
                   else dict.fromkeys(e for e in true_emotion if e))
    pairs = [(true_emotion[t], pred_emotion[p]) for p, t in
             zip(spotting.matches["pred"], spotting.matches["truth"], strict=True)
             if true_emotion[t] in classes]
    by_emotion = {}
    for emotion in classes:
        tp = sum(1 for t, p in pairs if t == emotion and p == emotion)
        fp = sum(1 for t, p in pairs if t != emotion and p == emotion)
        fn = sum(1 for t, p in pairs if t == emotion and p != emotion)
        by_emotion[emotion] = Counts(tp, fp, fn)
    n = len(by_emotion)
    precision = _ratio(sum(c.precision for c in by_emotion.values()), n)
    recall = _ratio(sum(c.recall for c in by_emotion.values()), n)
    uf1 = _ratio(sum(c.f1 for c in by_emotion.values()), n)
    analysis_f1 = _f1(precision, recall)
    return STRScores(strs=spotting.f1 * analysis_f1, spotting=spotting,
                     analysis_precision=precision, analysis_recall=recall,
                     analysis_f1=analysis_f1, uf1=uf1, uar=recall, by_emotion=by_emotion)


def f1_by_type(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """F1 of ``ME``, ``MaE`` and ``overall`` under :func:`evaluate_spotting` (a spotter's fit
    objective and the demo's table need only these three numbers)."""
    scores = evaluate_spotting(pred, truth)
    return {**{t: c.f1 for t, c in scores.by_type.items()}, "overall": scores.f1}


def overall_f1(pred: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Overall F1 under :func:`evaluate_spotting`: the default objective of a spotter's fit."""
    return evaluate_spotting(pred, truth).f1


__all__ = ["IOU_THRESHOLD", "Counts", "STRScores", "SpottingScores", "evaluate_spotting",
           "f1_by_type", "interval_iou", "match_intervals", "overall_f1", "str_score"]
