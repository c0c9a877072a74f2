"""The reports an extraction run leaves in the store: ``clips.csv`` (the clips every extractor
has), ``failures.csv`` (clip, stage, reason) and ``extract.json`` (counts of the last run).

``clips.csv`` is merged, never replaced: a run (another clip table, ``predict --store``) adds or
updates the rows of its own clips and keeps every other row, with its labels. A clip id that the
store already holds from another source is an error (:func:`check_clip_sources`), raised before
anything is extracted: the store would otherwise serve the old clip's features for the new one.

Why here and not in the extraction pipeline: these are files of the store, read by training,
``check-data`` and users; several shards, worker processes and Ray tasks write them, so they are
merged under the store's one lock (:func:`~mefuse.utils.atomic.exclusive_lock`), as the
manifests and ``quality.csv`` are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.errors import DataError
from mefuse.store.feature_store import FeatureStore
from mefuse.store.layout import CLIPS, EXTRACT_RECORD, FAILURES, LOCK
from mefuse.store.task import write_task_record
from mefuse.utils.atomic import exclusive_lock, write_json
from mefuse.utils.csvsafe import read_csv, write_csv


@dataclass(frozen=True)
class Failure:
    """One clip that a stage (dataset, read, detect, extract:KEY, write:KEY) could not do."""

    clip_id: str
    stage: str
    reason: str


def merge_failures(path: Path, failures: Sequence[Failure], attempted: set[str],
                   present: set[str]) -> pd.DataFrame:
    """``failures.csv`` rows after this run: the earlier rows of clips this run did not try
    (other shards' failures), then this run's failures; clips now complete in the store are
    dropped, and so is a repeated (clip, stage, reason)."""
    columns = ["clip_id", "stage", "reason"]
    fresh = pd.DataFrame([asdict(f) for f in failures], columns=columns)
    old = pd.DataFrame(columns=columns)
    if path.is_file():
        with contextlib.suppress(ValueError, OSError, pd.errors.ParserError):
            old = read_csv(path, dtype=str, keep_default_na=False)
        if list(old.columns) != columns:
            old = pd.DataFrame(columns=columns)
    old = old[~old["clip_id"].isin(attempted) & (old["stage"] != "dataset")]
    merged = pd.concat([old, fresh], ignore_index=True)
    merged = merged[~merged["clip_id"].isin(present) | (merged["stage"] == "dataset")]
    return merged.drop_duplicates().reset_index(drop=True)


def write_reports(store: FeatureStore, table: ClipTable, keys: list[str],
                  failures: Sequence[Failure], last_run: dict[str, Any],
                  attempted: set[str] | None = None) -> None:
    """``clips.csv`` (the clips that every extractor has, across all shards so far) and
    ``failures.csv`` (merged the same way), written atomically under a lock shared by
    concurrent shards. ``attempted``: the clips this run was responsible for."""
    attempted = set(table.clip_ids) if attempted is None else attempted
    with exclusive_lock(store.root / LOCK):
        present = set.intersection(*(set(store.clip_ids(k)) for k in keys))
        complete = table.subset(table.frame["clip_id"].isin(present).to_numpy())
        write_csv(merge_clip_rows(store.root / CLIPS, table, complete), store.root / CLIPS)
        merged = merge_failures(store.root / FAILURES, failures, attempted, present)
        write_csv(merged, store.root / FAILURES)
        write_task_record(store.root, table.classes, table.task)
        write_json(store.root / EXTRACT_RECORD, {
            "extractors": keys, "clips_in_table": len(table), "clips_complete": len(complete),
            "last_run": last_run,
        })


def read_stored_clips(path: Path) -> pd.DataFrame | None:
    """A store's ``clips.csv`` as text cells (written back unchanged), or ``None`` when there is
    none; a file that is not a clip table is an error (it is never silently replaced)."""
    if not path.is_file():
        return None
    try:
        frame = read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} cannot be read as CSV ({exc}); move it away so that the "
                        "store's clip table can be written") from None
    if "clip_id" not in frame.columns:
        raise DataError(f"{path} has no 'clip_id' column; move it away so that the store's "
                        "clip table can be written")
    return frame


def _same_source(before: str, now: str) -> bool:
    """Whether two ``source`` cells name one file or folder. A relative cell was written
    relative to the folder the extraction ran in, unknown here: it matches a path that ends
    with it."""
    if before == now or os.path.realpath(before) == os.path.realpath(now):
        return True
    old = Path(before)
    return not old.is_absolute() and Path(now).parts[-len(old.parts):] == old.parts


def check_clip_sources(root: str | Path, table: ClipTable) -> None:
    """Refuse a clip table that gives a clip id the store already holds from another source."""
    old = read_stored_clips(Path(root) / CLIPS)
    if old is None or "source" not in old.columns or "source" not in table.frame.columns:
        return
    known = dict(zip(old["clip_id"], old["source"], strict=True))
    for clip, source in zip(table.frame["clip_id"], table.frame["source"], strict=True):
        before = known.get(clip)
        if before and not _same_source(str(before), str(source)):
            raise DataError(
                f"clip {clip!r} is already in the store {root} from {before}; this run gives it "
                f"{source}. One clip id names one clip: use another store, or another name "
                "for the new clip")


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as the CSV text they are written as (empty for a missing value)."""
    return frame.astype(object).where(frame.notna(), "").map(str)


def merge_clip_rows(path: Path, table: ClipTable, complete: ClipTable) -> pd.DataFrame:
    """The store's clip table after a run over ``table``: the earlier rows of clips outside
    ``table`` as they were, then the clips of ``table`` now complete (``complete``), whose
    empty cells keep the earlier row's values (a clip scored by ``predict`` keeps its labels).
    A clip of ``table`` not complete is dropped. Raises on a clip id with another source."""
    new = _as_text(complete.rendered())
    old = read_stored_clips(path)
    if old is None:
        return new
    check_clip_sources(path.parent, table)
    columns = list(old.columns) + [c for c in new.columns if c not in old.columns]
    old = old.reindex(columns=columns, fill_value="").set_index("clip_id", drop=False)
    new = new.reindex(columns=columns, fill_value="").set_index("clip_id", drop=False)
    both = new.index.intersection(old.index)
    if len(both):
        update = new.loc[both]
        new.loc[both] = update.where(update != "", old.loc[both])
    kept = old[~old.index.isin(table.clip_ids)]
    return pd.concat([kept, new], ignore_index=True)
