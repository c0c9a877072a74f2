"""From a sequence's rows to face crops: read the sampled frames once, cut each view, find the
face on the first frame that shows one, crop every frame with that box, and drop a clip whose
crops lack a face too often (stage ``faces``). Thread-safe: each thread has its own detector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mefuse.errors import MefuseError
from mefuse.preprocess.config import PreprocessConfig
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.faces import FaceFinder
from mefuse.preprocess.sampling import uniform_indices
from mefuse.preprocess.views import split_view
from mefuse.store.reports import Failure
from mefuse.utils.ordered import ordered_map


@dataclass
class PreparedClip:
    clip_id: str
    crops: np.ndarray | None
    failure: Failure | None = None
    quality: dict[str, Any] | None = None
    """How the face was found and how many crops lack one (a row of ``quality.csv``)."""
    apex_row: int | None = None
    """The crop nearest to the clip's apex (labelled, else found); given to the extractors
    that declare ``uses_apex``."""

    @property
    def ready_crops(self) -> np.ndarray:
        """The crops of a clip that was prepared without failure."""
        if self.crops is None:
            raise ValueError(f"clip {self.clip_id} has no crops ({self.failure})")
        return self.crops


class Preparer:
    """Reads, views, detects and crops the clips of one sequence (thread-safe per thread)."""

    def __init__(self, config: PreprocessConfig, save_crops: Path | None) -> None:
        self.config = config
        self.save_crops = save_crops
        self._local = threading.local()

    def _finder(self) -> FaceFinder:
        if not hasattr(self._local, "finder"):
            self._local.finder = FaceFinder(min_confidence=self.config.min_confidence)
        return self._local.finder

    def __call__(self, rows: pd.DataFrame) -> list[PreparedClip]:
        from mefuse.data.frames import open_frames

        first = rows.iloc[0]
        try:
            with open_frames(first["source"]) as source:
                start = 0 if pd.isna(first.get("start")) else int(first["start"])
                end = len(source) - 1 if pd.isna(first.get("end")) else int(first["end"])
                end = min(end, len(source) - 1)
                count = end - start + 1
                if count < self.config.min_frames:
                    raise MefuseError(f"{max(count, 0)} frame(s) in the clip's window; at "
                                      f"least {self.config.min_frames} are needed")
                wanted = self.config.frames or count
                positions = start + uniform_indices(count, wanted)
                unique, inverse = np.unique(positions, return_inverse=True)
                frames = list(source.iter_frames([int(i) for i in unique]))
                frames = [frames[i] for i in inverse]
        except (MefuseError, OSError, cv2.error, ValueError) as exc:
            return [PreparedClip(c, None, Failure(c, "read", str(exc))) for c in rows["clip_id"]]
        out = []
        for _, row in rows.iterrows():
            clip = self._crop_view(row["clip_id"], row["view"], frames)
            if clip.crops is not None and clip.quality is not None:
                clip.apex_row = place_apex(clip.quality, clip.crops, positions,
                                           row.get("apex_index"))
            out.append(clip)
        return out

    def _crop_view(self, clip_id: str, view: str, frames: list[np.ndarray]) -> PreparedClip:
        try:
            parts = [split_view(f, view) for f in frames]
            finder = self._finder()
            found = finder.search(parts, scale=self.config.face_scale,
                                  search_frames=self.config.face_search,
                                  crop_size=self.config.crop_size)
            quality = {"clip_id": clip_id, "frames": len(parts), **found.row(),
                       "face_kept": False}
            if found.box is None:
                rejected = (f" ({found.rejected} detection(s) rejected: no face in the crop "
                            "they give)" if found.rejected else "")
                return PreparedClip(clip_id, None, Failure(
                    clip_id, "detect", f"no face in the first {found.searched} frames{rejected} "
                    "(MediaPipe full-range and short-range models; --face-search sets how many "
                    "are searched)"), quality)
            crops = np.stack([crop_square(p, found.box, self.config.crop_size) for p in parts])
            missing = (finder.frames_without_face(crops, present={found.frame})
                       if self.config.presence_check else None)
            quality["frames_without_face"] = missing
        except (MefuseError, ValueError, cv2.error) as exc:
            return PreparedClip(clip_id, None, Failure(clip_id, "crop", str(exc)))
        faceless = self._faceless(clip_id, missing, len(crops))
        quality["face_kept"] = faceless is None
        if faceless is not None:
            return PreparedClip(clip_id, None, faceless, quality)
        if self.save_crops is not None:
            folder = self.save_crops / clip_id
            folder.mkdir(parents=True, exist_ok=True)
            for index, crop in enumerate(crops):
                cv2.imwrite(str(folder / f"{index:04d}.jpg"), crop[:, :, ::-1])
        return PreparedClip(clip_id, crops, quality=quality)

    def _faceless(self, clip_id: str, missing: int | None, frames: int) -> Failure | None:
        """The ``faces`` failure of a clip whose crops lack a face too often, unless the user
        keeps such clips (``None`` also when the presence check is off: nothing was counted)."""
        if missing is None or self.config.keep_faceless:
            return None
        share = missing / frames
        if share <= self.config.max_faceless:
            return None
        return Failure(clip_id, "faces", (
            f"no face in {missing} of {frames} crops ({percent(share)}), more than "
            f"--max-faceless {self.config.max_faceless:g} allows (the face left or never came; "
            "--keep-faceless keeps such clips)"))


def place_apex(quality: dict[str, Any], crops: np.ndarray, positions: np.ndarray,
               label: Any) -> int:
    """Find the apex of a clip's crops, write the ``apex_*`` columns into its quality row
    (positions in the source's frame order: ``positions[i]`` is crop i's frame) and return
    the crop row of the apex used: the label (``apex_index``) where given, else the found one."""
    from mefuse.preprocess.apex import find_apex

    try:
        found: int | None = int(positions[find_apex(crops).index])
    except (MefuseError, cv2.error, ValueError):
        found = None
    labelled = None if label is None or pd.isna(label) else int(label)
    used = labelled if labelled is not None else found
    row = 0 if used is None else int(np.argmin(np.abs(positions - used)))
    quality.update({"apex_label": labelled, "apex_found": found, "apex_frame": used,
                    "apex_source": None if used is None else
                    ("label" if labelled is not None else "found"),
                    "apex_row": None if used is None else row})
    return row


def percent(share: float) -> str:
    """``0.8`` as ``80%``, ``0.201`` as ``20.1%`` (enough digits to tell it from a limit)."""
    return f"{100 * share:.3g}%"


def prefetch(func: Callable[[pd.DataFrame], list[PreparedClip]], groups: list[pd.DataFrame],
              workers: int) -> Iterator[list[PreparedClip]]:
    """``func`` over ``groups`` in ``workers`` threads, in order, at most ``workers + 1`` ahead
    (memory stays bounded by a few sequences' crops, however large the dataset)."""
    if workers <= 0:
        yield from map(func, groups)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mefuse-prep") as pool:
        yield from ordered_map(pool, func, groups, workers)
