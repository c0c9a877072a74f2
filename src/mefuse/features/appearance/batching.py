"""Frames of many clips through a model in fixed-size batches, with the next batch prepared
while the model runs.

ME clips are short (the paper samples 16-18 frames), so a model batch of one clip leaves a GPU
mostly idle; concatenating the frames of several clips fills it. Preparing a batch (resizing
1024 px crops, copying to the device) is done in one background thread, one batch ahead, so that
its cost hides behind the model's forward; memory stays bounded by two batches whatever the
number of clips.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

Prepared = TypeVar("Prepared")


def frame_batches(clips: Sequence[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive frames of ``clips`` in batches of ``batch_size`` (the last may be shorter).

    A batch never mixes frame sizes: a clip of another size starts a new batch. Slices of one
    clip are views; only a batch that spans clips is copied.
    """
    pending: list[np.ndarray] = []
    count = 0
    shape: tuple[int, ...] | None = None
    for clip in clips:
        if shape is not None and clip.shape[1:] != shape and pending:
            yield _join(pending)
            pending, count = [], 0
        shape = clip.shape[1:]
        start = 0
        while start < len(clip):
            take = min(batch_size - count, len(clip) - start)
            pending.append(clip[start:start + take])
            count += take
            start += take
            if count == batch_size:
                yield _join(pending)
                pending, count = [], 0
    if pending:
        yield _join(pending)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


def run_pipelined(
    batches: Iterator[np.ndarray],
    prepare: Callable[[np.ndarray], Prepared],
    run: Callable[[Prepared], np.ndarray],
) -> list[np.ndarray]:
    """``run(prepare(b))`` for every batch, preparing batch i+1 in a thread while batch i runs.

    Exceptions from either side propagate; the thread is always joined.
    """
    outputs: list[np.ndarray] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mefuse-prepare") as pool:
        upcoming: Future[Prepared] | None = None
        first = next(batches, None)
        if first is None:
            return outputs
        upcoming = pool.submit(prepare, first)
        while upcoming is not None:
            current = upcoming.result()
            following = next(batches, None)
            upcoming = None if following is None else pool.submit(prepare, following)
            outputs.append(run(current))
            del current
    return outputs


def split_by_clip(outputs: list[np.ndarray], lengths: Sequence[int]) -> list[np.ndarray]:
    """Undo :func:`frame_batches`: per-batch ``(b, dim)`` rows back to per-clip arrays."""
    rows = np.concatenate(outputs, axis=0) if outputs else np.zeros((0, 0), np.float32)
    if rows.shape[0] != sum(lengths):
        raise RuntimeError(f"model returned {rows.shape[0]} rows for {sum(lengths)} frames")
    bounds = np.cumsum([0, *lengths])
    return [np.ascontiguousarray(rows[a:b], dtype=np.float32)
            for a, b in itertools.pairwise(bounds)]
