"""General image helpers: any frame (grey, 16-bit, float, RGBA) as the uint8 RGB that models read.

Why at the bottom of the layers: preprocessing (face detection, crops) and the appearance
extractors (flow, foundation-model pixels) all normalise frames, and must do it one way.
"""

from __future__ import annotations

import numpy as np


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixel values as uint8: 16-bit scaled down by 256, floats in [0, 1] scaled up, other
    values clipped to [0, 255]; uint8 passes through untouched."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating) and array.max(initial=0) <= 1.0:
        array = array * 255.0
    return np.clip(array, 0, 255).astype(np.uint8)


def as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    """A frame as ``(H, W, 3)`` uint8: grey becomes three channels, 16-bit is scaled to 8."""
    array = to_uint8(frame)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {frame.shape}"
        )
    return array
