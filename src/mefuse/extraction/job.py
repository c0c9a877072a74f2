"""One extraction run's options as one checked, frozen object.

Why an object: the options of a run (preprocessing, overwrite, threads, processes, batch size,
shard, crops to keep, progress bar) used to travel as a dozen keyword arguments through the
CLI, the in-process, multi-process and Ray runs, prediction on video and the demo, each
repeating defaults and checks. An :class:`ExtractionJob` is checked once, when it is made, and
passed whole; a run that needs another setting makes a changed copy (``dataclasses.replace``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mefuse.errors import ConfigError
from mefuse.preprocess.config import PreprocessConfig


@dataclass(frozen=True)
class ExtractionJob:
    """How one extraction run goes: what the crops are (``preprocess``) and how the run is
    carried out (none of the latter changes a feature: a store is byte for byte the same with
    any ``workers``, ``batch_clips``, ``jobs`` or ``shard`` split)."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    overwrite: bool = False
    """Replace features made with another configuration (applied by shard 0 only)."""
    workers: int = 1
    """Threads reading and cropping ahead of the extractors (0: read in the main thread)."""
    batch_clips: int = 1
    """Clips per extractor call."""
    jobs: int | None = None
    """Worker processes (weight-free extractors) or Ray actors; ``None``: every core for
    weight-free extractors, one process for a model (Ray: the cluster's CPUs or GPUs)."""
    shard: tuple[int, int] = (0, 1)
    """``(K, N)``: this run's share of the clips, every N-th from position K; a ``"K/N"``
    string is read as such."""
    save_crops: Path | None = None
    """Also save each clip's face crops (JPEG) in a folder per clip here."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        if not isinstance(self.preprocess, PreprocessConfig):
            raise ConfigError("an extraction job's preprocess must be a PreprocessConfig, got "
                              f"{type(self.preprocess).__name__}")
        shard = self.shard
        if shard is None or isinstance(shard, str):
            shard = parse_shard(shard)
        else:
            shard = _checked_shard(shard)
        object.__setattr__(self, "shard", shard)
        object.__setattr__(self, "save_crops",
                           Path(self.save_crops) if self.save_crops else None)
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 or more, got {self.workers}")
        if self.batch_clips < 1:
            raise ConfigError(f"--batch-clips must be at least 1, got {self.batch_clips}")
        if self.jobs is not None and self.jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {self.jobs}")


def _checked_shard(shard: Sequence[int]) -> tuple[int, int]:
    """A ``(K, N)`` pair, refused unless ``0 <= K < N``."""
    try:
        k, n = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ConfigError(f"a shard is (K, N) such as (2, 8), got {shard!r}") from None
    if not 0 <= k < n:
        raise ConfigError(f"--shard K/N needs 0 <= K < N, got {k}/{n}")
    return k, n


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


def default_jobs() -> int:
    """The cores this process may run on (a CPU set or a SLURM allocation may be fewer than
    the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
