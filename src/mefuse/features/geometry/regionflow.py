"""``regionflow``: optical flow in facial regions placed by the face mesh (weight-free geometry).

Why: ``mesh3d`` reads expressions from MediaPipe's landmarks, which follow the mouth well but
the brows and lids poorly (the mesh is fitted to the face's shape, not to its skin's small
movements). ``flow`` sees every pixel move but pools it on a grid that knows nothing about where
the brows or lip corners are. ``regionflow`` joins the two, as the classic micro-expression
descriptors do (MDMO's regions of interest, optical strain): the mesh says *where* to look, the
flow says *how the skin moved there*.

Per clip (face crops with one fixed box, as every extractor gets them):

1. the 478-point mesh on the first frame (the onset; if MediaPipe misses it, the first frame
   where it finds the face) places :data:`REGIONS`: discs of ``radius`` inter-ocular distances
   around each region's landmarks (brows inner and outer, upper and lower lids, glabella, nose
   wrinkle, nasolabial folds, mouth corners, lips, chin), and the *reference area*: the face's
   convex hull minus every region grown to twice its radius (forehead, nose, cheeks, jaw);
2. OpenCV's DIS optical flow from the first frame to each frame, on the grey crop resized to
   ``size`` pixels;
3. the head's motion is removed: an affine motion field is fitted to the flow of the reference
   area (iteratively reweighted least squares with Tukey's biweight, so that a few moving
   pixels there do not bend it) and subtracted. When that head motion is larger than
   ``realign_px`` pixels somewhere on the face, the frame is first warped back onto the first
   frame by it and the flow computed again (DIS is most accurate for small motions), so large
   head movements cost a second flow and small ones do not;
4. per region, from the residual flow divided by the first frame's inter-ocular distance (so the
   numbers do not depend on crop or face size): mean dx and dy (the region's main direction,
   image axes, y down), mean and 90th-percentile magnitude, and mean optical strain
   ``sqrt(exx^2 + eyy^2 + 2 exy^2)`` from the flow's spatial gradients (which is dimensionless:
   it measures how the skin stretches, not how far it moves).

That gives :data:`STATS` x len(:data:`REGIONS`) values per frame; frame 0 is zero by
construction. Region indices follow MediaPipe's canonical face mesh; "left" and "right" are the
subject's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mefuse.errors import ConfigError, DataError
from mefuse.features.appearance.flow import PRESETS
from mefuse.features.base import Extractor, register_extractor
from mefuse.features.geometry.mesh3d import INTER_OCULAR
from mefuse.preprocess.apex import optical_strain as strain_magnitude
from mefuse.preprocess.landmarks import FaceLandmarker, as_rgb_uint8

REGIONS: dict[str, tuple[int, ...]] = {
    "brow_inner_right": (107, 66, 105, 55, 65, 52),
    "brow_outer_right": (63, 70, 53, 46),
    "brow_inner_left": (336, 296, 334, 285, 295, 282),
    "brow_outer_left": (293, 300, 283, 276),
    "glabella": (9, 8, 168, 193, 417),
    "nose_wrinkle": (6, 197, 196, 419, 3, 248, 236, 456),
    "upper_lid_right": (246, 161, 160, 159, 158, 157, 173),
    "lower_lid_right": (7, 163, 144, 145, 153, 154, 155),
    "upper_lid_left": (466, 388, 387, 386, 385, 384, 398),
    "lower_lid_left": (249, 390, 373, 374, 380, 381, 382),
    "nasolabial_right": (36, 203, 206, 216, 92),
    "nasolabial_left": (266, 423, 426, 436, 322),
    "mouth_corner_right": (61, 78, 146, 185),
    "mouth_corner_left": (291, 308, 375, 409),
    "upper_lip": (0, 37, 39, 40, 267, 269, 270, 13, 82, 312, 81, 311),
    "lower_lip": (17, 84, 181, 91, 314, 405, 321, 14, 87, 317, 178, 402),
    "chin": (18, 200, 199, 175, 152, 148, 377, 171, 396),
}
"""Regions of interest: MediaPipe face-mesh landmarks whose neighbourhoods make each region."""

STATS: tuple[str, ...] = ("dx", "dy", "magnitude", "magnitude_p90", "strain")
"""Values kept per region, in this order (region-major: all of a region's values together)."""

STRAIN_SIGMA = 1.5
"""Gaussian smoothing (flow pixels) of the flow before its gradients: DIS works on patches, and
raw gradients pick up their seams."""
DIM = len(STATS) * len(REGIONS)


def feature_names() -> list[str]:
    """``<region>.<stat>`` for each of the :data:`DIM` columns."""
    return [f"{region}.{stat}" for region in REGIONS for stat in STATS]


class RegionLayout:
    """Where the regions and the reference area lie in a ``size x size`` flow field.

    Built once per clip from the first frame's landmarks (in flow pixels). ``regions`` holds
    the flat pixel indices of each region; ``reference`` those of the head-motion reference
    area; ``iod`` the inter-ocular distance in flow pixels.
    """

    def __init__(self, landmarks: np.ndarray, size: int, radius: float) -> None:
        points = np.asarray(landmarks, dtype=np.float64)[:, :2]
        self.size = size
        self.iod = float(np.linalg.norm(points[INTER_OCULAR[0]] - points[INTER_OCULAR[1]]))
        if not np.isfinite(self.iod) or self.iod < 4.0:
            raise DataError(f"degenerate face mesh (inter-ocular distance {self.iod:.1f} px)")
        ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
        grown = np.zeros((size, size), dtype=bool)
        self.regions: list[np.ndarray] = []
        for ids in REGIONS.values():
            near = self._near(xs, ys, points[list(ids)], radius * self.iod)
            if not near.any():
                raise DataError("a facial region lies outside the face crop")
            self.regions.append(np.flatnonzero(near))
            grown |= self._near(xs, ys, points[list(ids)], 2 * radius * self.iod)
        hull = np.zeros((size, size), dtype=np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points).astype(np.int32)), 1)
        reference = hull.astype(bool) & ~grown
        if reference.sum() < 50:
            raise DataError("too little of the face lies outside the regions to measure the "
                            "head's motion")
        self.reference = np.flatnonzero(reference)
        self.members = np.concatenate(self.regions)
        self.counts = np.array([len(r) for r in self.regions])
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.p90_ranks = [int(0.9 * (n - 1)) for n in self.counts]
        self.axis = np.arange(size, dtype=np.float32) / size
        grid = np.stack([xs / size, ys / size, np.ones_like(xs)], axis=-1).reshape(-1, 3)
        self.reference_design = grid[self.reference[::2]].astype(np.float64)
        self.face = np.concatenate([self.reference, self.members])

    def head_motion(self, flow: np.ndarray) -> np.ndarray:
        """The robust affine fit of ``flow`` on the reference area, as a ``(size, size, 2)``
        field."""
        # every other reference pixel: neighbours' flow is strongly correlated anyway
        a = fit_affine_motion(flow, self.reference[::2], self.reference_design).astype(np.float32)
        return (self.axis[None, :, None] * a[0] + self.axis[:, None, None] * a[1] + a[2])

    @staticmethod
    def _near(xs: np.ndarray, ys: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
        mask = np.zeros(xs.shape, dtype=bool)
        for cx, cy in centres:
            mask |= (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
        return mask


def fit_affine_motion(flow: np.ndarray, pixels: np.ndarray, design: np.ndarray,
                      iterations: int = 4) -> np.ndarray:
    """The ``(3, 2)`` affine motion ``design @ A`` that best explains ``flow`` at the flat pixel
    indices ``pixels`` (``design`` holds their rows ``[x / size, y / size, 1]``), robust to a
    minority of pixels that move on their own: IRLS with Tukey's biweight, its scale from the
    median absolute residual (at least 0.05 px, the flow's own noise)."""
    target = flow.reshape(-1, 2)[pixels].astype(np.float64)
    weights = np.ones(len(pixels))
    coefficients = np.zeros((3, 2))
    for _ in range(iterations):
        weighted = design * weights[:, None]
        normal = weighted.T @ design + 1e-9 * np.eye(3)
        coefficients = np.linalg.solve(normal, weighted.T @ target)
        residual = np.linalg.norm(target - design @ coefficients, axis=1)
        scale = 4.685 * max(1.4826 * float(np.median(residual)), 0.05)
        weights = np.clip(1 - (residual / scale) ** 2, 0, None) ** 2
    return coefficients


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Magnitude of the infinitesimal strain tensor of a ``(H, W, 2)`` flow, per pixel
    (:func:`mefuse.preprocess.apex.optical_strain` at this stream's smoothing)."""
    return strain_magnitude(flow, STRAIN_SIGMA)


def region_statistics(flow: np.ndarray, layout: RegionLayout) -> np.ndarray:
    """The :data:`DIM` values of one residual flow field (pixels), region by region."""
    vectors = flow.reshape(-1, 2)[layout.members] / layout.iod
    magnitude = np.sqrt((vectors**2).sum(axis=1))
    strain = optical_strain(flow).reshape(-1)[layout.members]
    columns = np.column_stack([vectors, magnitude, strain]).astype(np.float64)
    means = np.add.reduceat(columns, layout.starts, axis=0) / layout.counts[:, None]
    peaks = [np.partition(part, rank)[rank]
             for part, rank in zip(np.split(magnitude, layout.starts[1:]), layout.p90_ranks,
                                   strict=True)]
    out = np.column_stack([means[:, :3], peaks, means[:, 3]])
    return out.reshape(-1).astype(np.float32)


@register_extractor
class RegionFlowExtractor(Extractor):
    """Head-motion-free optical flow statistics in mesh-placed facial regions (no weights)."""

    name = "regionflow"
    kind = "geometry"

    def __init__(self, size: int = 256, preset: str = "medium", radius: float = 0.08,
                 realign_px: float = 1.0, min_confidence: float = 0.3) -> None:
        if preset not in PRESETS:
            raise ConfigError(
                f"regionflow preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        if int(size) < 64:
            raise ConfigError(f"regionflow needs size >= 64, got {size}")
        if not 0 < float(radius) <= 0.5:
            raise ConfigError(f"regionflow radius must be in (0, 0.5] inter-ocular distances, "
                              f"got {radius}")
        if float(realign_px) < 0:
            raise ConfigError(f"regionflow realign_px must be >= 0, got {realign_px}")
        self.size = int(size)
        self.preset = preset
        self.radius = float(radius)
        self.realign_px = float(realign_px)
        self.min_confidence = float(min_confidence)
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "preset": self.preset, "radius": self.radius,
                "realign_px": self.realign_px, "min_confidence": self.min_confidence,
                "regions": list(REGIONS), "stats": list(STATS), "dim": DIM,
                "method": "opencv DIS; head motion: robust affine on the face outside the "
                          "regions", "version": 1}

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(as_rgb_uint8(frame), cv2.COLOR_RGB2GRAY)
        if grey.shape[:2] != (self.size, self.size):
            grey = cv2.resize(grey, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return grey

    def layout(self, frames: np.ndarray) -> RegionLayout:
        """The regions of a clip, placed by the mesh of its first frame that has a face."""
        with FaceLandmarker(tracking=False, min_confidence=self.min_confidence) as landmarker:
            for frame in frames:
                points = landmarker(frame)
                if points is not None:
                    scale = np.array([self.size / frame.shape[1], self.size / frame.shape[0]])
                    return RegionLayout(points[:, :2] * scale, self.size, self.radius)
        raise DataError("no face found by the face mesh in any frame of the clip")

    def residual_flow(self, first: np.ndarray, frame: np.ndarray,
                      layout: RegionLayout) -> np.ndarray:
        """Flow from ``first`` to ``frame`` (grey, flow size) with the head's motion removed."""
        flow = self._dis.calc(first, frame, None)
        head = layout.head_motion(flow)
        if np.abs(head.reshape(-1, 2)[layout.face]).max() > self.realign_px:
            # warp the frame back onto the first by the head's motion: frame(x + head(x))
            xs, ys = np.meshgrid(np.arange(self.size, dtype=np.float32),
                                 np.arange(self.size, dtype=np.float32))
            frame = cv2.remap(frame, xs + head[..., 0], ys + head[..., 1], cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REPLICATE)
            flow = self._dis.calc(first, frame, None)
            head = layout.head_motion(flow)
        return flow - head

    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        layout = self.layout(frames)
        first = self._grey(frames[0])
        out = np.zeros((len(frames), DIM), dtype=np.float32)
        for t in range(1, len(frames)):
            out[t] = region_statistics(self.residual_flow(first, self._grey(frames[t]), layout),
                                       layout)
        return out
