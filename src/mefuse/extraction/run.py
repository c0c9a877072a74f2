"""One extraction run's setup, shared by the in-process, multi-process and Ray runs: the store's
writers (one per extractor, with its manifest), this shard's clips, those still to do, the
summary, and at the end the store's reports, so that every run skips, shards and reports alike.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError, StoreConfigMismatch
from mefuse.extraction.job import ExtractionJob, shard_clips
from mefuse.features.base import Extractor
from mefuse.store import FeatureStore, StoreWriter
from mefuse.store.quality import journal_quality, write_quality
from mefuse.store.reports import Failure, check_clip_sources, write_reports
from mefuse.utils.atomic import make_dirs


@dataclass
class ExtractSummary:
    """What an extraction run did."""

    written: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    frames: int = 0
    seconds: float = 0.0
    clips: int = 0
    quality: list[dict[str, Any]] = field(default_factory=list)
    """One row per clip prepared in this run: how its face was found (see quality.csv)."""
    warnings: list[str] = field(default_factory=list)
    """What the caller should tell the user about this run's inputs."""
    journal: Path | None = None
    """The store whose quality journal gets each row at once (see :mod:`mefuse.store.quality`)."""

    def add_quality(self, row: dict[str, Any]) -> None:
        """Record one clip's quality row, journalled in the store before its features."""
        if self.journal is not None:
            journal_quality(self.journal, row)
        self.quality.append(row)

    def line(self) -> str:
        rate = self.frames / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.clips} clips: {self.written} extracted, {self.skipped} already in the "
                f"store, {len(self.failures)} failed; {self.frames} frames in "
                f"{self.seconds:.1f} s ({rate:.1f} frames/s)")

    def last_run(self) -> dict[str, Any]:
        """The counts that ``extract.json`` records for the latest run."""
        return {"written": self.written, "skipped": self.skipped, "failed": len(self.failures),
                "frames": self.frames, "seconds": round(self.seconds, 2)}

    def faces_line(self) -> str:
        """How faces were found in this run (the details are in quality.csv)."""
        from mefuse.store.quality import faces_summary

        return faces_summary(self.quality)

    def apex_line(self) -> str | None:
        """How the found apex agrees with the labelled one (None without labelled apexes)."""
        from mefuse.store.quality import apex_line

        return apex_line(self.quality)


def open_writers(stack: contextlib.ExitStack, store: FeatureStore,
                 extractors: Sequence[Extractor], job: ExtractionJob) -> dict[str, StoreWriter]:
    """One writer per extractor, closed (flushed) with ``stack``; only shard 0 may overwrite,
    so that concurrent shards do not delete each other's work (see :func:`_open_writer`)."""
    writers: dict[str, StoreWriter] = {}
    for extractor in extractors:
        config = {"extractor": extractor.name, "params": extractor.params(),
                  "weights": extractor.weights(), "preprocess": job.preprocess.manifest()}
        writers[extractor.key] = stack.enter_context(
            _open_writer(store, extractor.key, config, job.overwrite, job.shard))
    return writers


@dataclass
class ExtractRun:
    """One extraction run's store, open writers and clips still to do; shared by the
    in-process, multi-process and Ray runs so that they skip, shard and report alike."""

    store: FeatureStore
    summary: ExtractSummary
    writers: dict[str, StoreWriter]
    todo: pd.DataFrame
    groups: list[pd.DataFrame]
    """``todo`` by sequence: a sequence's views are read and prepared together."""
    stack: contextlib.ExitStack


@contextlib.contextmanager
def extract_run(table: ClipTable, store_root: str | Path, extractors: Sequence[Extractor],
                job: ExtractionJob, *, problems: Sequence[Failure],
                reports: bool = True) -> Iterator[ExtractRun]:
    """Open the store's writers for this shard's clips, yield what is left to do, and (when the
    block ends normally and ``reports``) write the store's reports and quality table."""
    if "source" not in table.frame.columns:
        raise ConfigError("the clip table has no 'source' column (frame folder or video)")
    started = time.perf_counter()
    store = FeatureStore(store_root)
    make_dirs(store.root)
    check_clip_sources(store.root, table)
    summary = ExtractSummary(failures=list(problems), journal=store.root)
    mine = shard_clips(table.clip_ids, job.shard)
    frame = table.frame[table.frame["clip_id"].isin(mine)]
    summary.clips = len(frame)
    with contextlib.ExitStack() as stack:
        writers = open_writers(stack, store, extractors, job)
        todo = frame[np.array([not all(w.has(c) for w in writers.values())
                               for c in frame["clip_id"]], dtype=bool)]
        summary.skipped = len(frame) - len(todo)
        groups = [rows for _, rows in todo.groupby("sequence_id", sort=False)]
        yield ExtractRun(store, summary, writers, todo, groups, stack)
    summary.seconds = time.perf_counter() - started
    if reports:
        write_reports(store, table, [e.key for e in extractors], summary.failures,
                      summary.last_run(), mine)
        write_quality(store.root, summary.quality)


def _open_writer(store: FeatureStore, key: str, config: dict[str, Any], overwrite: bool,
                 shard: tuple[int, int]) -> StoreWriter:
    """The writer of one extractor. With ``--shard``, only shard 0 applies ``--overwrite`` (a
    later shard deleting features would delete those the other shards have just written), so
    the other shards must be started once shard 0 has begun."""
    applies = overwrite and shard[0] == 0
    try:
        return store.writer(key, config, overwrite=applies)
    except StoreConfigMismatch as exc:
        if not overwrite or applies:
            raise
        raise StoreConfigMismatch(
            f"{store.root / key} holds features made with another configuration:\n"
            f"{getattr(exc, 'difference', '')}\n"
            f"--overwrite is applied by shard 0/{shard[1]} only, so that shards never "
            f"delete each other's new features; start shard 0/{shard[1]} with --overwrite first "
            f"and this shard ({shard[0]}/{shard[1]}) once it has begun."
        ) from None


def failure_reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MefuseError) else f"{type(exc).__name__}: {exc}"
