"""The learned spotter: a per-frame classifier over multi-scale temporal features, trained on
labelled long videos, whose scores become intervals at a threshold set on training videos.

Input: per video a per-frame signal ``(T, D)`` (the weight-free spotter's regional motion
signal, or any per-frame features), its frame rate, and the truth interval table.

Design, and why:

- **Per-video robust normalisation** (median / MAD of each column): people, cameras and
  lighting give motion signals of very different levels; what marks an expression is a change
  against the video's own background, not an absolute value.
- **Features in seconds, not frames.** For each time scale (0.1 to 3.2 s) the signal is
  averaged over a centred window of that many seconds and a slow trend (an 8 s average) is
  subtracted; per scale the frame gets the maximum and the mean over the regions (an ME often
  moves one region only) and a band-pass value (this scale minus the next one: high for a bump
  of about this length, low for longer motion). A 1-frame spike (a blink, a glitch) is large
  at one frame only and small at every scale, an ME is large at 0.1-0.4 s, a
  macro-expression at 0.8-3.2 s, a slow drift nowhere after the trend is removed. Because
  every window is a number of seconds, a 30 fps and a 200 fps video give the same features.
  Each value is compressed by ``sign(x) log(1 + |x|)`` so that a linear model sees *ratios*
  between scales (the shape of a bump) rather than its height.
- **Per-frame targets**: each frame is ``none``, ``ME`` or ``MaE`` (inside an interval of that
  type), frames within 0.05 s of an interval's border count half (where the truth's own border
  is uncertain). Classes are weighted inversely to their frequency: ME frames are rare.
- **The model**: multinomial logistic regression (scikit-learn, fixed regularisation and
  iterations). A few dozen labelled videos hold a few dozen MEs; a model with ~60 parameters
  learns from that without overfitting, fits in well under a second and is stored exactly as
  JSON (no pickle). The non-linear work is done by the fixed filter bank above.
- **Intervals**: the expression score ``P(ME) + P(MaE)``, lightly smoothed (0.1 s), is
  thresholded; each run of frames above it is one interval (runs shorter than 0.1 s are
  dropped), its type the one with the larger summed probability over the run (the type head),
  its apex the frame of the highest score, its score that highest value.
- **The threshold** is the one giving the best overall F1 (MEGC scoring) on the *training*
  videos, from out-of-fold scores: the training videos are split in three (by subject when
  :func:`~mefuse.spotting.loso.evaluate_loso` passes ``groups``), each part scored by a model
  fitted on the other two, and the final model is fitted on all. Scores a model gives its own
  training frames are over-confident, which would set the threshold too high. The held-out
  video is never seen: everything is fixed by :meth:`LearnedSpotter.fit`.

Save and load (:meth:`LearnedSpotter.save`, :meth:`LearnedSpotter.load`) write and read plain
JSON: settings, scaler, coefficients, threshold.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mefuse.data.intervals import MAE, ME
from mefuse.errors import ConfigError, DataError
from mefuse.spotting.evaluation import evaluate_spotting
from mefuse.spotting.loso import (
    PREDICTION_COLUMNS,
    check_fps,
    check_signal,
    check_videos,
    empty_predictions,
)
from mefuse.utils.atomic import write_json
from mefuse.utils.jsonfile import read_json_object

FORMAT = "mefuse-learned-spotter"
VERSION = 1
CLASSES: tuple[str, str, str] = ("none", ME, MAE)
"""The per-frame classes, in the order of the model's outputs."""


