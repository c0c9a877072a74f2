"""``flow``: dense optical flow from the clip's first frame, summarised on a spatial grid.

For each frame t, OpenCV's DIS optical flow (a fast, accurate dense method that needs no
weights) is computed from frame 0 to frame t on the grey face crop resized to ``size`` pixels.
The head's own movement is removed first (``remove_global``): ``affine`` (the default) subtracts
the least-squares affine motion of the whole crop, which is what a small head translation,
rotation or scaling looks like in the image, ``translation`` only the median flow vector, and
``none`` nothing. Expressions move small regions, so they survive in the residual. The flow
field is then averaged over a ``grid x grid`` layout of cells, giving per cell the mean
horizontal and vertical displacement and the mean magnitude, in units of the crop side (so the
numbers do not depend on ``size``). Frame 0 is all zeros by construction.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mefuse.errors import ConfigError
from mefuse.features.base import Extractor, register_extractor
from mefuse.utils.image import as_rgb_uint8

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


GLOBAL_MOTION: tuple[str, ...] = ("affine", "translation", "none")


def remove_global_motion(flow: np.ndarray, mode: str, step: int = 4) -> np.ndarray:
    """``flow`` minus the motion of the whole crop: its least-squares affine fit (estimated on
    every ``step``-th pixel), its median vector, or nothing."""
    if mode == "none":
        return flow
    if mode == "translation":
        return flow - np.median(flow.reshape(-1, 2), axis=0)
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    design = np.stack([xs / width, ys / height, np.ones_like(xs)], axis=-1)
    sample = design[::step, ::step].reshape(-1, 3)
    coefficients, *_ = np.linalg.lstsq(sample, flow[::step, ::step].reshape(-1, 2), rcond=None)
    return flow - design @ coefficients.astype(np.float32)


def grid_summary(flow: np.ndarray, grid: int) -> np.ndarray:
    """Mean dx, dy and magnitude per cell of a ``(H, W, 2)`` flow, as ``3 * grid**2`` values."""
    height, width = flow.shape[:2]
    magnitude = np.linalg.norm(flow, axis=2)
    channels = np.dstack([flow, magnitude])
    # cv2.resize with INTER_AREA averages exactly when the size divides evenly
    cells = cv2.resize(channels, (grid, grid), interpolation=cv2.INTER_AREA)
    if height % grid or width % grid:
        ys = np.linspace(0, height, grid + 1).astype(int)
        xs = np.linspace(0, width, grid + 1).astype(int)
        cells = np.array([[channels[ys[i]:ys[i + 1], xs[j]:xs[j + 1]].mean(axis=(0, 1))
                           for j in range(grid)] for i in range(grid)])
    return cells.transpose(2, 0, 1).reshape(-1)


@register_extractor
class FlowExtractor(Extractor):
    """Grid-pooled DIS optical flow relative to the first frame (weight-free appearance)."""

    name = "flow"
    kind = "appearance"
    weight_free = True

    def __init__(self, size: int = 256, grid: int = 8, preset: str = "medium",
                 remove_global: str | bool = "affine") -> None:
        if preset not in PRESETS:
            raise ConfigError(f"flow preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        if int(grid) < 1 or int(size) < 16:
            raise ConfigError(f"flow needs size >= 16 and grid >= 1, got size={size}, grid={grid}")
        self.size = int(size)
        self.grid = int(grid)
        self.preset = preset
        if remove_global is True:
            remove_global = "affine"
        elif remove_global is False:
            remove_global = "none"
        if remove_global not in GLOBAL_MOTION:
            raise ConfigError(f"flow remove_global must be one of {', '.join(GLOBAL_MOTION)}, "
                              f"got {remove_global!r}")
        self.remove_global = str(remove_global)
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])  # type: ignore[attr-defined]

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "grid": self.grid, "preset": self.preset,
                "remove_global": self.remove_global, "method": "opencv DIS", "version": 1}

    def _grey(self, frame: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(as_rgb_uint8(frame), cv2.COLOR_RGB2GRAY)
        if grey.shape[:2] != (self.size, self.size):
            grey = cv2.resize(grey, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return grey

    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        first = self._grey(frames[0])
        out = np.zeros((len(frames), 3 * self.grid**2), dtype=np.float32)
        for t in range(1, len(frames)):
            flow = self._dis.calc(first, self._grey(frames[t]), None)
            flow = remove_global_motion(flow, self.remove_global)
            out[t] = grid_summary(flow / self.size, self.grid)
        return out
