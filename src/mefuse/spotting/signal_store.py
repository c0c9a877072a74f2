"""Per-frame motion signals stored once per video, so that fitting, leave-one-subject-out
evaluation and every spotter read them instead of recomputing them.

Computing a long video's signal (face box, mesh, optical flow on every frame) is the expensive
step of spotting; choosing a threshold or fitting the learned spotter on it takes seconds. The
folder (``<out>/signals/``) holds, per video:

- ``<video>.npy``: the signal, float32, shape ``(frames,)`` (one value per frame, in the video's
  frame order; the first ``k`` are the tracker's warm-up zeros);
- ``<video>.json``: ``format``, ``video``, ``subject``, ``source`` (the frame folder or file),
  ``fps``, ``k``, ``frames``, ``signal`` (the :class:`SignalConfig` used) and ``seconds`` (time
  spent computing it).

Both are written atomically, the ``.json`` last: a video whose ``.json`` exists, whose ``.npy``
has ``frames`` values and whose settings equal the wanted ones is reused as it is (resume after
an interruption, a second evaluation with another spotter). A video whose signal cannot be
computed (no face, unreadable frames) is reported and the others go on. Memory: the tracker
streams frames (:mod:`mefuse.spotting.signal`), so one video costs its signal and ``k + 1``
crops, whatever its length.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mefuse.data.adapters.base import safe_id
from mefuse.data.frames import open_frames
from mefuse.errors import MefuseError
from mefuse.spotting.signal import MotionSignal, SignalConfig, motion_signal
from mefuse.spotting.spotter import open_video
from mefuse.utils.atomic import write_json, write_npy

FORMAT = "mefuse-spot-signal"
SIGNALS = "signals"
"""The folder name under a spotting run folder."""


@dataclass(frozen=True)
class VideoInput:
    """A video to compute: its id, subject, source (file or frame folder) and frame rate
    (None: read from a video file)."""

    video: str
    subject: str
    source: Path
    fps: float | None = None


@dataclass
class StoredSignals:
    """What :meth:`SignalStore.compute` gives: the signals by video id, their frame rates and
    subjects, the videos computed now and reused, and the failures (video -> reason)."""

    signals: dict[str, np.ndarray] = field(default_factory=dict)
    fps: dict[str, float] = field(default_factory=dict)
    subjects: dict[str, str] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class SignalStore:
    """The signals folder of one run, for one :class:`SignalConfig` (see the module docstring)."""

    def __init__(self, folder: str | Path, config: SignalConfig | None = None) -> None:
        config = config or SignalConfig()
        config.check()
        self.folder = Path(folder)
        self.config = config

    def paths(self, video: str) -> tuple[Path, Path]:
        """The ``.npy`` and ``.json`` of a video."""
        stem = safe_id(video)
        return self.folder / f"{stem}.npy", self.folder / f"{stem}.json"

    def load(self, video: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """The stored signal and its manifest, or None when it is absent, incomplete or was
        computed with other settings."""
        import json

        array_path, manifest_path = self.paths(video)
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            if (manifest.get("format") != FORMAT or manifest.get("video") != video
                    or manifest.get("signal") != dataclasses.asdict(self.config)):
                return None
            values = np.load(array_path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if values.ndim != 1 or len(values) != manifest.get("frames"):
            return None
        return values, manifest

    def compute_one(self, item: VideoInput, *,
                    progress: Callable[[int], None] | None = None) -> tuple[np.ndarray, float]:
        """Compute, store and return one video's signal and frame rate (errors propagate)."""
        started = time.perf_counter()
        frames, rate, _, source = open_video(item.source, item.fps)
        try:
            signal: MotionSignal = motion_signal(frames, rate, self.config, progress=progress)
        finally:
            if source is not None:
                source.close()
        array_path, manifest_path = self.paths(item.video)
        write_npy(array_path, signal.values.astype(np.float32))
        write_json(manifest_path, {
            "format": FORMAT, "video": item.video, "subject": item.subject,
            "source": str(item.source), "fps": signal.fps, "k": signal.k,
            "frames": len(signal.values), "signal": dataclasses.asdict(self.config),
            "seconds": round(time.perf_counter() - started, 3)})
        return signal.values, signal.fps

    def compute(self, videos: Iterable[VideoInput], *,
                report: Callable[[str], None] | None = None,
                bar: Callable[[VideoInput, int], AbstractContextManager[Callable[[int], None]]]
                | None = None) -> StoredSignals:
        """Every video's signal: stored ones read back, the others computed and stored.

        ``report`` receives one line per video that fails (the others go on); ``bar(item,
        frames)``, a context manager yielding a per-frame callback, shows progress."""
        out = StoredSignals()
        for item in videos:
            out.subjects[item.video] = item.subject
            stored = self.load(item.video)
            if stored is not None:
                out.signals[item.video] = stored[0]
                out.fps[item.video] = float(stored[1]["fps"])
                out.reused.append(item.video)
                continue
            try:
                if bar is None:
                    values, rate = self.compute_one(item)
                else:
                    with open_frames(item.source) as source:
                        length = len(source)
                    with bar(item, length) as advance:
                        values, rate = self.compute_one(item, progress=advance)
            except (MefuseError, OSError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                out.failed[item.video] = reason
                if report is not None:
                    report(f"video {item.video}: {reason}; skipped")
                continue
            out.signals[item.video] = values
            out.fps[item.video] = rate
            out.computed.append(item.video)
        return out


__all__ = ["FORMAT", "SIGNALS", "SignalStore", "StoredSignals", "VideoInput"]
