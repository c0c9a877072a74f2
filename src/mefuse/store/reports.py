"""The reports an extraction run leaves in the store: ``clips.csv`` (the clips every extractor
has), ``failures.csv`` (clip, stage, reason) and ``extract.json`` (counts of the last run).

Why here and not in the extraction pipeline: these are files of the store, read by training,
``check-data`` and users; several shards, worker processes and Ray tasks write them, so they are
merged under the store's one lock (:func:`~mefuse.utils.atomic.exclusive_lock`), as the
manifests and ``quality.csv`` are.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.store.feature_store import FeatureStore
from mefuse.store.task import write_task_record
from mefuse.utils.atomic import atomic_open, exclusive_lock, write_json

FAILURES = "failures.csv"


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
            old = pd.read_csv(path, dtype=str, keep_default_na=False)
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
    with exclusive_lock(store.root / ".lock"):
        present = set.intersection(*(set(store.clip_ids(k)) for k in keys))
        complete = table.subset(table.frame["clip_id"].isin(present).to_numpy())
        complete.write(store.root / "clips.csv")
        merged = merge_failures(store.root / FAILURES, failures, attempted, present)
        with atomic_open(store.root / FAILURES, "w", encoding="utf-8", newline="") as out:
            merged.to_csv(out, index=False)
        write_task_record(store.root, table.classes, table.task)
        write_json(store.root / "extract.json", {
            "extractors": keys, "clips_in_table": len(table), "clips_complete": len(complete),
            "last_run": last_run,
        })
