"""Each clip's apex row, as extraction recorded it in the store's quality table.

Apex sampling (``--sampling apex``) needs, per clip, the row of its stored feature arrays that
holds the apex: the ``apex_row`` column of ``quality.csv`` (:data:`mefuse.store.quality.
APEX_COLUMNS`), written at extraction from the labelled apex (the clip table's ``apex_index``)
or, where there is none, from the apex found in the face's motion. A clip without one (extracted
by an older mefuse, or its row lost) is an error that names it and says how to get it: silently
falling back to uniform sampling would train a model on another input than the one asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mefuse.errors import DataError
from mefuse.store.layout import QUALITY
from mefuse.store.quality import read_quality

SHOWN = 5
"""Clip ids an error names before it says how many more there are."""


def read_apex_rows(root: str | Path, clip_ids: Sequence[str]) -> dict[str, int]:
    """``clip_id -> apex row`` for every clip of ``clip_ids``; a :class:`DataError` naming the
    clips that have none (with how to get them)."""
    root = Path(root)
    quality = read_quality(root)
    known: dict[str, int] = {}
    if "apex_row" in quality.columns and len(quality):
        rows = pd.to_numeric(quality["apex_row"], errors="coerce")
        for clip, row in zip(quality["clip_id"].astype(str), rows, strict=True):
            if pd.notna(row) and row >= 0 and float(row).is_integer():
                known[clip] = int(row)
    missing = [clip for clip in clip_ids if clip not in known]
    if missing:
        shown = ", ".join(missing[:SHOWN])
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        raise DataError(
            f"--sampling apex needs each clip's apex, but {len(missing)} of {len(clip_ids)} "
            f"clip(s) have no apex_row in {root / QUALITY}: {shown}{more}. Extract them "
            "again with this version of mefuse (it records the apex: the clip table's "
            "apex_index where the labels give one, else the apex found in the face's motion; "
            "adapters write apex_index from label sheets with an apex column), or use "
            "--sampling uniform (a model trained with apex sampling needs the apex of the "
            "clips it scores too)")
    return {clip: known[clip] for clip in clip_ids}
