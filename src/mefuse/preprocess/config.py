"""How frames become face crops: the preprocessing settings of an extraction run.

Why here and not with the pipeline: the settings describe preprocessing (views, crop size,
sampled frames, face search and presence) and are recorded in every extractor's manifest, so a
trained model can rebuild them (:mod:`mefuse.inference`) and the data checker can read their
defaults without importing the extraction pipeline.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mefuse.errors import ConfigError
from mefuse.preprocess.views import views_for


@dataclass(frozen=True)
class PreprocessConfig:
    """How frames become face crops (recorded in every extractor's manifest)."""

    views: str = "none"
    """One full view; ``both`` splits side-by-side two-camera frames (4DMR), see views.py."""
    crop_size: int = 1024
    frames: int = 0
    """Frames sampled uniformly from each clip's window (the paper's rule); 0 keeps all."""
    face_scale: float = 1.5
    min_confidence: float = 0.005
    face_search: int = 100
    """Frames searched, from the first, until a face is found (0 = the whole clip)."""
    presence_check: bool = True
    """Count the crops in which no face is present (short-range model on each crop)."""
    max_faceless: float = 0.2
    """Largest share (0..1) of a clip's crops without a face that the clip may have; a clip with
    more fails at stage ``faces`` (its box crops background: the face left, or never came).
    Needs the presence check."""
    keep_faceless: bool = False
    """Keep clips over ``max_faceless`` all the same (quality.csv and ``predict`` show the
    share)."""
    min_frames: int = 2
    """A clip with fewer frames has no motion to measure and is reported as a failure."""

    def __post_init__(self) -> None:
        views_for(self.views)
        if self.crop_size < 16:
            raise ConfigError(f"crop size must be at least 16 px, got {self.crop_size}")
        if self.frames < 0 or self.face_scale <= 0 or self.face_search < 0:
            raise ConfigError("frames must be >= 0, face scale > 0 and face search >= 0")
        if not 0 <= self.max_faceless <= 1:
            raise ConfigError("the largest share of crops without a face (--max-faceless) must "
                              f"be between 0 and 1, got {self.max_faceless}")

    def manifest(self) -> dict[str, Any]:
        settings = asdict(self)
        for report_only in ("presence_check", "max_faceless", "keep_faceless"):
            settings.pop(report_only)  # which clips are kept, not how features are computed
        return {**settings,
                "detector": "mediapipe face_detection full-range, short-range fallback",
                "resize": "lanczos", "box": "first frame with a face, square, reused"}
