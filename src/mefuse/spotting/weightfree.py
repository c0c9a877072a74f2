"""The weight-free spotter behind the common spotter interface, and the spotter file.

:class:`~mefuse.spotting.spotter.Spotter` reads videos itself (``fit(videos, truth)``,
``spot(video)``); :func:`~mefuse.spotting.loso.evaluate_loso` and ``mefuse spot-eval`` hand
every spotter *stored* per-frame signals instead (``fit(signals, fps, truth)``,
``spot(signal, fps, video)``: the :class:`~mefuse.spotting.loso.Spotter` protocol).
:class:`WeightFreeSpotter` is the thin adapter between the two, so that the weight-free and the
learned spotter are fitted, evaluated and saved the same way.

The spotter file (:func:`save_spotter`, :func:`load_spotter`) is plain JSON::

    {"format": "mefuse-spotter", "version": 1, "spotter": "weightfree" | "learned",
     "signal": {...SignalConfig...}, "settings": {...the spotter's own dict...}}

``signal`` records how the per-frame signal must be computed for the spotter to apply (a
spotter fitted on one signal means nothing on another). A bare learned-spotter file
(:meth:`~mefuse.spotting.learned.LearnedSpotter.save`) is read too, with the default signal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.errors import ConfigError, DataError
from mefuse.spotting.learned import FORMAT as LEARNED_FORMAT
from mefuse.spotting.learned import LearnedSpotter
from mefuse.spotting.loso import check_fps, check_signal, check_videos, empty_predictions
from mefuse.spotting.signal import MotionSignal, SignalConfig, frame_lag
from mefuse.spotting.spotter import Spotter
from mefuse.utils.atomic import write_json
from mefuse.utils.jsonfile import read_json_object

FORMAT = "mefuse-spotter"
VERSION = 1
SPOTTER_KINDS: tuple[str, str] = ("weightfree", "learned")
"""The spotters ``--spotter`` names."""


@dataclass(eq=False)
class WeightFreeSpotter:
    """:class:`~mefuse.spotting.spotter.Spotter` with the protocol's ``fit`` and ``spot``.

    A stored signal is one column (the weight-free motion signal); its first ``k`` frames are
    the tracker's warm-up zeros, ``k`` following from the frame rate and
    ``spotter.signal_config.lag_seconds`` exactly as when the signal was computed."""

    spotter: Spotter = field(default_factory=Spotter)

    @property
    def fitted(self) -> bool:
        return self.spotter.fitted

    def _motion(self, signal: Any, fps: Any, video: str) -> MotionSignal:
        array = check_signal(signal, video)
        if array.shape[1] != 1:
            raise DataError(f"video {video!r}: the weight-free spotter reads a one-column motion "
                            f"signal, got {array.shape[1]} columns")
        rate = check_fps(fps, video)
        return MotionSignal(array[:, 0], rate, frame_lag(rate, self.spotter.signal_config
                                                         .lag_seconds))

    def fit(self, signals: Mapping[str, Any], fps: Mapping[str, Any],
            truth: pd.DataFrame) -> WeightFreeSpotter:
        """Choose the threshold and merge gap on these videos only (:meth:`Spotter.fit`)."""
        arrays, rates, table = check_videos(signals, fps, truth)
        self.spotter.fit({v: self._motion(a, rates[v], v) for v, a in arrays.items()}, table)
        return self

    def spot(self, signal: Any, fps: float, video: str) -> pd.DataFrame:
        """The intervals of one video (columns ``video, onset, apex, offset, type, score``)."""
        found = self.spotter.intervals(self._motion(signal, fps, str(video)), str(video))
        return found if not found.empty else empty_predictions()


AnySpotter = WeightFreeSpotter | LearnedSpotter


def new_spotter(kind: str, signal_config: SignalConfig | None = None) -> AnySpotter:
    """A fresh, unfitted spotter of ``kind`` (``weightfree`` or ``learned``)."""
    if kind == "weightfree":
        return WeightFreeSpotter(Spotter(signal_config or SignalConfig()))
    if kind == "learned":
        return LearnedSpotter()
    raise ConfigError(f"unknown spotter {kind!r}; choose one of {', '.join(SPOTTER_KINDS)}")


def spotter_kind(spotter: AnySpotter) -> str:
    return "learned" if isinstance(spotter, LearnedSpotter) else "weightfree"


def save_spotter(spotter: AnySpotter, path: str | Path,
                 signal_config: SignalConfig | None = None) -> Path:
    """Write a fitted spotter as the spotter file (atomically); returns the path."""
    if isinstance(spotter, LearnedSpotter):
        settings = spotter.to_dict()
        signal = signal_config or SignalConfig()
    else:
        data = spotter.spotter.to_dict()
        settings = {"rule": data["rule"], "fitted": data["fitted"]}
        signal = spotter.spotter.signal_config
    write_json(path, {"format": FORMAT, "version": VERSION, "spotter": spotter_kind(spotter),
                      "signal": dataclasses.asdict(signal), "settings": settings})
    return Path(path)


def load_spotter(path: str | Path) -> tuple[AnySpotter, SignalConfig]:
    """The spotter a spotter file holds and the signal settings it applies to, or a one-line
    error saying why the file is not one."""
    what = f"spotter file {path}"
    data = read_json_object(path, "spotter", "write one with 'mefuse spot-eval --fit-out'")
    if data.get("format") == LEARNED_FORMAT:
        return LearnedSpotter.from_dict(data, what), SignalConfig()
    if data.get("format") != FORMAT:
        raise DataError(f"{what}: not a spotter file (format {data.get('format')!r}, expected "
                        f"{FORMAT!r}); write one with 'mefuse spot-eval --fit-out'")
    if data.get("version") != VERSION:
        raise DataError(f"{what}: version {data.get('version')!r} is not supported (this "
                        f"mefuse reads version {VERSION})")
    kind, settings = data.get("spotter"), data.get("settings")
    if kind not in SPOTTER_KINDS or not isinstance(settings, dict):
        raise DataError(f"{what}: names no known spotter ({kind!r}; known: "
                        f"{', '.join(SPOTTER_KINDS)})")
    try:
        signal = SignalConfig(**data.get("signal", {}))
        signal.check()
    except (TypeError, ConfigError) as exc:
        raise DataError(f"{what}: bad signal settings ({exc})") from None
    if kind == "learned":
        return LearnedSpotter.from_dict(settings, what), signal
    try:
        spotter = Spotter.from_dict({"signal": dataclasses.asdict(signal), **settings})
        spotter.rule.check()
    except ConfigError as exc:
        raise DataError(f"{what}: {exc}") from None
    return WeightFreeSpotter(spotter), signal


__all__ = ["FORMAT", "SPOTTER_KINDS", "AnySpotter", "WeightFreeSpotter", "load_spotter",
           "new_spotter", "save_spotter", "spotter_kind"]
