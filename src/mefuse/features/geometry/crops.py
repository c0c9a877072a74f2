"""The input crop of each 3D encoder, computed from MediaPipe's 478 face-mesh landmarks.

Each encoder was trained on faces framed by its own rule, and its coefficients are only
meaningful on inputs framed the same way; a generic face crop would shift every coefficient.
So each rule here follows its method's own inference code:

- SMIRK: a square around the landmarks' bounding box, side = mean of box width and height x 1.4,
  warped (bilinear, black outside the frame) to 224 x 224;
- FaceVerse v4: the landmark box made square (side L), then a 1.3 L square shifted upwards
  (x: centre +- 0.65 L, y: centre - 0.7 L .. centre + 0.6 L), zero-padded, resized to 256;
- 3DDFA-V3 (Deep3DFaceRecon alignment): five points fitted to a 3D template by scale and
  translation, the frame rescaled by 102 / scale (bicubic) and a 224 square cut around the
  translated centre.

Every rule returns the crop and the 2 x 3 affine matrix that maps frame pixels to crop pixels,
so that tests (and users) can check where the face landed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TDDFA_TEMPLATE = np.array(
    [
        [-0.311487, 0.290361, 0.133780],
        [0.309799, 0.289720, 0.131795],
        [0.003253, -0.046179, 0.552442],
        [-0.252169, -0.381339, 0.224057],
        [0.248466, -0.381282, 0.222358],
    ]
)
"""Deep3DFaceRecon's five-point 3D template (eye centres, nose tip, mouth corners; y up)."""

# MediaPipe face-mesh indices for the five points, in the template's order (image left first).
_RIGHT_EYE_CORNERS = (33, 133)  # the subject's right eye, on the image's left
_LEFT_EYE_CORNERS = (362, 263)
_NOSE_TIP = 1
_MOUTH_CORNERS = (61, 291)


@dataclass(frozen=True)
class Crop:
    """A crop and the affine map from frame pixels ``(x, y)`` to crop pixels."""

    image: np.ndarray
    matrix: np.ndarray

    def project(self, points: np.ndarray) -> np.ndarray:
        """Frame pixel coordinates ``(N, >=2)`` mapped into the crop, ``(N, 2)``."""
        xy = np.asarray(points, dtype=np.float64)[:, :2]
        return xy @ self.matrix[:, :2].T + self.matrix[:, 2]


def smirk_crop(frame: np.ndarray, landmarks: np.ndarray, *, scale: float = 1.4,
               size: int = 224) -> Crop:
    """SMIRK's crop: square of side ``scale`` x mean(box width, box height), warped to ``size``."""
    import cv2

    xy = landmarks[:, :2]
    left, top = xy.min(axis=0)
    right, bottom = xy.max(axis=0)
    centre_x, centre_y = (left + right) / 2.0, (top + bottom) / 2.0
    side = int(((right - left) + (bottom - top)) / 2.0 * scale)
    side = max(side, 1)
    # SMIRK maps the square's corners onto (0, 0) and (size - 1, size - 1): a pure scale + shift.
    k = (size - 1) / side
    x0, y0 = centre_x - side / 2.0, centre_y - side / 2.0
    matrix = np.array([[k, 0.0, -k * x0], [0.0, k, -k * y0]])
    image = cv2.warpAffine(
        np.ascontiguousarray(frame), matrix, (size, size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0),
    )
    return Crop(image, matrix)


def faceverse_crop(frame: np.ndarray, landmarks: np.ndarray, *, size: int = 256) -> Crop:
    """FaceVerse v4's crop: 1.3 L square above-centred on the landmark box, zero-padded."""
    import cv2

    xy = landmarks[:, :2].astype(np.float32)
    left, top = xy.min(axis=0)
    right, bottom = xy.max(axis=0)
    # run.py first squares the landmark box (floored centre, floored half side) ...
    half = np.floor(max(right - left, bottom - top) / 2.0)
    centre_x = np.floor((left + right) / 2.0)
    centre_y = np.floor((top + bottom) / 2.0)
    length = int(2 * half)
    # ... then FaceVerseRecon.crop_img cuts an asymmetric box around it (int() truncates).
    x0 = int(centre_x - length * 0.65)
    y0 = int(centre_y - length * 0.7)
    x1 = int(centre_x + length * 0.65)
    y1 = int(centre_y + length * 0.6)
    if length <= 0 or x1 <= x0 or y1 <= y0:
        return Crop(np.zeros((size, size, 3), np.uint8),
                    np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    cut = cut_zero_padded(frame, x0, y0, x1, y1)
    image = cv2.resize(cut, (size, size), interpolation=cv2.INTER_LINEAR)
    sx, sy = size / (x1 - x0), size / (y1 - y0)
    # cv2.resize maps pixel centres: x' = (x - x0 + 0.5) * sx - 0.5.
    matrix = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])
    return Crop(image, matrix)


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The five alignment points ``(5, 2)`` from MediaPipe landmarks, in the template's order.

    Eye centres are the mean of each eye's two corners rather than the iris centres, so that
    gaze changes do not move the crop.
    """
    xy = landmarks[:, :2]
    return np.stack([
        xy[list(_RIGHT_EYE_CORNERS)].mean(axis=0),
        xy[list(_LEFT_EYE_CORNERS)].mean(axis=0),
        xy[_NOSE_TIP],
        xy[_MOUTH_CORNERS[0]],
        xy[_MOUTH_CORNERS[1]],
    ])


def fit_scale_translation(points_2d: np.ndarray, template: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares affine projection of the 3D ``template`` onto ``points_2d`` (y up).

    Returns the projection's mean row norm (its scale) and its translation, as Deep3DFaceRecon's
    alignment does: the rows are fitted freely, and only their norms are kept.
    """
    n = len(points_2d)
    design = np.zeros((2 * n, 8))
    design[0::2, 0:3] = template
    design[0::2, 3] = 1.0
    design[1::2, 4:7] = template
    design[1::2, 7] = 1.0
    target = points_2d.reshape(-1)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    scale = (np.linalg.norm(solution[0:3]) + np.linalg.norm(solution[4:7])) / 2.0
    return float(scale), np.array([solution[3], solution[7]])


def tddfa_crop(frame: np.ndarray, landmarks: np.ndarray, *, size: int = 224,
               rescale: float = 102.0) -> Crop:
    """3DDFA-V3's crop: five-point fit to the template, rescale by ``rescale / s``, cut ``size``."""
    from PIL import Image

    height, width = frame.shape[:2]
    points = five_points(landmarks).astype(np.float64)
    points[:, 1] = height - 1 - points[:, 1]  # the template's y axis points up
    scale, translation = fit_scale_translation(points, TDDFA_TEMPLATE)
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    s = rescale / scale
    new_w, new_h = max(int(width * s), 1), max(int(height * s), 1)
    left = int(new_w / 2 - size / 2 + (translation[0] - width / 2) * s)
    up = int(new_h / 2 - size / 2 + (height / 2 - translation[1]) * s)
    resized = np.asarray(
        Image.fromarray(np.ascontiguousarray(frame)).resize((new_w, new_h),
                                                            Image.Resampling.BICUBIC)
    )
    image = cut_zero_padded(resized, left, up, left + size, up + size)
    sx, sy = new_w / width, new_h / height
    matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5 - left], [0.0, sy, 0.5 * sy - 0.5 - up]])
    return Crop(image, matrix)


def cut_zero_padded(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` with zeros wherever the box leaves the image."""
    height, width = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0, *image.shape[2:]), dtype=image.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x1, width), min(y1, height)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out
