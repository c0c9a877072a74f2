"""From a motion signal to spotted intervals: threshold, merge, type, score.

The threshold is relative to the video's own signal, ``median + p * MAD`` (MAD scaled to a
normal's standard deviation), because the signal's level depends on the camera, the face's size
in the frame and the noise: a fixed number would not carry from one video to the next, while
``p`` (a number of noise deviations) does, and is what :meth:`~mefuse.spotting.spotter.Spotter.fit`
chooses on training videos.

A frame's value compares it with the frame ``k`` earlier, so a movement from ``onset`` to
``offset`` raises the signal from about ``onset`` to about ``offset + k``; a macro-movement
raises it twice (on the way to the apex and back) with a dip between, which merging runs closer
than ``merge_seconds`` joins. An interval is therefore ``[start - pad, end - k + pad]`` of its
run above threshold, its apex the run's peak (for merged runs the middle of the widest dip,
where the skin rests at its apex) moved back by ``k / 2``, its type ``ME`` when it lasts under
``me_max_seconds`` (0.5 s, onset to offset) and ``MaE`` otherwise, and its score the peak's
height in noise deviations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mefuse.errors import ConfigError

COLUMNS = ["video", "onset", "apex", "offset", "type", "score"]
"""A spotting table's columns (frame positions are 0-based in the video's frame order)."""


@dataclass(frozen=True)
class IntervalRule:
    """How runs of the signal above threshold become intervals."""

    p: float = 10.0
    """Threshold in noise deviations above the median (fitted by ``Spotter.fit``; the default
    lies in the middle of the plateau that ``fit`` finds on the generated long videos of
    :mod:`mefuse.demo.long_videos`, 8 to 12)."""
    merge_seconds: float = 0.5
    """Runs closer than this are one interval (a macro-movement's way out and back)."""
    min_seconds: float = 0.1
    """Runs shorter than this are noise spikes."""
    me_max_seconds: float = 0.5
    max_seconds: float = 4.0
    """Longer runs are split no further but dropped (MEGC: expressions last under 4 s)."""
    pad_frames: int = 1
    smooth_frames: int = 3

    def check(self) -> None:
        if not np.isfinite(self.p) or self.p <= 0:
            raise ConfigError(f"threshold p must be > 0 noise deviations, got {self.p}")
        if self.merge_seconds < 0 or self.min_seconds < 0 or self.me_max_seconds <= 0:
            raise ConfigError("merge_seconds and min_seconds must be >= 0, me_max_seconds > 0")


def noise_level(values: np.ndarray, k: int) -> tuple[float, float]:
    """Median and scaled MAD of the signal (frames before ``k`` carry no value)."""
    used = values[k:] if len(values) > k else values
    if len(used) == 0:
        return 0.0, 1.0
    median = float(np.median(used))
    mad = 1.4826 * float(np.median(np.abs(used - median)))
    return median, max(mad, 1e-6 * max(abs(median), 1e-12), 1e-12)


def smooth(values: np.ndarray, frames: int) -> np.ndarray:
    """Moving average over ``frames`` (centred; 1 = unchanged)."""
    if frames <= 1 or len(values) < frames:
        return values.astype(np.float64)
    kernel = np.ones(frames) / frames
    return np.convolve(values.astype(np.float64), kernel, mode="same")


def runs_above(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive ``(start, end)`` of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(),
                    (np.flatnonzero(edges == -1) - 1).tolist(), strict=True))


def find_intervals(values: np.ndarray, fps: float, k: int, rule: IntervalRule = IntervalRule(),
                   video: str = "video") -> pd.DataFrame:
    """The spotted intervals of one video's signal (see the module docstring)."""
    rule.check()
    values = np.asarray(values, dtype=np.float64)
    signal = smooth(values, rule.smooth_frames)
    signal[:k] = 0.0
    median, mad = noise_level(signal, k)
    threshold = median + rule.p * mad
    runs = runs_above(signal > threshold)
    merged: list[list[int]] = []  # start, end, end of the first run, start of the widest gap
    gap = round(rule.merge_seconds * fps)
    for start, end in runs:
        if merged and start - merged[-1][1] - 1 <= gap:
            if start - merged[-1][1] > merged[-1][3] - merged[-1][2]:
                merged[-1][2:] = [merged[-1][1], start]
            merged[-1][1] = end
        else:
            merged.append([start, end, end, end])
    rows = []
    last = len(values) - 1
    for start, end, before_dip, after_dip in merged:
        if (end - start + 1) < max(1, round(rule.min_seconds * fps)):
            continue
        onset = max(0, start - rule.pad_frames)
        offset = min(last, max(onset + 1, end - k + rule.pad_frames))
        if (offset - onset + 1) / fps > rule.max_seconds:
            continue
        peak = start + int(np.argmax(signal[start:end + 1]))
        # the skin's way out and back: the widest dip between merged runs is the apex's
        # plateau (delayed by about k / 2, as every value); a single run peaks there itself
        centre = (before_dip + after_dip) // 2 if after_dip > before_dip else peak
        apex = int(np.clip(centre - k // 2, onset, offset))
        kind = "ME" if (offset - onset) / fps < rule.me_max_seconds else "MaE"
        rows.append({"video": video, "onset": onset, "apex": apex, "offset": offset,
                     "type": kind, "score": round((signal[peak] - median) / mad, 3)})
    return pd.DataFrame(rows, columns=COLUMNS)
