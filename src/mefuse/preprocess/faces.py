"""Finding a clip's face, with a record of how it was found.

The paper takes MediaPipe's full-range detector on the first frame. Real clips break that rule
in three ways, each seen on real video: the face arrives after the first frames (the subject
walks in, the camera starts on a wall), the face fills the frame (a close-up, which the
full-range model, trained on faces at a distance, misses while the short-range model finds it),
and the face leaves during the clip (then the fixed box crops background, silently). So:

- the search walks the clip's frames from the first until a face is found, up to a bound
  (``search_frames``; 0 = the whole clip);
- on each frame the full-range model runs first (with the paper's very low threshold, 0.005)
  and the short-range model only when the full-range one finds nothing; the fallback keeps
  a threshold of 0.6, because below it the short-range model "finds" faces in noise (0.51
  was seen on uniform noise; real close-ups score 0.7 and more);
- with several faces the best-scoring one is taken and the choice is recorded with the
  runner-up's score, so an ambiguous frame is visible in the quality table;
- a detection becomes the clip's box only when the crop it gives shows a face (the presence
  check below, on that frame's crop): the full-range model at 0.005 "finds" faces in title
  lettering and textured backgrounds at scores of 0.6 and more, and a box fixed there crops no
  face in any frame. A rejected detection is counted and the search goes on (the frame's other
  faces, the short-range model, the next frames); a confirmed first detection costs one check;
- after cropping, a cheap presence check runs the short-range model (suited to a face that
  fills the image) on every crop and counts the crops without a face.

Every outcome is a :class:`FaceSearch` that the extractor writes to the store's quality table.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box, FaceDetector, square_box

FULL_RANGE = "full-range"
SHORT_RANGE = "short-range"
PRESENCE_SIZE = 192
"""Side to which crops are reduced before the presence check (cost, not accuracy: MediaPipe
resizes its input to 128 px for the short-range model)."""


@dataclass(frozen=True)
class FaceSearch:
    """How a clip's face box was found (or not)."""

    box: Box | None
    frame: int | None
    """Position (within the clip's sampled frames) of the frame whose face gave the box."""
    model: str | None
    """``full-range`` or ``short-range``: the MediaPipe model that found the face."""
    score: float | None
    faces: int
    """Faces on that frame; more than one means a choice was made."""
    choice: str
    """Why this face: ``only face``, or the rule and the runner-up's score."""
    searched: int
    """Frames looked at."""
    rejected: int = 0
    """Detections skipped because the crop they give shows no face."""

    def row(self) -> dict[str, object]:
        """The quality-table columns of this search."""
        data = asdict(self)
        data.pop("box")
        return {f"face_{k}": v for k, v in data.items()}


class FaceFinder:
    """The two MediaPipe detectors of one thread, and the search and presence check."""

    def __init__(self, *, min_confidence: float = 0.005, short_range_confidence: float = 0.6
                 ) -> None:
        self.min_confidence = min_confidence
        self.short_range_confidence = short_range_confidence
        self._full: FaceDetector | None = None
        self._short: FaceDetector | None = None

    def _detector(self, model: str) -> FaceDetector:
        if model == FULL_RANGE:
            if self._full is None:
                self._full = FaceDetector(full_range=True, min_confidence=self.min_confidence)
            return self._full
        if self._short is None:
            self._short = FaceDetector(full_range=False,
                                       min_confidence=self.short_range_confidence)
        return self._short

    def search(self, frames: Sequence[np.ndarray], *, scale: float = 1.5,
               search_frames: int = 0, crop_size: int = PRESENCE_SIZE) -> FaceSearch:
        """Walk ``frames`` from the first until a confirmed face is found (at most
        ``search_frames`` frames; 0 = all), full-range model first, short-range when it finds
        nothing or nothing confirmed. A detection is confirmed when its ``crop_size`` crop of
        its frame (the crop the clip will get) passes :meth:`has_face`."""
        limit = len(frames) if search_frames <= 0 else min(search_frames, len(frames))
        rejected = 0
        for index in range(limit):
            for model in (FULL_RANGE, SHORT_RANGE):
                faces = self._faces(model, frames[index])
                for rank, face in enumerate(faces):
                    box = square_box(*face[:4], scale=scale)
                    if not self.has_face(crop_square(frames[index], box, crop_size)):
                        rejected += 1
                        continue
                    return FaceSearch(box, index, model, round(face[4], 4), len(faces),
                                      _choice(faces, rank), index + 1, rejected)
        return FaceSearch(None, None, None, None, 0, "no face", limit, rejected)

    def has_face(self, crop: np.ndarray) -> bool:
        """Whether the short-range model sees a face in ``crop`` (the presence check)."""
        import cv2

        if crop.shape[0] > PRESENCE_SIZE:  # the model sees 128 px anyway: resize once here
            crop = cv2.resize(crop, (PRESENCE_SIZE, PRESENCE_SIZE), interpolation=cv2.INTER_AREA)
        return bool(self._faces(SHORT_RANGE, crop))

    def frames_without_face(self, crops: Sequence[np.ndarray] | np.ndarray, *,
                            present: Collection[int | None] = ()) -> int:
        """Crops in which the short-range model sees no face; positions in ``present`` are
        known to show one (the crop that confirmed the box) and are not checked again."""
        return sum(not self.has_face(crop) for index, crop in enumerate(crops)
                   if index not in present)

    def _faces(self, model: str, frame: np.ndarray
               ) -> list[tuple[float, float, float, float, float]]:
        """Faces found by ``model``; the short-range model's below its threshold are dropped
        here (MediaPipe's own threshold was seen to let a 0.51 detection in noise through)."""
        faces = self._detector(model).detect_all(frame)
        if model == SHORT_RANGE:
            faces = [f for f in faces if f[4] >= self.short_range_confidence]
        return faces

    def close(self) -> None:
        for detector in (self._full, self._short):
            if detector is not None:
                detector.close()
        self._full = self._short = None


def _choice(faces: Sequence[tuple[float, ...]], rank: int) -> str:
    """Why the face at ``rank`` (best score first) of ``faces`` was taken."""
    if rank:
        return f"highest confirmed of {len(faces)} ({rank} higher without a face in the crop)"
    if len(faces) == 1:
        return "only face"
    return f"highest score of {len(faces)} (next {faces[1][4]:.2f})"
