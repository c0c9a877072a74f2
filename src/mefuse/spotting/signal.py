"""The per-frame motion signal of a long video, computed as a stream with bounded memory.

Why this signal: a micro-expression is a small, fast, local movement of the skin; a long video
also holds head movements (large, global), illumination changes (global, no movement) and
sensor noise. For each frame ``t`` the face crop is compared with the crop of frame ``t - k``:

1. **face box** once (MediaPipe's detector, :class:`~mefuse.preprocess.faces.FaceFinder`, on the
   first frames until a face is confirmed), fixed for the video as every extractor's is;
2. **grey crop** at ``flow_size`` pixels (128 by default: the cost of the flow grows with the
   area, and the regions are still several pixels wide), **normalised per frame** to a fixed
   mean and contrast, so that a global gain or offset change of the light is not motion;
3. **regions** placed by the 478-point face mesh as ``regionflow`` places them
   (:class:`~mefuse.features.geometry.regionflow.RegionLayout`: brows, lids, glabella, nose,
   nasolabial folds, mouth corners, lips, chin, and the reference area around them), re-placed
   every ``landmark_seconds`` so that they follow a head that drifts;
4. **DIS optical flow** (OpenCV, ``medium`` preset: on the generated videos of
   :mod:`mefuse.demo.long_videos` it separates micro-movements from head movements far better
   than ``ultrafast`` and still runs at hundreds of frames per second at 128 px) from frame
   ``t - k`` to ``t``; the **head's motion** (robust affine fit on the reference area) is
   subtracted, after warping frame ``t`` back by it and recomputing the flow when it is larger
   than ``realign_px``;
5. the value of frame ``t``: the mean residual flow magnitude of each region divided by the
   inter-ocular distance (so it does not depend on face or crop size), and the mean of the
   ``top_regions`` largest regions (an expression moves a few regions; one noisy region alone
   does not make a peak).

``k`` is ``round(lag_seconds * fps)``, at least 1: with ``lag_seconds`` = 0.2 (6 frames at
30 fps, 40 at 200 fps) a micro-expression, whose onset-to-apex phase lasts about 0.1-0.25 s,
moves the skin almost its full amplitude between the two frames compared, while slow drifts
(a few pixels per second) move it little.

Memory: :class:`MotionTracker` keeps only the last ``k + 1`` grey crops (a ring buffer) and the
region layout; the caller keeps one float per frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mefuse.errors import ConfigError, DataError
from mefuse.features.appearance.flow import PRESETS
from mefuse.features.geometry.regionflow import RegionLayout
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box
from mefuse.utils.image import as_rgb_uint8

LANDMARK_CROP = 256
"""Side of the crop the face mesh sees (MediaPipe's model works at 192 px; a larger crop costs
only the resize)."""
GREY_MEAN = 128.0
GREY_STD = 48.0


@dataclass(frozen=True)
class SignalConfig:
    """How the motion signal is computed (see the module docstring)."""

    lag_seconds: float = 0.2
    flow_size: int = 128
    preset: str = "medium"
    radius: float = 0.08
    """Region radius in inter-ocular distances (as ``regionflow``)."""
    realign_px: float = 0.25
    top_regions: int = 3
    landmark_seconds: float = 2.0
    """Re-place the regions this often (0: once per video)."""
    face_scale: float = 1.5
    """Face box side over the detection's larger side."""

    def check(self) -> None:
        if not 0 < self.lag_seconds <= 2:
            raise ConfigError(f"lag_seconds must be in (0, 2], got {self.lag_seconds}")
        if self.flow_size < 64:
            raise ConfigError(f"flow_size must be >= 64 pixels, got {self.flow_size}")
        if self.preset not in PRESETS:
            raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if self.top_regions < 1:
            raise ConfigError(f"top_regions must be >= 1, got {self.top_regions}")
        if self.landmark_seconds < 0:
            raise ConfigError(f"landmark_seconds must be >= 0, got {self.landmark_seconds}")


def frame_lag(fps: float, lag_seconds: float) -> int:
    """``k``: frames between the two frames compared (at least 1)."""
    return max(1, round(lag_seconds * fps))


def check_fps(fps: float | None) -> float:
    """A usable frame rate or a one-line error."""
    if fps is None or not np.isfinite(fps) or not 1 <= fps <= 2000:
        raise ConfigError(f"frame rate (--fps) must be between 1 and 2000 frames per second, "
                          f"got {fps}")
    return float(fps)


