"""``apexflow``: onset -> apex and apex -> offset motion in mesh-placed facial regions.

Why: the strongest micro-expression methods (and the 4DMR 2025 winner) do not read every frame;
they compare three: the onset, the apex (where the movement peaks) and the offset. ``apexflow``
gives a model exactly that, in the regions of :mod:`~mefuse.features.geometry.regionflow`
(brows, lids, glabella, nose, nasolabial folds, mouth corners, lips, chin; same statistics:
mean dx, dy, mean and 90th-percentile magnitude per inter-ocular distance, optical strain).

Per clip it writes two rows instead of one per frame: row 0 the head-free flow from the first
frame (onset) to the apex, row 1 from the apex to the last frame (offset). The regions come from
the face mesh of the first frame that has a face, as ``regionflow``'s do; the apex is the one
extraction recorded for the clip (``apex_row`` in ``quality.csv``: the labelled apex where the
clip table has ``apex_index``, else the one :func:`~mefuse.preprocess.apex.find_apex` found), or,
called on bare crops, the one ``find_apex`` finds. An apex on the first frame gives a zero row 0,
one on the last frame a zero row 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mefuse.features.base import register_extractor
from mefuse.features.geometry.regionflow import (
    DIM,
    REGIONS,
    STATS,
    RegionFlowExtractor,
    region_statistics,
)
from mefuse.preprocess.apex import find_apex

ROWS: tuple[str, ...] = ("onset_to_apex", "apex_to_offset")
"""What each of the two rows holds, in order."""


def clip_apex(frames: np.ndarray, apex: int | None) -> int:
    """``apex`` clamped to the clip, or the one :func:`find_apex` finds when ``None``."""
    if apex is None:
        return find_apex(frames).index
    return int(min(max(int(apex), 0), len(frames) - 1))


@register_extractor
class ApexFlowExtractor(RegionFlowExtractor):
    """Regional flow and strain from onset to apex and apex to offset (two rows per clip)."""

    name = "apexflow"
    kind = "geometry"
    weight_free = True
    uses_apex = True

    def params(self) -> dict[str, Any]:
        return {"size": self.size, "preset": self.preset, "radius": self.radius,
                "realign_px": self.realign_px, "min_confidence": self.min_confidence,
                "regions": list(REGIONS), "stats": list(STATS), "dim": DIM, "rows": list(ROWS),
                "per_frame": False,  # rows are phases, not frames: never re-sampled
                "apex": "quality.csv apex_row (label, else find_apex), else find_apex",
                "method": "opencv DIS; head motion: robust affine on the face outside the "
                          "regions", "version": 1}

    def extract_clip(self, frames: np.ndarray, apex: int | None = None) -> np.ndarray:
        """``(2, DIM)``: onset -> apex, apex -> offset (see the module docstring)."""
        index = clip_apex(frames, apex)
        layout = self.layout(frames)
        onset, peak, offset = (self._grey(frames[i]) for i in (0, index, len(frames) - 1))
        out = np.zeros((len(ROWS), DIM), dtype=np.float32)
        if index > 0:
            out[0] = region_statistics(self.residual_flow(onset, peak, layout), layout)
        if index < len(frames) - 1:
            out[1] = region_statistics(self.residual_flow(peak, offset, layout), layout)
        return out
