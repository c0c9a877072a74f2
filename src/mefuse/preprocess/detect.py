"""Face box of a clip, as in the paper: MediaPipe's full-range detector on the first frame.

The paper (and the authors' code) runs MediaPipe face detection with the full-range model and a
very low confidence threshold (0.005) on the first frame of each view and reuses that box for
every frame of the clip. The authors enlarge the box's width and height 1.5x each, clip it to
the frame and stretch it to a square image (so the face's aspect ratio changes). mefuse instead
makes the box square (side 1.5x the larger of width and height, around the detection's centre),
padding with black where it leaves the frame: a deliberate difference, so that faces keep their
shape whatever the detection's aspect ratio. Reusing one box keeps the face's own movement in
the crops (a per-frame box would follow the head and erase part of the motion that
micro-expression features measure). If the first frame has no face, the next frames are tried.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from mefuse.preprocess.landmarks import import_mediapipe_solutions
from mefuse.utils.image import as_rgb_uint8


@dataclass(frozen=True)
class Box:
    """A square box in pixels: top-left corner and side (may reach outside the frame)."""

    x: int
    y: int
    side: int

class FaceDetector:
    """MediaPipe face detection (full-range model by default), best-scoring face per frame."""

    def __init__(self, *, full_range: bool = True, min_confidence: float = 0.005) -> None:
        solutions = import_mediapipe_solutions()
        self._detector = solutions.face_detection.FaceDetection(
            model_selection=1 if full_range else 0, min_detection_confidence=min_confidence
        )

    def detect(self, frame: np.ndarray) -> tuple[float, float, float, float, float] | None:
        """``(x, y, width, height, score)`` in pixels of the best face, or ``None``."""
        faces = self.detect_all(frame)
        return faces[0] if faces else None

    def detect_all(self, frame: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """Every face as ``(x, y, width, height, score)`` in pixels, best score first."""
        rgb = np.ascontiguousarray(as_rgb_uint8(frame))
        result = self._detector.process(rgb)
        height, width = rgb.shape[:2]
        faces = []
        for detection in result.detections or []:
            box = detection.location_data.relative_bounding_box
            faces.append((box.xmin * width, box.ymin * height, box.width * width,
                          box.height * height, float(detection.score[0])))
        return sorted(faces, key=lambda face: -face[4])

    def close(self) -> None:
        self._detector.close()

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def square_box(x: float, y: float, width: float, height: float, scale: float = 1.5) -> Box:
    """The square of side ``scale * max(width, height)`` centred on the detection."""
    side = max(width, height) * scale
    cx, cy = x + width / 2, y + height / 2
    return Box(round(cx - side / 2), round(cy - side / 2), max(1, round(side)))


def find_face_box(
    detector: FaceDetector, frames: Iterable[np.ndarray], *, scale: float = 1.5,
    max_tries: int = 10,
) -> tuple[Box, int] | None:
    """The crop box from the first frame with a face among the first ``max_tries`` frames, and
    that frame's position; ``None`` when none has a face."""
    for index, frame in enumerate(frames):
        if index >= max_tries:
            break
        found = detector.detect(frame)
        if found is not None:
            return square_box(*found[:4], scale=scale), index
    return None
