"""Square crops with zero padding, resized with Lanczos (the paper's 1024 px by default)."""

from __future__ import annotations

import cv2
import numpy as np

from mefuse.preprocess.detect import Box
from mefuse.utils.image import as_rgb_uint8


def crop_square(frame: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The ``box`` region of ``frame`` as a ``(size, size, 3)`` uint8 RGB image.

    Parts of the box outside the frame are black (zero padding; the authors' code clips its
    non-square box to the frame instead, see :mod:`mefuse.preprocess.detect`); grey and 16-bit
    frames are made 8-bit RGB first. Lanczos interpolation matches the paper's resize.
    """
    rgb = as_rgb_uint8(frame)
    height, width = rgb.shape[:2]
    canvas = np.zeros((box.side, box.side, 3), dtype=np.uint8)
    x0, y0 = max(box.x, 0), max(box.y, 0)
    x1, y1 = min(box.x + box.side, width), min(box.y + box.side, height)
    if x1 > x0 and y1 > y0:
        canvas[y0 - box.y : y1 - box.y, x0 - box.x : x1 - box.x] = rgb[y0:y1, x0:x1]
    if box.side == size:
        return canvas
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_LANCZOS4)
