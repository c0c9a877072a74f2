"""Generated long videos for spotting: a real photograph with planted movements at known times.

**Synthetic motion on real faces, not a spotting dataset.** It lets the spotter be fitted,
tested and demonstrated offline, with an exact truth table.

A video is one demo subject (the real photographs of :mod:`mefuse.demo.faces`) still for
``seconds`` at ``fps``, with, each in its own time slot (gaps of ``gap_seconds`` at least):

- **micro-movements** (``micro``; 0.2-0.4 s onset to offset; small: ``micro_amplitude`` pixels
  at a 256 px face) and **macro-movements** (``macro``; 1-2 s; larger), each one of the demo's
  action-unit-like local warps (:data:`~mefuse.demo.faces.MOVEMENTS`), raised-cosine onset ->
  apex -> offset: these are the truth;
- **head movements** (``head``; 0.5-1 s): the whole frame shifted and rotated and brought back,
  a global motion the spotter must *not* report;
- one **illumination change** (a gain step over ``illumination_seconds``), also not to report;
- sensor noise on every frame.

Frames are ``size x size`` RGB (small, for speed). The truth table has the columns of a
spotting table (``video``, ``onset``, ``apex``, ``offset``, ``type`` = ``ME`` or ``MaE``, 0-based
frame positions) and ``movement`` and ``amplitude``; the distractors are in ``distractors``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from mefuse.demo.faces import (
    HALF,
    IDENTITY_TRANSFORMS,
    MOVEMENTS,
    PHOTOS,
    _face_square,
    _movement_field,
    _Subject,
)
from mefuse.errors import ConfigError, DataError


@dataclass(frozen=True)
class LongVideoSpec:
    """What a generated long video holds (times in seconds, amplitudes in pixels at a 256 px
    face)."""

    seconds: float = 20.0
    fps: float = 30.0
    size: int = 160
    micro: int = 4
    macro: int = 2
    head: int = 2
    illumination: bool = True
    micro_seconds: tuple[float, float] = (0.2, 0.4)
    macro_seconds: tuple[float, float] = (1.0, 2.0)
    head_seconds: tuple[float, float] = (0.5, 1.0)
    micro_amplitude: tuple[float, float] = (3.0, 5.0)
    macro_amplitude: tuple[float, float] = (8.0, 12.0)
    amplitude: float = 1.0
    """Scales every expression amplitude (harder below 1)."""
    head_shift: float = 0.04
    """Largest head shift, as a share of the frame side."""
    head_degrees: float = 3.0
    illumination_gain: float = 0.2
    illumination_seconds: float = 0.5
    gap_seconds: float = 0.8
    lead_seconds: float = 1.0
    """Still time at the start (the spotter needs a few frames to start)."""
    noise: float = 1.0

    def check(self) -> None:
        if self.fps <= 0 or self.seconds <= 0 or self.size < 64:
            raise ConfigError("a long video needs fps > 0, seconds > 0 and size >= 64")
        if self.amplitude <= 0:
            raise ConfigError(f"amplitude must be > 0, got {self.amplitude}")


@dataclass
class LongVideo:
    """Frames ``(T, size, size, 3)`` uint8 RGB, their rate, the truth and the distractors."""

    name: str
    frames: np.ndarray
    fps: float
    truth: pd.DataFrame
    distractors: pd.DataFrame = field(default_factory=pd.DataFrame)


@lru_cache(maxsize=4)
def long_video_subject(photo: str = "astronaut", transform: str = "original") -> _Subject:
    """A demo subject (face-centred square of a real photograph and its still-face mesh)."""
    from mefuse.preprocess.landmarks import FaceLandmarker

    if photo not in PHOTOS or transform not in IDENTITY_TRANSFORMS:
        raise ConfigError(f"unknown photo {photo!r} or transform {transform!r}")
    image = np.ascontiguousarray(IDENTITY_TRANSFORMS[transform](_face_square(PHOTOS[photo]())))
    with FaceLandmarker(tracking=False) as landmarker:
        points = landmarker(image)
    if points is None:
        raise DataError(f"no face mesh on {photo}-{transform}")
    width = float(points[:, 0].max() - points[:, 0].min())
    return _Subject(f"{photo}-{transform}", image, points[:, :2], width)


def raised_cosine(n: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """0 before ``onset``, rising to 1 at ``apex``, back to 0 at ``offset``, over ``n`` frames."""
    t = np.arange(n, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / max(apex - onset, 1), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / max(offset - apex, 1), 0, 1))
    return np.where(t <= apex, rise, fall)


def _schedule(spec: LongVideoSpec, rng: np.random.Generator, n: int) -> list[dict[str, object]]:
    """Events in random order, each in its own slot, spread over the video."""
    kinds = (["ME"] * spec.micro + ["MaE"] * spec.macro + ["head"] * spec.head
             + (["light"] if spec.illumination else []))
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    ranges = {"ME": spec.micro_seconds, "MaE": spec.macro_seconds, "head": spec.head_seconds,
              "light": (spec.illumination_seconds, spec.illumination_seconds)}
    lengths = [max(3, round(rng.uniform(*ranges[kind]) * spec.fps)) for kind in order]
    gap = round(spec.gap_seconds * spec.fps)
    lead = round(spec.lead_seconds * spec.fps)
    spare = n - lead - sum(lengths) - gap * len(order)
    if spare < 0:
        raise ConfigError(f"{len(order)} events do not fit in {spec.seconds} s; make the video "
                          "longer or plant fewer events")
    extra = np.sort(rng.uniform(0, spare, size=len(order))).astype(int)
    events = []
    for index, (kind, length) in enumerate(zip(order, lengths, strict=True)):
        onset = lead + sum(lengths[:index]) + gap * index + int(extra[index])
        offset = onset + length - 1
        apex = onset + round(rng.uniform(0.4, 0.6) * (length - 1))
        events.append({"kind": kind, "onset": onset, "apex": apex, "offset": offset})
    return events


def make_long_video(spec: LongVideoSpec = LongVideoSpec(), seed: int = 0, *,
                    name: str | None = None, photo: str = "astronaut",
                    transform: str = "original") -> LongVideo:
    """One generated long video with its truth table (see the module docstring)."""
    spec.check()
    rng = np.random.default_rng(seed)
    subject = long_video_subject(photo, transform)
    n = round(spec.seconds * spec.fps)
    name = name or f"long_{photo}_{seed}"
    events = _schedule(spec, rng, n)
    unit = subject.face_width / 256.0
    fields, weights, truth, distractors = [], [], [], []
    shift = np.zeros((n, 2))
    angle = np.zeros(n)
    gain = np.ones(n)
    for event in events:
        kind = str(event["kind"])
        onset, apex, offset = (int(event[key]) for key in ("onset", "apex", "offset"))  # type: ignore[call-overload]
        profile = raised_cosine(n, onset, apex, offset)
        if kind in ("ME", "MaE"):
            movement = str(rng.choice(list(MOVEMENTS)))
            low, high = spec.micro_amplitude if kind == "ME" else spec.macro_amplitude
            amplitude = float(rng.uniform(low, high)) * spec.amplitude
            fields.append(_movement_field(subject, [movement]) * amplitude * unit)
            weights.append(profile)
            truth.append({"video": name, "onset": onset, "apex": apex, "offset": offset,
                          "type": kind, "movement": movement,
                          "amplitude": round(amplitude, 2)})
        elif kind == "head":
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction)
            shift += profile[:, None] * direction * spec.head_shift * HALF
            angle += profile * rng.choice([-1, 1]) * spec.head_degrees
            distractors.append({"video": name, "onset": onset, "apex": apex, "offset": offset,
                                "kind": "head"})
        else:
            step = np.clip((np.arange(n) - onset) / max(offset - onset, 1), 0, 1)
            gain *= 1 + spec.illumination_gain * (0.5 - 0.5 * np.cos(np.pi * step))
            distractors.append({"video": name, "onset": onset, "apex": apex, "offset": offset,
                                "kind": "illumination"})
    ys, xs = np.mgrid[0:HALF, 0:HALF].astype(np.float32)
    frames = np.empty((n, spec.size, spec.size, 3), dtype=np.uint8)
    for t in range(n):
        image = subject.image
        active = [f * np.float32(w[t]) for f, w in zip(fields, weights, strict=True) if w[t] > 0]
        if active:
            total = np.sum(active, axis=0)
            image = cv2.remap(image, xs - total[..., 0], ys - total[..., 1], cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT)
        if angle[t] or shift[t].any():
            matrix = cv2.getRotationMatrix2D((HALF / 2, HALF / 2), float(angle[t]), 1.0)
            matrix[:, 2] += shift[t]
            image = cv2.warpAffine(image, matrix, (HALF, HALF), flags=cv2.INTER_CUBIC,
                                   borderMode=cv2.BORDER_REFLECT)
        small = cv2.resize(image, (spec.size, spec.size), interpolation=cv2.INTER_AREA)
        lit = small.astype(np.float32) * gain[t] + rng.normal(scale=spec.noise, size=small.shape)
        frames[t] = np.clip(lit, 0, 255).astype(np.uint8)
    columns = ["video", "onset", "apex", "offset", "type", "movement", "amplitude"]
    return LongVideo(name, frames, spec.fps, pd.DataFrame(truth, columns=columns),
                     pd.DataFrame(distractors, columns=["video", "onset", "apex", "offset",
                                                        "kind"]))


def write_video(video: LongVideo, path: str | Path) -> Path:
    """The frames as a video file (``.avi``: MJPG; other extensions: the codec OpenCV picks for
    ``mp4v``) or, for a path without an extension, a folder of PNG frames."""
    path = Path(path)
    if not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        for t, frame in enumerate(video.frames):
            cv2.imwrite(str(path / f"frame_{t:05d}.png"), frame[:, :, ::-1],
                        [cv2.IMWRITE_PNG_COMPRESSION, 1])
        return path
    fourcc = cv2.VideoWriter_fourcc(  # type: ignore[attr-defined]
        *("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    height, width = video.frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), fourcc, video.fps, (width, height))
    try:
        for frame in video.frames:
            writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    finally:
        writer.release()
    return path
