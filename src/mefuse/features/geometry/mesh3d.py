"""``mesh3d``: expression coefficients from MediaPipe's 478-point 3D face mesh, no weights needed.

Per clip (face crops with one fixed box):

1. landmarks of every frame (MediaPipe face mesh in tracking mode; frames where it finds no face
   take the nearest frame's landmarks; a clip with no face at all is an error);
2. each frame's mesh is aligned to the first frame's by a similarity transform (scale, rotation,
   translation; Umeyama's least-squares solution) fitted on :data:`STABLE` points (forehead,
   nose bridge, inner eye corners, temples), which facial expressions barely move; this removes
   head motion while keeping the expression;
3. displacement from the first frame, divided by the first frame's inter-ocular distance, so the
   numbers do not depend on the crop size or the face's size;
4. a fixed, label-free reduction to :data:`DIM` values: the mean 3D displacement of each of the
   :data:`REGIONS` (14 x 3) followed by the change of :data:`DISTANCES` between landmarks that
   the five action-unit-like movements change (10).

Index sets follow MediaPipe's canonical face mesh (``face_mesh_connections``); "left" and
"right" are the subject's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mefuse.errors import DataError
from mefuse.features.base import Extractor, register_extractor
from mefuse.preprocess.landmarks import FaceLandmarker

STABLE: tuple[int, ...] = (10, 151, 9, 8, 168, 6, 197, 195, 5, 234, 454, 127, 356, 133, 362,
                           33, 263)
"""Landmarks that expressions barely move: they define the head's pose."""

REGIONS: dict[str, tuple[int, ...]] = {
    "brow_right": (46, 52, 53, 55, 63, 65, 66, 70, 105, 107),
    "brow_left": (276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    "upper_lid_right": (246, 161, 160, 159, 158, 157, 173),
    "lower_lid_right": (7, 163, 144, 145, 153, 154, 155),
    "upper_lid_left": (466, 388, 387, 386, 385, 384, 398),
    "lower_lid_left": (249, 390, 373, 374, 380, 381, 382),
    "lip_corner_right": (61, 78, 146, 185),
    "lip_corner_left": (291, 308, 375, 409),
    "upper_lip": (0, 37, 39, 40, 267, 269, 270, 13, 82, 312, 81, 311),
    "lower_lip": (17, 84, 181, 91, 314, 405, 321, 14, 87, 317, 178, 402),
    "nose": (1, 2, 4, 5, 19, 94, 64, 294, 48, 278, 115, 344),
    "chin": (152, 148, 176, 149, 377, 400, 378),
    "cheek_right": (50, 101, 118, 117, 123, 205),
    "cheek_left": (280, 330, 347, 346, 352, 425),
}
"""Facial regions whose mean displacement is kept (x, y, z each)."""

DISTANCES: dict[str, tuple[Any, Any]] = {
    "brow_eye_right": (REGIONS["brow_right"], REGIONS["upper_lid_right"]),
    "brow_eye_left": (REGIONS["brow_left"], REGIONS["upper_lid_left"]),
    "brow_gap": ((107,), (336,)),
    "eye_aperture_right": ((159,), (145,)),
    "eye_aperture_left": ((386,), (374,)),
    "mouth_width": ((61,), (291,)),
    "mouth_opening": ((13,), (14,)),
    "lip_thickness": ((0,), (17,)),
    "corner_lift_right": ((61,), (0, 17)),
    "corner_lift_left": ((291,), (0, 17)),
}
"""Distances between landmark groups (centroids); ``corner_lift`` is a signed vertical offset."""

INTER_OCULAR: tuple[int, int] = (33, 263)
DIM = 3 * len(REGIONS) + len(DISTANCES)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray,
                                                                          np.ndarray]:
    """Scale ``s``, rotation ``R`` and translation ``t`` minimising ``|target - (s R source + t)|``
    over corresponding rows (Umeyama, 1991), without reflections."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    src, tgt = source - mu_s, target - mu_t
    covariance = tgt.T @ src / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(source.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src**2).sum() / len(source)
    scale = float((singular * sign).sum() / variance) if variance > 0 else 1.0
    translation = mu_t - scale * rotation @ mu_s
    return scale, rotation, translation


def fill_missing(landmarks: np.ndarray) -> np.ndarray:
    """Frames without a face (all NaN) take the landmarks of the nearest frame with one."""
    found = ~np.isnan(landmarks).any(axis=(1, 2))
    if not found.any():
        raise DataError("no face found by the face mesh in any frame of the clip")
    if found.all():
        return landmarks
    have = np.flatnonzero(found)
    nearest = have[np.abs(np.arange(len(landmarks))[:, None] - have[None, :]).argmin(axis=1)]
    return landmarks[nearest]


def mesh_coefficients(landmarks: np.ndarray) -> np.ndarray:
    """The :data:`DIM` coefficients of each frame from ``(T, 478, 3)`` landmarks (no NaN)."""
    reference = landmarks[0]
    stable = list(STABLE)
    aligned = np.empty_like(landmarks)
    for t, points in enumerate(landmarks):
        scale, rotation, translation = similarity_transform(points[stable], reference[stable])
        aligned[t] = scale * points @ rotation.T + translation
    iod = float(np.linalg.norm(reference[INTER_OCULAR[0]] - reference[INTER_OCULAR[1]]))
    if iod <= 0:
        raise DataError("degenerate face mesh (zero inter-ocular distance)")
    displacement = (aligned - reference[None]) / iod
    regions = np.concatenate(
        [displacement[:, list(ids)].mean(axis=1) for ids in REGIONS.values()], axis=1)
    distances = np.stack([_distance(aligned, a, b) for a, b in DISTANCES.values()], axis=1)
    distances = (distances - distances[:1]) / iod
    return np.concatenate([regions, distances], axis=1).astype(np.float32)


def _distance(points: np.ndarray, first: tuple[int, ...], second: tuple[int, ...]) -> np.ndarray:
    a = points[:, list(first)].mean(axis=1)
    b = points[:, list(second)].mean(axis=1)
    if len(first) == 1 and len(second) == 2:  # a corner's height above the lip centre
        return b[:, 1] - a[:, 1]
    return np.linalg.norm(a - b, axis=1)


@register_extractor
class Mesh3DExtractor(Extractor):
    """Head-pose-free 3D face-mesh displacements, reduced to 52 coefficients (:data:`DIM`)."""

    name = "mesh3d"
    kind = "geometry"
    weight_free = True

    def __init__(self, min_confidence: float = 0.3) -> None:
        self.min_confidence = float(min_confidence)

    def params(self) -> dict[str, Any]:
        return {"min_confidence": self.min_confidence, "dim": DIM, "version": 1,
                "landmarks": "mediapipe face_mesh 478 (refine_landmarks)"}

    def landmarks(self, frames: np.ndarray) -> np.ndarray:
        """``(T, 478, 3)`` landmarks of a clip, missing frames filled from their neighbours."""
        with FaceLandmarker(tracking=True, min_confidence=self.min_confidence) as landmarker:
            return fill_missing(landmarker.clip(frames))

    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        return mesh_coefficients(self.landmarks(frames))
