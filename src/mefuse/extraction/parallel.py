"""Weight-free extraction on every core: sequences go to worker processes, the parent writes.

Why processes and not threads: MediaPipe's graphs and OpenCV's DIS flow keep one core busy per
call and hold the GIL in between, so threads cannot fill a second core. Each worker process
builds its own extractors (its own MediaPipe graphs and OpenCV objects, from an
:class:`~mefuse.extraction.specs.ExtractorSpec`) and its own face detector, and runs with one
OpenCV and one torch thread: N single-threaded processes use N cores without oversubscribing
them.

Why the parent writes: one :class:`~mefuse.store.feature_store.StoreWriter` per extractor, as in the
one-process path, so the manifest, the resume rule and the reports are those of
:func:`~mefuse.extraction.local.extract_table`. Results are consumed in the order of the
sequences (a bounded look-ahead), so failures are listed in the same order and a store written
by N processes is byte for byte the store written by one; a worker that dies loses only the
sequences it held, which are reported as failures and redone by the next run.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError, StorageError
from mefuse.extraction.job import ExtractionJob, default_jobs
from mefuse.extraction.local import extract_table
from mefuse.extraction.prepare import Preparer
from mefuse.extraction.run import ExtractSummary, extract_run, failure_reason
from mefuse.extraction.specs import ExtractorSpec, build_all
from mefuse.features.base import Extractor, extract_with_apex
from mefuse.preprocess.config import PreprocessConfig
from mefuse.store import StoreWriter
from mefuse.store.reports import Failure
from mefuse.utils.lifeline import die_with_parent
from mefuse.utils.ordered import ordered_map
from mefuse.utils.progress import progress_bar


@dataclass
class _Outcome:
    """One clip as a worker left it: per extractor (in order) its features, or the failure that
    stopped the clip."""

    clip_id: str
    frames: int
    results: list[tuple[str, np.ndarray | None, Failure | None]]
    quality: dict[str, Any] | None = None


_WORKER: dict[str, Any] = {}


def _init_worker(specs: Sequence[ExtractorSpec], preprocess: PreprocessConfig,
                 save_crops: str | None, parent: int) -> None:
    """Build this process's extractors and preparer, with one OpenCV and one torch thread;
    die with the parent (killed with -9, it cannot tell us)."""
    import cv2

    os.environ["OMP_NUM_THREADS"] = "1"
    cv2.setNumThreads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    die_with_parent(parent)
    _WORKER["extractors"] = build_all(specs)
    _WORKER["preparer"] = Preparer(preprocess, Path(save_crops) if save_crops else None)


def _work(rows: pd.DataFrame, skip: dict[str, frozenset[str]]) -> list[_Outcome]:
    """Prepare one sequence and run every extractor on its clips (in a worker process)."""
    extractors: list[Extractor] = _WORKER["extractors"]
    outcomes = []
    for clip in _WORKER["preparer"](rows):
        if clip.failure is not None or clip.crops is None:
            outcomes.append(_Outcome(clip.clip_id, 0, [("", None, clip.failure)],
                                     clip.quality))
            continue
        results: list[tuple[str, np.ndarray | None, Failure | None]] = []
        for extractor in extractors:
            if extractor.key in skip.get(clip.clip_id, frozenset()):
                continue
            try:
                results.append((extractor.key, extract_with_apex(extractor, clip.crops,
                                                                 clip.apex_row), None))
            except Exception as exc:  # one clip's failure is reported, the others go on
                results.append((extractor.key, None, Failure(
                    clip.clip_id, f"extract:{extractor.key}", failure_reason(exc))))
                break
        outcomes.append(_Outcome(clip.clip_id, len(clip.crops), results, clip.quality))
    return outcomes


def _store(outcome: _Outcome, writers: dict[str, StoreWriter], summary: ExtractSummary) -> None:
    """Write one clip's features in extractor order; the first failure stops the clip, as in
    the one-process path."""
    if outcome.quality is not None:
        summary.add_quality(outcome.quality)
    for key, features, failure in outcome.results:
        if failure is not None:
            summary.failures.append(failure)
            return
        assert features is not None  # a result without a failure carries its features
        try:
            writers[key].write(outcome.clip_id, features)
        except StorageError:
            raise  # the store cannot take more: stop, what is written stays intact
        except MefuseError as exc:
            summary.failures.append(Failure(outcome.clip_id, f"write:{key}", str(exc)))
            return
    summary.written += 1
    summary.frames += outcome.frames


def extract_parallel(
    table: ClipTable,
    store_root: str | Path,
    specs: Sequence[ExtractorSpec],
    job: ExtractionJob,
    *,
    problems: Sequence[Failure] = (),
) -> ExtractSummary:
    """Extract like :func:`~mefuse.extraction.local.extract_table`, with ``job.jobs`` worker
    processes (see the module docstring; ``None``: every core when every extractor is
    weight-free, else 1). One job runs the one-process path itself (with ``job.workers``
    prefetch threads and ``job.batch_clips`` clips per extractor call); model extractors are
    refused with more jobs (each process would load the model: use ``--shard`` or the Ray
    executor for several GPUs).
    """
    heavy = [s.name for s in specs if not s.weight_free]
    jobs = job.jobs if job.jobs is not None else (1 if heavy else default_jobs())
    if jobs > 1 and heavy:
        raise ConfigError(
            f"--jobs {jobs} runs weight-free extractors (mesh3d, flow) in parallel processes, "
            f"and {', '.join(heavy)} loads a model; use --jobs 1 for it (several GPUs or "
            "machines: --shard K/N or --executor ray)")
    extractors = build_all(specs)
    try:
        if jobs == 1:
            return extract_table(table, store_root, extractors, job, problems=problems)
        return _run_processes(table, store_root, specs, extractors, job, jobs=jobs,
                              problems=problems)
    finally:
        for extractor in extractors:
            extractor.close()


def _run_processes(table: ClipTable, store_root: str | Path, specs: Sequence[ExtractorSpec],
                   extractors: Sequence[Extractor], job: ExtractionJob, *, jobs: int,
                   problems: Sequence[Failure]) -> ExtractSummary:
    with extract_run(table, store_root, extractors, job, problems=problems) as run:
        summary, todo, writers, groups, stack = (run.summary, run.todo, run.writers,
                                                 run.groups, run.stack)
        skip = {c: frozenset(k for k, w in writers.items() if w.has(c)) for c in todo["clip_id"]}
        workers = min(jobs, len(groups))
        if workers:
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(list(specs), job.preprocess,
                          str(job.save_crops) if job.save_crops else None, os.getpid())))
            with progress_bar("extract", len(todo), job.progress) as advance:
                try:
                    for group, outcomes in zip(groups, ordered_map(
                            pool, _work, groups, 2 * workers, skip), strict=False):
                        for outcome in outcomes:
                            _store(outcome, writers, summary)
                        advance(len(group))
                except BrokenProcessPool as exc:  # a worker died (killed, out of memory)
                    raise MefuseError(f"an extraction worker process died ({exc}); the clips "
                                      "written so far are kept: run the same command again "
                                      "to finish") from None
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    return summary
