"""The in-process run, from a dataset to the feature store: read, crop, extract, write —
resumable and per-clip safe.

The unit of preparation is a sequence: its frames are read once (only the sampled ones, lazily),
each view is cut out, the face box is found on the view's first frame whose detection gives a
crop with a face and reused for every frame, a clip whose crops lack a face too often is dropped
(stage ``faces``), and the crops go to every requested extractor. Preparation runs in
background threads while the main thread runs the extractors, so a model never waits for
decoding. A clip that fails at any stage is recorded with its stage and reason, and the run
goes on; a rerun skips every clip that each extractor has already written under the same
configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError, StorageError
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.prepare import PreparedClip, Preparer, prefetch
from mefuse.extraction.run import ExtractSummary, extract_run, failure_reason
from mefuse.features.base import Extractor, extract_with_apex
from mefuse.store import StoreWriter
from mefuse.store.reports import Failure
from mefuse.utils.progress import progress_bar


def extract_table(
    table: ClipTable,
    store_root: str | Path,
    extractors: Sequence[Extractor],
    job: ExtractionJob,
    *,
    problems: Sequence[Failure] = (),
    reports: bool = True,
) -> ExtractSummary:
    """Extract every clip of ``table`` (which needs ``source``, and may have ``start``/``end``)
    with every extractor into the store, in this process (``job.workers`` threads read ahead,
    ``job.batch_clips`` clips per extractor call; ``job.jobs`` is not read here: see
    :func:`~mefuse.extraction.parallel.extract_parallel`); see the module docstring.
    ``problems`` are failures found before the run (listed first in ``failures.csv``).
    ``reports=False`` leaves ``clips.csv`` and ``failures.csv`` to the caller (a distributed
    run writes them once, for the whole table, when every part is done)."""
    if not extractors:
        raise ConfigError("name at least one extractor")
    with extract_run(table, store_root, extractors, job, problems=problems,
                     reports=reports) as run:
        summary, todo, writers, groups = run.summary, run.todo, run.writers, run.groups
        preparer = Preparer(job.preprocess, job.save_crops)
        frames_each = job.preprocess.frames or None  # known per clip when frames are sampled
        with progress_bar("extract", len(todo) * (frames_each or 1), job.progress,
                          unit="frames") as advance:
            count = _FrameCount(len(todo), frames_each, advance)
            batch: list[PreparedClip] = []
            for prepared in prefetch(preparer, groups, job.workers):
                for clip in prepared:
                    if clip.quality is not None:
                        summary.add_quality(clip.quality)
                    if clip.failure is not None:
                        summary.failures.append(clip.failure)
                        count.done(clip)
                        continue
                    batch.append(clip)
                if len(batch) >= job.batch_clips:
                    _run_batch(batch, extractors, writers, summary)
                    for clip in batch:
                        count.done(clip)
                    batch = []
            if batch:
                _run_batch(batch, extractors, writers, summary)
                for clip in batch:
                    count.done(clip)
    return summary


class _FrameCount:
    """Progress in frames: a clip's frames are known only once it is read, so the total is
    re-estimated after each clip from the mean of the clips read so far (exact when
    ``--frames`` samples a fixed number), which gives a real remaining-time estimate instead of
    one by clip count.

    A clip that failed before its frames were counted (unreadable, too short) stands for the
    mean number of frames, both in the count and in the estimate: counting it as 0 would pull
    the mean down and shrink the total with every failure, and the remaining time with it.
    """

    def __init__(self, clips: int, frames_each: int | None,
                 advance: Callable[..., None]) -> None:
        self.clips, self.frames_each, self.advance = clips, frames_each, advance
        self.seen = 0
        self.read = 0
        self.read_frames = 0
        self.counted = 0

    def done(self, clip: PreparedClip) -> None:
        quality = clip.quality or {}
        frames = len(clip.crops) if clip.crops is not None else int(quality.get("frames") or 0)
        self.seen += 1
        if frames:
            self.read += 1
            self.read_frames += frames
        mean = self.frames_each or (self.read_frames / self.read if self.read else 1)
        step = frames or round(mean)
        self.counted += step
        total = max(self.counted, round(self.counted + (self.clips - self.seen) * mean))
        self.advance(step, total=total)


def _run_batch(batch: list[PreparedClip], extractors: Sequence[Extractor],
               writers: dict[str, StoreWriter], summary: ExtractSummary) -> None:
    failed: set[str] = set()
    for extractor in extractors:
        writer = writers[extractor.key]
        clips = [c for c in batch if not writer.has(c.clip_id) and c.clip_id not in failed]
        if not clips:
            continue
        try:
            if extractor.uses_apex:  # each clip with its own apex
                results = [extract_with_apex(extractor, c.ready_crops, c.apex_row)
                           for c in clips]
            else:
                results = extractor.extract_clips([c.ready_crops for c in clips])
            pairs = list(zip(clips, results, strict=True))
        except Exception:  # one bad clip must not sink its batch: retry one by one
            pairs = []
            for clip in clips:
                try:
                    pairs.append((clip, extract_with_apex(extractor, clip.ready_crops,
                                                          clip.apex_row)))
                except Exception as exc:
                    summary.failures.append(Failure(clip.clip_id, f"extract:{extractor.key}",
                                                    failure_reason(exc)))
                    failed.add(clip.clip_id)
        for clip, features in pairs:
            try:
                writer.write(clip.clip_id, features)
            except StorageError:
                raise  # the store cannot take more: stop, what is written stays intact
            except MefuseError as exc:
                summary.failures.append(Failure(clip.clip_id, f"write:{extractor.key}",
                                                str(exc)))
                failed.add(clip.clip_id)
    for clip in batch:
        if clip.clip_id not in failed:
            summary.written += 1
            summary.frames += len(clip.ready_crops)