def normalised_grey(crop: np.ndarray) -> np.ndarray:
    """The crop in grey with a fixed mean and standard deviation (illumination removed)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mean, std = float(grey.mean()), float(grey.std())
    scaled = (grey - mean) * (GREY_STD / max(std, 1.0)) + GREY_MEAN
    return np.clip(scaled, 0, 255).astype(np.uint8)


class MotionTracker:
    """The streaming state of one video: push frames in order, get one value per frame.

    ``find_box(frame) -> Box | None`` and ``find_landmarks(crop) -> (N, 2) | None`` default to
    MediaPipe (detector with the presence check, and the face mesh); tests may pass their own.
    The state is the ring buffer of ``k + 1`` grey crops, the box and the layout: its size does
    not depend on the video's length (:meth:`state_size`).
    """

    def __init__(self, fps: float, config: SignalConfig = SignalConfig(), *,
                 find_box: Callable[[np.ndarray], Box | None] | None = None,
                 find_landmarks: Callable[[np.ndarray], np.ndarray | None] | None = None
                 ) -> None:
        config.check()
        self.fps = check_fps(fps)
        self.config = config
        self.k = frame_lag(self.fps, config.lag_seconds)
        self.ring: deque[np.ndarray] = deque(maxlen=self.k + 1)
        self.regions: np.ndarray | None = None
        """The last frame's per-region residual motion (what the value is the top mean of;
        None until a value was computed): a learned spotter's per-frame input."""
        self.box: Box | None = None
        self.layout: RegionLayout | None = None
        self.landmark_every = (max(1, round(config.landmark_seconds * self.fps))
                               if config.landmark_seconds > 0 else 0)
        self._since_landmarks = 0
        self._dis = cv2.DISOpticalFlow_create(PRESETS[config.preset])  # type: ignore[attr-defined]
        self._owned: list[Any] = []
        self._find_box = find_box or self._mediapipe_box
        self._find_landmarks = find_landmarks or self._mediapipe_landmarks
        size = config.flow_size
        self._xs, self._ys = np.meshgrid(np.arange(size, dtype=np.float32),
                                         np.arange(size, dtype=np.float32))

    # ----------------------------------------------------------------- MediaPipe defaults
    def _mediapipe_box(self, frame: np.ndarray) -> Box | None:
        from mefuse.preprocess.faces import FaceFinder

        if not hasattr(self, "_finder"):
            self._finder = FaceFinder()
            self._owned.append(self._finder)
        return self._finder.search([frame], scale=self.config.face_scale).box

    def _mediapipe_landmarks(self, crop: np.ndarray) -> np.ndarray | None:
        from mefuse.preprocess.landmarks import FaceLandmarker

        if not hasattr(self, "_landmarker"):
            self._landmarker = FaceLandmarker(tracking=False)
            self._owned.append(self._landmarker)
        points = self._landmarker(crop)
        return None if points is None else points[:, :2]

    # ----------------------------------------------------------------- streaming
    def state_size(self) -> int:
        """Frames held (at most ``k + 1``): the memory that could grow with the video."""
        return len(self.ring)

    def push(self, frame: np.ndarray) -> float:
        """The motion value of the next frame (0 until a face is found and ``k`` frames seen)."""
        frame = as_rgb_uint8(frame)
        if self.box is None:
            self.box = self._find_box(frame)
            if self.box is None:
                return 0.0
        size = self.config.flow_size
        if self.layout is None or (self.landmark_every
                                   and self._since_landmarks >= self.landmark_every):
            self._place_regions(frame)
        self._since_landmarks += 1
        grey = normalised_grey(crop_square(frame, self.box, size))
        self.ring.append(grey)
        if self.layout is None or len(self.ring) <= self.k:
            return 0.0
        return self._value(self.ring[0], grey, self.layout)

    def _place_regions(self, frame: np.ndarray) -> None:
        assert self.box is not None
        self._since_landmarks = 0
        points = self._find_landmarks(crop_square(frame, self.box, LANDMARK_CROP))
        if points is None:
            return  # keep the previous layout (or none yet: the next frame tries again)
        try:
            self.layout = RegionLayout(np.asarray(points) * (self.config.flow_size
                                                             / LANDMARK_CROP),
                                       self.config.flow_size, self.config.radius)
        except DataError:
            return

    def _value(self, before: np.ndarray, now: np.ndarray, layout: RegionLayout) -> float:
        flow = self._dis.calc(before, now, None)
        head = layout.head_motion(flow)
        if np.abs(head.reshape(-1, 2)[layout.face]).max() > self.config.realign_px:
            now = cv2.remap(now, self._xs + head[..., 0], self._ys + head[..., 1],
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            flow = self._dis.calc(before, now, None)
            head = layout.head_motion(flow)
        residual = (flow - head).reshape(-1, 2)[layout.members]
        magnitude = np.sqrt((residual.astype(np.float64) ** 2).sum(axis=1))
        regions = np.add.reduceat(magnitude, layout.starts) / layout.counts / layout.iod
        self.regions = regions
        top = min(self.config.top_regions, len(regions))
        return float(np.sort(regions)[-top:].mean())

    def close(self) -> None:
        for owned in self._owned:
            owned.close()
        self._owned.clear()

    def __enter__(self) -> MotionTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class MotionSignal:
    """One video's motion signal: ``values[t]`` for frame ``t``; the first ``k`` are 0."""

    values: np.ndarray
    fps: float
    k: int
    face_found: bool = True


def motion_signal(frames: Iterable[np.ndarray], fps: float,
                  config: SignalConfig = SignalConfig(), *,
                  progress: Callable[[int], None] | None = None,
                  tracker: MotionTracker | None = None) -> MotionSignal:
    """The motion signal of a stream of frames (any iterable: a frame source is read lazily).

    Raises :class:`DataError` when no frame shows a face."""
    own = tracker is None
    tracker = tracker or MotionTracker(fps, config)
    values: list[float] = []
    try:
        for frame in frames:
            values.append(tracker.push(frame))
            if progress is not None:
                progress(1)
    finally:
        if own:
            tracker.close()
    if tracker.box is None:
        raise DataError(f"no face found in any of the {len(values)} frames")
    if tracker.layout is None:
        raise DataError("the face mesh found no face in the face box")
    return MotionSignal(np.asarray(values, dtype=np.float32), tracker.fps, tracker.k)
