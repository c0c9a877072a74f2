"""From a dataset to the feature store: read, crop, extract, write — resumable and per-clip safe.

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

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError, StorageError, StoreConfigMismatch
from mefuse.features.base import Extractor, extractor_options
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.faces import FaceFinder
from mefuse.preprocess.sampling import uniform_indices
from mefuse.preprocess.views import split_view, views_for
from mefuse.store import FeatureStore, StoreWriter
from mefuse.store.quality import journal_quality, write_quality
from mefuse.store.reports import Failure, check_clip_sources, write_reports
from mefuse.utils.atomic import make_dirs
from mefuse.utils.ordered import ordered_map
from mefuse.utils.progress import progress_bar


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


@dataclass
class PreparedClip:
    clip_id: str
    crops: np.ndarray | None
    failure: Failure | None = None
    quality: dict[str, Any] | None = None
    """How the face was found and how many crops lack one (a row of ``quality.csv``)."""

    @property
    def ready_crops(self) -> np.ndarray:
        """The crops of a clip that was prepared without failure."""
        if self.crops is None:
            raise ValueError(f"clip {self.clip_id} has no crops ({self.failure})")
        return self.crops


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"K/N"`` (0-based K, as SLURM array ids and torch ranks are) as ``(K, N)``; ``None``
    means the whole dataset."""
    if not text:
        return 0, 1
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard takes K/N such as 2/8, got {text!r}") from None
    if not 0 <= k < n:
        raise ConfigError(f"--shard K/N needs 0 <= K < N, got {text!r}")
    return k, n


def shard_clips(clip_ids: Sequence[str], shard: tuple[int, int]) -> set[str]:
    """The clips of one shard: sorted by id, every N-th from position K (deterministic, so the
    shards of one dataset never overlap and together cover it, on any machine)."""
    index, count = shard
    return {c for i, c in enumerate(sorted(clip_ids)) if i % count == index}


def build_extractor_kwargs(cls: type[Extractor], options: dict[str, Any],
                           device: str | None) -> dict[str, Any]:
    """Options for one extractor, plus ``device`` when its constructor takes one."""
    kwargs = dict(options)
    if device is not None and "device" in (extractor_options(cls) or ()):
        kwargs.setdefault("device", device)
    return kwargs


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
            out.append(self._crop_view(row["clip_id"], row["view"], frames))
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


def percent(share: float) -> str:
    """``0.8`` as ``80%``, ``0.201`` as ``20.1%`` (enough digits to tell it from a limit)."""
    return f"{100 * share:.3g}%"


def _prefetch(func: Callable[[pd.DataFrame], list[PreparedClip]], groups: list[pd.DataFrame],
              workers: int) -> Iterator[list[PreparedClip]]:
    """``func`` over ``groups`` in ``workers`` threads, in order, at most ``workers + 1`` ahead
    (memory stays bounded by a few sequences' crops, however large the dataset)."""
    if workers <= 0:
        yield from map(func, groups)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mefuse-prep") as pool:
        yield from ordered_map(pool, func, groups, workers)


def open_writers(stack: contextlib.ExitStack, store: FeatureStore,
                 extractors: Sequence[Extractor], preprocess: PreprocessConfig, *,
                 overwrite: bool, shard: tuple[int, int]) -> dict[str, StoreWriter]:
    """One writer per extractor, closed (flushed) with ``stack``; only shard 0 may overwrite,
    so that concurrent shards do not delete each other's work (see :func:`_open_writer`)."""
    writers: dict[str, StoreWriter] = {}
    for extractor in extractors:
        config = {"extractor": extractor.name, "params": extractor.params(),
                  "weights": extractor.weights(), "preprocess": preprocess.manifest()}
        writers[extractor.key] = stack.enter_context(
            _open_writer(store, extractor.key, config, overwrite, shard))
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
                preprocess: PreprocessConfig, *, overwrite: bool, shard: tuple[int, int],
                problems: Sequence[Failure], reports: bool = True) -> Iterator[ExtractRun]:
    """Open the store's writers for this shard's clips, yield what is left to do, and (when the
    block ends normally and ``reports``) write the store's reports and quality table."""
    if "source" not in table.frame.columns:
        raise ConfigError("the clip table has no 'source' column (frame folder or video)")
    started = time.perf_counter()
    store = FeatureStore(store_root)
    make_dirs(store.root)
    check_clip_sources(store.root, table)
    summary = ExtractSummary(failures=list(problems), journal=store.root)
    mine = shard_clips(table.clip_ids, shard)
    frame = table.frame[table.frame["clip_id"].isin(mine)]
    summary.clips = len(frame)
    with contextlib.ExitStack() as stack:
        writers = open_writers(stack, store, extractors, preprocess, overwrite=overwrite,
                               shard=shard)
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


def extract_table(
    table: ClipTable,
    store_root: str | Path,
    extractors: Sequence[Extractor],
    preprocess: PreprocessConfig,
    *,
    overwrite: bool = False,
    workers: int = 1,
    batch_clips: int = 1,
    shard: tuple[int, int] = (0, 1),
    save_crops: str | Path | None = None,
    progress: bool = True,
    problems: Sequence[Failure] = (),
    reports: bool = True,
) -> ExtractSummary:
    """Extract every clip of ``table`` (which needs ``source``, and may have ``start``/``end``)
    with every extractor into the store; see the module docstring. ``reports=False`` leaves
    ``clips.csv`` and ``failures.csv`` to the caller (a distributed run writes them once, for
    the whole table, when every part is done)."""
    if not extractors:
        raise ConfigError("name at least one extractor")
    if batch_clips < 1 or workers < 0:
        raise ConfigError(f"batch_clips must be at least 1 and workers at least 0, got "
                          f"{batch_clips} and {workers}")
    with extract_run(table, store_root, extractors, preprocess, overwrite=overwrite,
                     shard=shard, problems=problems, reports=reports) as run:
        summary, todo, writers, groups = run.summary, run.todo, run.writers, run.groups
        preparer = Preparer(preprocess, Path(save_crops) if save_crops else None)
        frames_each = preprocess.frames or None  # known per clip when frames are sampled
        with progress_bar("extract", len(todo) * (frames_each or 1), progress,
                          unit="frames") as advance:
            count = _FrameCount(len(todo), frames_each, advance)
            batch: list[PreparedClip] = []
            for prepared in _prefetch(preparer, groups, workers):
                for clip in prepared:
                    if clip.quality is not None:
                        summary.add_quality(clip.quality)
                    if clip.failure is not None:
                        summary.failures.append(clip.failure)
                        count.done(clip)
                        continue
                    batch.append(clip)
                if len(batch) >= batch_clips:
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
            results = extractor.extract_clips([c.ready_crops for c in clips])
            pairs = list(zip(clips, results, strict=True))
        except Exception:  # one bad clip must not sink its batch: retry one by one
            pairs = []
            for clip in clips:
                try:
                    pairs.append((clip, extractor.extract_clip(clip.ready_crops)))
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


