"""The store's per-clip quality table, ``quality.csv``: how each clip's face was found.

One row per clip that extraction prepared: the frames read, the frame and MediaPipe model that
gave the face box, the faces on that frame and why the chosen one was chosen, the frames
searched, the detections rejected because their crop showed no face, how many crops show no
face (the face left, or the box is wrong), and whether the clip's face was kept (a box was found
and the share of crops without a face is within ``--max-faceless``, or ``--keep-faceless``).
Rows of a rerun replace the clip's older rows; rows of other clips (other shards, earlier runs)
are kept.

Each row is also appended to a journal (``.quality.jsonl``, flushed to disk) as soon as its clip
is prepared, before the clip's features are written; :func:`write_quality` folds the journal
into ``quality.csv``. So a run killed before it could write the table loses no row: the next
run (which skips the clips already done) still reports every clip with features.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.store.layout import LOCK, QUALITY
from mefuse.store.layout import QUALITY_JOURNAL as JOURNAL
from mefuse.utils.atomic import _json_default, exclusive_lock
from mefuse.utils.csvsafe import read_csv, write_csv

APEX_COLUMNS = ("apex_label", "apex_found", "apex_frame", "apex_source", "apex_row")
"""Where each clip's apex is (CONTRACTS: label and found positions in the source's frame
order, the one used, which of the two it is, and its row in the stored feature arrays); empty
for clips extracted before the apex was recorded. Read by :meth:`FeatureStore.apex_rows`."""
COLUMNS = ("clip_id", "frames", "face_frame", "face_model", "face_score", "face_faces",
           "face_choice", "face_searched", "face_rejected", "frames_without_face", "face_kept",
           *APEX_COLUMNS)


def write_quality(root: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Merge ``rows`` into ``<root>/quality.csv`` (atomic, under the store's lock)."""
    root = Path(root)
    path = root / QUALITY
    with exclusive_lock(root / LOCK):
        journal = _journal_rows(root)
        new = pd.DataFrame([*journal, *rows], columns=list(COLUMNS))
        new = new.drop_duplicates("clip_id", keep="last")
        if path.is_file() and path.stat().st_size > 0:
            old = read_csv(path, dtype={"clip_id": str})
            old = old[~old["clip_id"].isin(new["clip_id"])]
            new = pd.concat([old, new], ignore_index=True) if len(old) else new
        new = new.sort_values("clip_id", kind="stable")
        for name in ("frames", "face_frame", "face_faces", "face_searched", "face_rejected",
                     "frames_without_face", "apex_label", "apex_found", "apex_frame", "apex_row"):
            new[name] = pd.to_numeric(new[name]).astype("Int64")
        write_csv(new, path)
        with contextlib.suppress(FileNotFoundError):
            (root / JOURNAL).unlink()  # folded in; a kill before this only repeats the fold
    return path


def journal_quality(root: str | Path, row: dict[str, Any]) -> None:
    """Append one clip's row to the store's journal, on disk before its features are."""
    root = Path(root)
    line = json.dumps(row, default=_json_default) + "\n"
    with exclusive_lock(root / LOCK), open(root / JOURNAL, "a", encoding="utf-8") as out:
        out.write(line)
        out.flush()
        os.fsync(out.fileno())


def _journal_rows(root: Path) -> list[dict[str, Any]]:
    """The journal's rows; a line torn by a kill is skipped (its clip has no features yet)."""
    path = root / JOURNAL
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            row = json.loads(line)
            if isinstance(row, dict) and "clip_id" in row:
                rows.append(row)
    return rows


def read_quality(root: str | Path) -> pd.DataFrame:
    """The quality table of a store (empty when extraction never wrote one)."""
    path = Path(root) / QUALITY
    if not path.is_file():
        return pd.DataFrame(columns=list(COLUMNS))
    return read_csv(path, dtype={"clip_id": str})


def faceless_shares(quality: pd.DataFrame) -> pd.Series:
    """Per clip id, the share (0..1) of its crops without a face; NaN where it was not counted
    (presence check off, no face box)."""
    frames = pd.to_numeric(quality["frames"], errors="coerce")
    missing = pd.to_numeric(quality["frames_without_face"], errors="coerce")
    return pd.Series((missing / frames.where(frames > 0)).to_numpy(dtype=float),
                     index=quality["clip_id"].astype(str), name="faceless_share")


def faces_summary(rows: Sequence[dict[str, Any]]) -> str:
    """One line: how the faces of these clips were found; only the faces that were kept count
    as found (a clip whose crops lack a face too often failed at stage ``faces``)."""
    if not rows:
        return "faces: no clip prepared in this run"
    found = [r for r in rows if r.get("face_kept")]
    dropped = sum(1 for r in rows if r.get("face_model") and not r.get("face_kept"))
    late = sum(1 for r in found if (r.get("face_frame") or 0) > 0)
    short = sum(1 for r in found if r.get("face_model") == "short-range")
    several = sum(1 for r in found if (r.get("face_faces") or 0) > 1)
    rejecting = [r for r in rows if (r.get("face_rejected") or 0) > 0]
    gaps = [r for r in found if (r.get("frames_without_face") or 0) > 0]
    line = (f"faces: found and kept in {len(found)} of {len(rows)} clips; {late} after the first "
            f"frame, {short} by the short-range model, {several} with several faces; "
            f"{len(gaps)} kept clip(s) have frames without a face "
            f"({sum(r['frames_without_face'] for r in gaps)} frames)")
    if dropped:
        line += f"; {dropped} dropped for too many crops without a face (stage faces)"
    if rejecting:
        line += (f"; {sum(r['face_rejected'] for r in rejecting)} detection(s) in "
                 f"{len(rejecting)} clip(s) rejected for no face in their crop")
    return line + "; see quality.csv"
