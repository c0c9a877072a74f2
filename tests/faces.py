"""Real photographs that ship in installed packages, for tests that need real faces."""

from __future__ import annotations

import cv2
import numpy as np


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    from mefuse.demo.faces import _grace_hopper

    return _grace_hopper()


def similarity(image: np.ndarray, angle: float, scale: float, shift: tuple[float, float],
               centre: tuple[float, float] | None = None) -> np.ndarray:
    """``image`` rotated, scaled and shifted as a whole (a global head movement)."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(centre or (w / 2, h / 2), angle, scale)
    matrix[:, 2] += shift
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def local_shift(image: np.ndarray, centre: tuple[float, float], radius: float,
                shift: tuple[float, float]) -> np.ndarray:
    """``image`` with a smooth local movement of ``shift`` pixels around ``centre``."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    bump = np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * radius**2))
    return cv2.remap(image, (xs - bump * shift[0]).astype(np.float32),
                     (ys - bump * shift[1]).astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT)
