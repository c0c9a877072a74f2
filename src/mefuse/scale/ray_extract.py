"""``mefuse extract --executor ray``: extraction spread over a Ray cluster.

The clip table is cut into chunks of whole sequences (a sequence's frames are decoded once for
all its views), in table order. Each chunk is extracted by a Ray actor that built its
extractors once (for a model extractor on CUDA, one GPU per actor, ``num_gpus=1``; for the
weight-free ones, one CPU each) with the one-process path, writing straight into the store,
which must be on a file system every node sees at the same path. The store's writers merge
manifests under a file lock, so concurrent actors are safe. An actor whose process dies is
restarted and its chunk retried (the retry skips the clips already written); the driver writes
``clips.csv`` and ``failures.csv`` once, for the whole table, when every chunk is done, with the
failures in table order, as a local run does.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.local import extract_table
from mefuse.extraction.run import ExtractSummary, open_writers
from mefuse.extraction.specs import ExtractorSpec, build_all
from mefuse.scale.cluster import RETRIES, ray_session, unwrap
from mefuse.store import FeatureStore
from mefuse.store.quality import write_quality
from mefuse.store.reports import Failure, write_reports
from mefuse.utils.atomic import make_dirs
from mefuse.utils.progress import progress_bar


class ChunkExtractor:
    """The body of a Ray actor: extractors built once, then one chunk of clips per call."""

    def __init__(self, specs: Sequence[ExtractorSpec], job: ExtractionJob, store: str,
                 threads: int | None) -> None:
        if threads:  # CPU actors: one thread each, the actors are the parallelism
            import cv2

            cv2.setNumThreads(threads)
            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(threads)
        self.extractors = build_all(specs)
        self.job = job
        """The driver's job, with the store-wide settings (``overwrite``) left to
        :meth:`open_store` and the chunk's own (one thread, no progress bar, no reports)."""
        self.store = store

    def open_store(self, overwrite: bool) -> list[str]:
        """Check (or, with ``overwrite``, replace) the store's configuration once, before any
        chunk runs; the extractor keys."""
        with contextlib.ExitStack() as stack:
            open_writers(stack, FeatureStore(self.store), self.extractors,
                         replace(self.job, overwrite=overwrite))
        return [e.key for e in self.extractors]

    def run(self, chunk: ClipTable) -> dict[str, Any]:
        summary = extract_table(chunk, self.store, self.extractors, self.job, reports=False)
        return {"written": summary.written, "skipped": summary.skipped,
                "frames": summary.frames, "failures": [asdict(f) for f in summary.failures],
                "quality": summary.quality}


def sequence_chunks(table: ClipTable, chunks: int) -> list[ClipTable]:
    """``table`` cut into at most ``chunks`` parts of whole sequences, in table order."""
    sequences = list(dict.fromkeys(table.frame["sequence_id"]))
    count = max(1, min(chunks, len(sequences)))
    size = -(-len(sequences) // count)
    parts = []
    for start in range(0, len(sequences), size):
        members = set(sequences[start:start + size])
        parts.append(table.subset(table.frame["sequence_id"].isin(members).to_numpy()))
    return parts


def extract_with_ray(
    table: ClipTable,
    store_root: str | Path,
    specs: Sequence[ExtractorSpec],
    job: ExtractionJob,
    *,
    address: str | None = None,
    chunks_per_actor: int = 4,
    device: str | None = None,
    problems: Sequence[Failure] = (),
) -> ExtractSummary:
    """Extract ``table`` into the store with Ray actors; see the module docstring.

    ``job.jobs`` is the number of actors: by default the cluster's GPUs for model extractors on
    CUDA, else its CPUs. ``job.workers`` is not used (each actor reads in one thread) and
    ``job.shard`` must be the whole table (Ray splits the work itself).
    """
    if job.shard != (0, 1):
        raise ConfigError("--shard splits work by hand; --executor ray splits it for you: "
                          "give one of them")
    if "source" not in table.frame.columns:
        raise ConfigError("the clip table has no 'source' column (frame folder or video)")
    started = time.perf_counter()
    store = FeatureStore(Path(store_root).resolve())
    make_dirs(store.root)
    frame = table.frame.copy()
    frame["source"] = [str(Path(s).resolve()) for s in frame["source"]]
    table = ClipTable.from_frame(frame, classes=table.classes)
    gpu = bool(device and device.startswith("cuda")) and not all(s.weight_free for s in specs)
    summary = ExtractSummary(failures=list(problems), clips=len(table))
    with ray_session(address) as ray:
        resources = ray.cluster_resources()
        if gpu and resources.get("GPU", 0) < 1:
            raise ConfigError(f"--device {device} with --executor ray, but the Ray cluster has "
                              "no GPU")
        count = job.jobs or max(1, int(resources.get("GPU" if gpu else "CPU", 1)))
        parts = sequence_chunks(table, count * chunks_per_actor)
        count = min(count, len(parts))
        options = {"num_cpus": 1, "num_gpus": 1 if gpu else 0, "max_restarts": RETRIES,
                   "max_task_retries": RETRIES}
        actor_class = ray.remote(**options)(ChunkExtractor)
        chunk_job = replace(job, overwrite=False, workers=1, progress=False,
                            save_crops=job.save_crops.resolve() if job.save_crops else None)
        pool = [actor_class.remote(list(specs), chunk_job, str(store.root), None if gpu else 1)
                for _ in range(count)]
        try:
            # once, before any chunk: concurrent chunks must not clear each other's work
            keys = _call(ray, pool[0].open_store.remote(job.overwrite))
            results = _dispatch(ray, pool, parts, job.progress)
        finally:
            for actor in pool:
                ray.kill(actor)
    for result in results:
        summary.written += result["written"]
        summary.skipped += result["skipped"]
        summary.frames += result["frames"]
        summary.failures.extend(Failure(**f) for f in result["failures"])
        summary.quality.extend(result["quality"])
    summary.seconds = time.perf_counter() - started
    write_reports(store, table, keys, summary.failures, summary.last_run())
    write_quality(store.root, summary.quality)
    return summary


def _call(ray: Any, ref: Any) -> Any:
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        raise _as_user_error(exc) from None


def _as_user_error(exc: BaseException) -> BaseException:
    inner = unwrap(exc)
    if isinstance(inner, MefuseError):
        return inner
    return MefuseError(f"a Ray worker failed after {RETRIES} retries ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}); the clips written so "
                       "far are kept: run the same command again to finish")


def _dispatch(ray: Any, pool: list[Any], parts: list[ClipTable], progress: bool
              ) -> list[dict[str, Any]]:
    """Each chunk to the next free actor; results in chunk order."""
    results: list[dict[str, Any] | None] = [None] * len(parts)
    queue = list(enumerate(parts))
    running: dict[Any, tuple[int, Any]] = {}
    with progress_bar("extract", sum(len(p) for p in parts), progress) as advance:
        idle = list(pool)
        while queue or running:
            while idle and queue:
                index, part = queue.pop(0)
                actor = idle.pop()
                running[actor.run.remote(part)] = (index, actor)
            done, _ = ray.wait(list(running), num_returns=1)
            index, actor = running.pop(done[0])
            results[index] = _call(ray, done[0])
            idle.append(actor)
            advance(len(parts[index]))
    return [r for r in results if r is not None]