@dataclass(frozen=True)
class LearnedSettings:
    """The fixed settings of a :class:`LearnedSpotter` (all times in seconds)."""

    scales_s: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
    trend_s: float = 8.0
    smooth_s: float = 0.1
    min_duration_s: float = 0.1
    border_s: float = 0.05
    border_weight: float = 0.5
    c: float = 1.0
    max_iter: int = 300
    inner_folds: int = 3
    thresholds: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(2, 20))

    def __post_init__(self) -> None:
        problems = []
        if not self.scales_s or any(not (s > 0 and math.isfinite(s)) for s in self.scales_s):
            problems.append(f"scales_s must be positive seconds, got {self.scales_s}")
        for name in ("trend_s", "smooth_s", "c"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                problems.append(f"{name} must be > 0, got {value}")
        if self.min_duration_s < 0 or self.border_s < 0:
            problems.append("min_duration_s and border_s must be >= 0")
        if not 0 <= self.border_weight <= 1:
            problems.append(f"border_weight must be in [0, 1], got {self.border_weight}")
        if self.max_iter < 1:
            problems.append(f"max_iter must be >= 1, got {self.max_iter}")
        if self.inner_folds == 1 or self.inner_folds < 0:
            problems.append(f"inner_folds must be 0 (threshold from the training scores) or >= 2,"
                            f" got {self.inner_folds}")
        if not self.thresholds or any(not 0 < t < 1 for t in self.thresholds):
            problems.append(f"thresholds must lie in (0, 1), got {self.thresholds}")
        if problems:
            raise ConfigError("learned spotter settings: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LearnedSettings:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"learned spotter settings: unknown field(s) {', '.join(unknown)}")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                                  for k, v in data.items()}
        return cls(**values)


def _frames(seconds: float, fps: float) -> int:
    return max(1, round(seconds * fps))


def robust_normalise(signal: np.ndarray) -> np.ndarray:
    """Each column centred on its median and divided by its MAD (scaled to a standard
    deviation); a column without spread (MAD 0) falls back to its standard deviation, then 1."""
    median = np.median(signal, axis=0)
    centred = signal - median
    spread = 1.4826 * np.median(np.abs(centred), axis=0)
    std = centred.std(axis=0)
    spread = np.where(spread > 1e-12, spread, np.where(std > 1e-12, std, 1.0))
    return centred / spread


def _compress(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


def frame_features(signal: np.ndarray, fps: float, settings: LearnedSettings) -> np.ndarray:
    """The per-frame feature matrix ``(T, F)`` the model reads (see the module docstring).

    ``F = 1 + 3 * len(settings.scales_s)``: the raw frame's largest regional value, then per
    scale the regional maximum, the regional mean and the regional maximum of the band-pass.
    """
    x = robust_normalise(signal)
    trend = uniform_filter1d(x, _frames(settings.trend_s, fps), axis=0, mode="nearest")
    detrended = x - trend
    levels = [uniform_filter1d(x, _frames(s, fps), axis=0, mode="nearest") - trend
              for s in settings.scales_s]
    levels.append(np.zeros_like(x))
    columns = [detrended.max(axis=1)]
    for level, coarser in itertools.pairwise(levels):
        columns += [level.max(axis=1), level.mean(axis=1), (level - coarser).max(axis=1)]
    return _compress(np.stack(columns, axis=1))


def frame_targets(n_frames: int, truth: pd.DataFrame, fps: float,
                  settings: LearnedSettings) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame class (0 none, 1 ME, 2 MaE) and sample weight (``border_weight`` within
    ``border_s`` of an interval's border). An ME overlapping a MaE keeps the ME frames."""
    labels = np.zeros(n_frames, dtype=np.int64)
    weights = np.ones(n_frames, dtype=np.float64)
    border = round(settings.border_s * fps)
    rows = sorted(zip(truth["onset"], truth["offset"], truth["type"], strict=True),
                  key=lambda r: r[2] == ME)          # MaE first, so MEs overwrite
    for onset, offset, kind in rows:
        onset, offset = int(onset), min(int(offset), n_frames - 1)
        labels[onset:offset + 1] = CLASSES.index(kind)
        if border:
            for edge in (onset, offset):
                weights[max(0, edge - border):edge + border + 1] = settings.border_weight
    return labels, weights


def scores_to_intervals(probabilities: np.ndarray, fps: float, video: str, threshold: float,
                        settings: LearnedSettings) -> pd.DataFrame:
    """Intervals from per-frame class probabilities ``(T, 3)``: runs where the smoothed
    expression score ``P(ME) + P(MaE)`` exceeds ``threshold`` (see the module docstring)."""
    expression = 1.0 - probabilities[:, 0]
    expression = uniform_filter1d(expression, _frames(settings.smooth_s, fps), mode="nearest")
    above = np.concatenate([[False], expression > threshold, [False]])
    edges = np.flatnonzero(np.diff(above.astype(np.int8)))
    min_frames = settings.min_duration_s * fps
    rows = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start < min_frames:
            continue
        run = slice(start, stop)
        kind = ME if probabilities[run, 1].sum() >= probabilities[run, 2].sum() else MAE
        peak = int(start + np.argmax(expression[run]))
        rows.append({"video": video, "onset": int(start), "apex": peak, "offset": int(stop - 1),
                     "type": kind, "score": float(expression[peak])})
    if not rows:
        return empty_predictions()
    return pd.DataFrame(rows, columns=list(PREDICTION_COLUMNS))


@dataclass(eq=False)
class _Model:
    """The fitted numbers: a standardiser and a multinomial logistic regression."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray          # (3, F)
    intercept: np.ndarray     # (3,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        with threadpool_limits(1):
            return self._probabilities(features)

    def _probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


def _fit_model(features: list[np.ndarray], labels: list[np.ndarray], weights: list[np.ndarray],
               settings: LearnedSettings) -> _Model:
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate(features)
    y = np.concatenate(labels)
    w = np.concatenate(weights)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    counts = np.bincount(y, minlength=len(CLASSES)).astype(np.float64)
    present = counts > 0
    class_weight = np.where(present, len(y) / (present.sum() * np.maximum(counts, 1)), 0.0)
    model = LogisticRegression(C=settings.c, max_iter=settings.max_iter)
    # One BLAS thread: these matrices are small, and on a busy machine a multi-threaded BLAS
    # makes this fit ~50x slower (measured: 93 s instead of 2 s on 2 shared cores).
    with threadpool_limits(1):
        model.fit((x - mean) / scale, y, sample_weight=w * class_weight[y])
    coef = np.zeros((len(CLASSES), x.shape[1]))
    intercept = np.full(len(CLASSES), -1e3)            # an absent class is never predicted
    known = model.classes_.astype(int)
    if len(known) == 2:                                # binary: sklearn keeps one row
        coef[known[1]], intercept[known[1]] = model.coef_[0], model.intercept_[0]
        coef[known[0]], intercept[known[0]] = 0.0, 0.0
    else:
        coef[known], intercept[known] = model.coef_, model.intercept_
    return _Model(mean=mean, scale=scale, coef=coef, intercept=intercept)


def _inner_parts(videos: list[str], groups: Mapping[str, Any] | None, folds: int,
                 ) -> list[list[str]]:
    """``folds`` parts of the training videos, whole groups (subjects) per part when given;
    round-robin in first-seen order so that the split is deterministic."""
    keys = [str(groups.get(v, v)) if groups is not None else v for v in videos]
    order = list(dict.fromkeys(keys))
    n = min(folds, len(order))
    part_of = {key: i % n for i, key in enumerate(order)}
    return [[v for v, k in zip(videos, keys, strict=True) if part_of[k] == i] for i in range(n)]


@dataclass(eq=False)
class LearnedSpotter:
    """Spots ME and MaE intervals with a per-frame classifier learned from labelled videos.

    Implements the :class:`~mefuse.spotting.loso.Spotter` protocol: ``fit(signals, fps,
    truth)`` then ``spot(signal, fps, video)``. See the module docstring for the design.
    """

    settings: LearnedSettings = field(default_factory=LearnedSettings)
    threshold: float | None = None
    n_regions: int | None = None
    _model: _Model | None = field(default=None, repr=False)

    @property
    def fitted(self) -> bool:
        return self._model is not None and self.threshold is not None

    def fit(self, signals: Mapping[str, Any], fps: Mapping[str, Any], truth: pd.DataFrame, *,
            groups: Mapping[str, Any] | None = None) -> LearnedSpotter:
        """Learn the classifier and set the threshold from these videos only.

        ``groups`` (video -> subject), optional, keeps each subject's videos in one inner part
        when the threshold is chosen on out-of-fold scores.
        """
        arrays, rates, table = check_videos(signals, fps, truth)
        widths = {a.shape[1] for a in arrays.values()}
        if len(widths) > 1:
            raise DataError(f"the videos' signals have different widths {sorted(widths)}: a "
                            "spotter learns one kind of signal")
        if table.empty:
            raise DataError("the ground truth has no interval: the learned spotter needs "
                            "labelled expressions to learn from")
        s = self.settings
        videos = list(arrays)
        by_video = {v: g for v, g in table.groupby("video", sort=False)}
        empty = table.iloc[0:0]
        feats, labels, weights = {}, {}, {}
        for v in videos:
            feats[v] = frame_features(arrays[v], rates[v], s)
            labels[v], weights[v] = frame_targets(len(feats[v]), by_video.get(v, empty), rates[v],
                                                  s)
        # Training rows at about 30 per second: a 200 fps video does not outweigh a 30 fps one.
        stride = {v: max(1, round(rates[v] / 30.0)) for v in videos}

        def fit_on(names: list[str]) -> _Model:
            return _fit_model([feats[v][::stride[v]] for v in names],
                              [labels[v][::stride[v]] for v in names],
                              [weights[v][::stride[v]] for v in names], s)

        model = fit_on(videos)
        probabilities: dict[str, np.ndarray] = {}
        parts = _inner_parts(videos, groups, s.inner_folds) if s.inner_folds else []
        if len(parts) >= 2:
            for part in parts:
                rest = [v for v in videos if v not in set(part)]
                if not (table["video"].isin(rest)).any():
                    rest = videos                  # no labels outside this part: fall back
                inner = fit_on(rest)
                probabilities.update({v: inner.probabilities(feats[v]) for v in part})
        else:
            probabilities = {v: model.probabilities(feats[v]) for v in videos}
        self.threshold = self._best_threshold(probabilities, rates, table)
        self.n_regions = widths.pop()
        self._model = model
        return self

    def _best_threshold(self, probabilities: Mapping[str, np.ndarray],
                        rates: Mapping[str, float], truth: pd.DataFrame) -> float:
        """The threshold with the best pooled F1 on these videos (the middle one of a tie)."""
        results = []
        for threshold in self.settings.thresholds:
            found = [scores_to_intervals(p, rates[v], v, threshold, self.settings)
                     for v, p in probabilities.items()]
            pred = pd.concat([f for f in found if not f.empty] or [empty_predictions()],
                             ignore_index=True)
            results.append(evaluate_spotting(pred, truth).f1)
        best = max(results)
        ties = [t for t, f in zip(self.settings.thresholds, results, strict=True)
                if f >= best - 1e-12]
        return float(ties[len(ties) // 2])

    def frame_scores(self, signal: Any, fps: float, video: str = "video") -> np.ndarray:
        """Per-frame class probabilities ``(T, 3)`` (none, ME, MaE) of one video."""
        model = self._require_fitted()
        array = check_signal(signal, video)
        rate = check_fps(fps, video)
        if array.shape[1] != self.n_regions:
            raise DataError(f"video {video!r}: the signal has {array.shape[1]} column(s), the "
                            f"spotter was fitted on {self.n_regions}")
        return model.probabilities(frame_features(array, rate, self.settings))

    def spot(self, signal: Any, fps: float, video: str) -> pd.DataFrame:
        """The intervals spotted in one video (columns ``video, onset, apex, offset, type,
        score``, by onset)."""
        probabilities = self.frame_scores(signal, fps, video)
        assert self.threshold is not None
        return scores_to_intervals(probabilities, check_fps(fps, video), str(video),
                                   self.threshold, self.settings)

    def _require_fitted(self) -> _Model:
        if self._model is None or self.threshold is None:
            raise ConfigError("the learned spotter is not fitted: call fit(...) or load(...) "
                              "first")
        return self._model

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the fitted spotter (what :meth:`save` writes)."""
        model = self._require_fitted()
        return {"format": FORMAT, "version": VERSION, "settings": self.settings.to_dict(),
                "threshold": self.threshold, "n_regions": self.n_regions,
                "classes": list(CLASSES), "mean": model.mean.tolist(),
                "scale": model.scale.tolist(), "coef": model.coef.tolist(),
                "intercept": model.intercept.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], what: str = "learned spotter") -> LearnedSpotter:
        """The spotter :meth:`to_dict` described, or a DataError saying what is wrong."""
        if data.get("format") != FORMAT:
            raise DataError(f"{what}: not a learned spotter file (format "
                            f"{data.get('format')!r}, expected {FORMAT!r})")
        if data.get("version") != VERSION:
            raise DataError(f"{what}: version {data.get('version')!r} is not supported "
                            f"(this mefuse reads version {VERSION})")
        try:
            settings = LearnedSettings.from_dict(data["settings"])
            mean = np.asarray(data["mean"], dtype=np.float64)
            scale = np.asarray(data["scale"], dtype=np.float64)
            coef = np.asarray(data["coef"], dtype=np.float64)
            intercept = np.asarray(data["intercept"], dtype=np.float64)
            threshold = float(data["threshold"])
            n_regions = int(data["n_regions"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{what}: malformed ({type(exc).__name__}: {exc})") from None
        n_features = 1 + 3 * len(settings.scales_s)
        if (mean.shape != (n_features,) or scale.shape != (n_features,)
                or coef.shape != (len(CLASSES), n_features) or intercept.shape != (len(CLASSES),)
                or not all(np.isfinite(a).all() for a in (mean, scale, coef, intercept))
                or not 0 < threshold < 1 or n_regions < 1 or (scale <= 0).any()):
            raise DataError(f"{what}: the stored model's numbers do not fit its settings "
                            f"({n_features} features, 3 classes)")
        return cls(settings=settings, threshold=threshold, n_regions=n_regions,
                   _model=_Model(mean=mean, scale=scale, coef=coef, intercept=intercept))

    def save(self, path: str | Path) -> Path:
        """Write the fitted spotter as JSON (atomically); returns the path."""
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> LearnedSpotter:
        """Read a spotter written by :meth:`save`."""
        data = read_json_object(path, "learned spotter",
                                "fit the spotter again and save it")
        return cls.from_dict(data, f"learned spotter {path}")


__all__ = ["CLASSES", "LearnedSettings", "LearnedSpotter", "frame_features", "frame_targets",
           "robust_normalise", "scores_to_intervals"]
