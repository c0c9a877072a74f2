"""The weight-free spotter: a threshold fitted on training videos, applied to new ones.

``Spotter().fit(train_videos, truth)`` computes each training video's motion signal once and
chooses the threshold ``p`` (noise deviations above the video's median) and the merge gap that
maximise F1 on those videos alone; ``spot(video)`` applies them. Without ``fit`` the defaults
of :class:`~mefuse.spotting.intervals.IntervalRule` apply (``fitted`` is False). Test videos
must never be passed to ``fit``: that is the point of fitting on training videos only.

A video is a video file, a frame folder (its ``fps`` must be given: a folder has no rate), or
any iterable of frames with its ``fps``. Frames are read one at a time (see
:mod:`mefuse.spotting.signal`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse.data.frames import FrameSource, VideoSource, open_frames
from mefuse.errors import ConfigError, DataError
from mefuse.spotting.evaluation import overall_f1
from mefuse.spotting.intervals import COLUMNS, IntervalRule, find_intervals
from mefuse.spotting.signal import MotionSignal, SignalConfig, check_fps, motion_signal

P_GRID: tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0)
"""Thresholds tried by :meth:`Spotter.fit`."""
MERGE_GRID: tuple[float, ...] = (0.2, 0.3, 0.5, 0.7)
"""Merge gaps (seconds) tried by :meth:`Spotter.fit`."""

Video = str | Path | FrameSource | Iterable[np.ndarray]


def open_video(video: Video, fps: float | None) -> tuple[Iterable[np.ndarray], float, int | None,
                                                          FrameSource | None]:
    """Frames, rate, length (None when unknown) and the source to close, for any video.

    The rate of a video file is read from its container unless ``fps`` overrides it; a frame
    folder or an array needs ``fps``."""
    source: FrameSource | None = None
    if isinstance(video, str | Path):
        source = open_frames(video)
    elif isinstance(video, FrameSource):
        source = video
    if source is not None:
        if fps is None:
            if not isinstance(source, VideoSource) or not source.fps:
                source.close()
                where = "the video file records none" if isinstance(source, VideoSource) else \
                    "a frame folder has no frame rate"
                raise ConfigError(f"{source.path}: give the frame rate with --fps ({where})")
            fps = source.fps
        try:
            fps = check_fps(fps)
        except ConfigError:
            source.close()
            raise
        return source.iter_frames(), fps, len(source), source
    if fps is None:
        raise ConfigError("give the frame rate (fps) of frames passed as an array")
    length = len(video) if isinstance(video, Sized) else None
    return video, check_fps(fps), length, None  # type: ignore[return-value]


@dataclass
class FitResult:
    """What :meth:`Spotter.fit` chose and the training F1 of every candidate."""

    p: float
    merge_seconds: float
    f1: float
    table: pd.DataFrame
    """One row per (p, merge_seconds) candidate with its training F1."""


@dataclass
class Spotter:
    """Spot ME and MaE intervals in long videos (see the module docstring)."""

    signal_config: SignalConfig = field(default_factory=SignalConfig)
    rule: IntervalRule = field(default_factory=IntervalRule)
    fitted: bool = False

    def signal(self, video: Video, fps: float | None = None, *,
               progress: Callable[[int], None] | None = None) -> MotionSignal:
        """The motion signal of one video, read as a stream."""
        frames, rate, _, source = open_video(video, fps)
        try:
            return motion_signal(frames, rate, self.signal_config, progress=progress)
        finally:
            if source is not None:
                source.close()

    def intervals(self, signal: MotionSignal, video: str = "video") -> pd.DataFrame:
        """The spotted intervals of a computed signal (columns :data:`COLUMNS`)."""
        return find_intervals(signal.values, signal.fps, signal.k, self.rule, video)

    def spot(self, video: Video, fps: float | None = None, *, name: str | None = None,
             progress: Callable[[int], None] | None = None) -> pd.DataFrame:
        """Intervals of one video: ``video``, ``onset``, ``apex``, ``offset`` (0-based frame
        positions), ``type`` (``ME``/``MaE``) and ``score`` (peak height in noise
        deviations)."""
        if name is None:
            name = Path(video).stem if isinstance(video, str | Path) else "video"
        return self.intervals(self.signal(video, fps, progress=progress), name)

    def fit(self, videos: Mapping[str, MotionSignal | tuple[Video, float | None]],
            truth: pd.DataFrame, *, scorer: Callable[[pd.DataFrame, pd.DataFrame], float]
            = overall_f1, p_grid: Sequence[float] = P_GRID,
            merge_grid: Sequence[float] = MERGE_GRID) -> FitResult:
        """Choose ``p`` and the merge gap by F1 on training ``videos`` (name -> computed signal
        or ``(video, fps)``; ``truth`` has the spotting columns, ``video`` naming them).

        Among equally good candidates the middle ``p`` is taken (a threshold in the middle of
        a plateau carries to new videos better than one at its edge). ``scorer`` is any
        ``(pred, truth) -> float``; the default is the overall F1 at IoU >= 0.5."""
        missing = {"video", "onset", "offset", "type"} - set(truth.columns)
        if missing:
            raise DataError(f"the truth table lacks column(s) {', '.join(sorted(missing))}")
        if not videos:
            raise DataError("fit needs at least one training video")
        signals = {name: item if isinstance(item, MotionSignal) else self.signal(*item)
                   for name, item in videos.items()}
        truth = truth[truth["video"].isin(list(signals))]
        rows = []
        for merge in merge_grid:
            for p in p_grid:
                rule = dataclasses.replace(self.rule, p=float(p), merge_seconds=float(merge))
                pred = pd.concat([find_intervals(s.values, s.fps, s.k, rule, name)
                                  for name, s in signals.items()], ignore_index=True)
                rows.append({"p": float(p), "merge_seconds": float(merge),
                             "f1": float(scorer(pred, truth)), "intervals": len(pred)})
        table = pd.DataFrame(rows)
        best = table[np.isclose(table["f1"], table["f1"].max())]
        chosen = best.iloc[len(best) // 2]
        self.rule = dataclasses.replace(self.rule, p=float(chosen["p"]),
                                        merge_seconds=float(chosen["merge_seconds"]))
        self.fitted = True
        return FitResult(self.rule.p, self.rule.merge_seconds, float(chosen["f1"]), table)

    # ----------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        return {"signal": dataclasses.asdict(self.signal_config),
                "rule": dataclasses.asdict(self.rule), "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spotter:
        try:
            return cls(SignalConfig(**data.get("signal", {})), IntervalRule(**data.get("rule", {})),
                       bool(data.get("fitted", False)))
        except TypeError as exc:
            raise ConfigError(f"not a spotter's settings: {exc}") from exc


__all__ = ["COLUMNS", "FitResult", "Spotter", "open_video"]
