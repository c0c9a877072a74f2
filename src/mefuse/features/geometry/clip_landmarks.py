"""Landmarks for every frame of a clip, with gaps filled, for the 3D encoders' crop rules.

A micro-expression clip is short and its face barely moves, so a frame where MediaPipe misses
the face is best cropped with the nearest frame's landmarks: the crop stays on the face and the
clip keeps all its frames (the fusion model expects one feature row per frame). A clip where no
frame has a face cannot be cropped at all, and that is an error for the caller to report.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mefuse.errors import DataError


def fill_missing(landmarks: np.ndarray, *, stage: str) -> np.ndarray:
    """``(T, N, 3)`` landmarks with all-NaN frames replaced by the nearest frame that has a face.

    Ties go to the earlier frame. Raises :class:`DataError` naming ``stage`` when no frame has a
    face.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    found = np.isfinite(landmarks).reshape(len(landmarks), -1).all(axis=1)
    if not found.any():
        raise DataError(
            f"{stage}: MediaPipe found no face in any of the {len(landmarks)} frame(s) of this "
            "clip, so it cannot be cropped; check the clip's face box (preprocessing) or leave "
            "the clip out"
        )
    if found.all():
        return landmarks
    have = np.flatnonzero(found)
    out = landmarks.copy()
    for index in np.flatnonzero(~found):
        nearest = have[np.argmin(np.abs(have - index))]  # argmin takes the first (earlier) tie
        out[index] = landmarks[nearest]
    return out


def clip_landmarks(
    frames: np.ndarray, *, stage: str, landmarker: Callable[[], object] | None = None
) -> np.ndarray:
    """Filled ``(T, 478, 3)`` landmarks of one clip's frames, in pixels of those frames.

    A fresh tracking :class:`~mefuse.preprocess.landmarks.FaceLandmarker` is made per clip, so a
    clip's landmarks never depend on the clip processed before it.
    """
    if landmarker is None:
        from mefuse.preprocess.landmarks import FaceLandmarker

        landmarker = FaceLandmarker
    with landmarker() as marker:  # type: ignore[attr-defined]
        raw = marker.clip(frames)
    return fill_missing(raw, stage=stage)
