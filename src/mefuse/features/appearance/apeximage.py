"""``apeximage``: the onset -> apex optical flow and strain as a 28 x 28 image (STSTNet's input).

Why: STSTNet, OFF-ApexNet and their kin take three 28 x 28 maps of the face: the horizontal and
vertical optical flow from the onset to the apex and the optical strain. ``apeximage`` makes
them from the face crops with no weights, so those baselines run on any store.

Per clip (one row): the grey crop is resized to ``size`` pixels; OpenCV's DIS flow from the
first frame (onset) to the apex is computed; the head's motion (a robust affine fit over the
crop less a border of ``margin``, see :mod:`mefuse.preprocess.apex`) is removed; the residual
flow is averaged down to 28 x 28 (area interpolation) and its vectors rescaled to pixels of the
28 x 28 image; the strain ``sqrt(exx^2 + eyy^2 + 2 exy^2)`` is computed on the ``size`` flow
and averaged down likewise. Output: ``(1, 3*28*28)`` float32, the C-order flattening of
``(3, 28, 28)``: channel 0 u (right positive), 1 v (down positive), 2 strain.

Normalisation: none beyond those units: u and v are in pixels of the 28 x 28 face (so the
numbers do not depend on ``size`` or the crop size), strain is dimensionless; a model should
standardise the channels with its training clips' statistics. The apex is the one extraction
recorded (``apex_row`` in ``quality.csv``: the label where the clip table has ``apex_index``,
else the found one), or on bare crops the one :func:`~mefuse.preprocess.apex.find_apex` finds;
an apex on the first frame gives zeros.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mefuse.errors import ConfigError
from mefuse.features.base import Extractor, register_extractor
from mefuse.features.geometry.apexflow import clip_apex
from mefuse.preprocess.apex import PRESETS, HeadFreeFlow, grey_frames, inner_mask, optical_strain

SIDE = 28
"""Side of the output maps, in pixels (STSTNet's input)."""


def apex_image(onset: np.ndarray, apex: np.ndarray, flows: HeadFreeFlow) -> np.ndarray:
    """``(3, SIDE, SIDE)`` u, v, strain of the head-free flow from ``onset`` to ``apex`` (grey
    images of ``flows.size`` pixels)."""
    flow = flows(onset, apex)
    strain = optical_strain(flow)
    small = cv2.resize(flow, (SIDE, SIDE), interpolation=cv2.INTER_AREA) * (SIDE / flows.size)
    small_strain = cv2.resize(strain, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return np.concatenate([small.transpose(2, 0, 1), small_strain[None]]).astype(np.float32)


@register_extractor
class ApexImageExtractor(Extractor):
    """Onset -> apex flow (u, v) and optical strain on a 28 x 28 face (one row per clip)."""

    name = "apeximage"
    kind = "appearance"
    weight_free = True
    uses_apex = True

    def __init__(self, size: int = 224, preset: str = "medium", margin: float = 0.12,
                 realign_px: float = 1.0) -> None:
        if preset not in PRESETS:
            raise ConfigError(
                f"apeximage preset must be one of {', '.join(PRESETS)}, got {preset!r}")
        if int(size) < SIDE:
            raise ConfigError(f"apeximage needs size >= {SIDE}, got {size}")
        if not 0 <= float(margin) < 0.5:
            raise ConfigError(f"apeximage margin must be in [0, 0.5), got {margin}")
        self.size = int(size)
        self.preset = preset
        self.margin = float(margin)
        self.realign_px = float(realign_px)
        self._flows = HeadFreeFlow(self.size, preset, self.realign_px,
                                   inner_mask(self.size, self.margin))

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "preset": self.preset, "margin": self.margin,
                "realign_px": self.realign_px, "side": SIDE, "channels": ["u", "v", "strain"],
                "units": "u, v: pixels of the 28x28 face; strain: dimensionless",
                "per_frame": False,  # rows are phases, not frames: never re-sampled
                "apex": "quality.csv apex_row (label, else find_apex), else find_apex",
                "method": "opencv DIS; head motion: robust affine on the inner crop",
                "version": 1}

    def extract_clip(self, frames: np.ndarray, apex: int | None = None) -> np.ndarray:
        """``(1, 3*28*28)``: see the module docstring."""
        index = clip_apex(frames, apex)
        out = np.zeros((3, SIDE, SIDE), dtype=np.float32)
        if index > 0:
            onset, peak = grey_frames(frames[[0, index]], self.size)
            out = apex_image(onset, peak, self._flows)
        return out.reshape(1, -1)
