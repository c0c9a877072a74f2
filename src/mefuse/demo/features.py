"""A seeded feature-level demo: a store and clip table shaped like real ME data, made of numbers.

Each sequence has a left and a right view (clips). Two modalities of different widths:

- ``signal``: per class a fixed random direction in feature space; a clip's frames follow an
  onset-apex-offset bump (a raised cosine at a random position) along the sum of the directions
  of its classes, on top of a per-subject offset and frame noise. Only the *change* over the
  clip carries the label, as in a micro-expression.
- ``noise``: a stream that, like an appearance embedding, mostly encodes who is filmed (a
  per-subject offset) plus frame noise, and carries no label information.

With ``complementary=True`` the two modalities are ``stream_a`` and ``stream_b``, each built like
``signal`` but carrying only some classes (``stream_a`` the classes at even positions,
``stream_b`` the rest): no single stream can score every class, the case fusion exists for.

It exists so that the model, the protocols and the CLI can be tested and demonstrated without a
licensed dataset: the gated model should learn to trust ``signal`` and ignore ``noise``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse import FOURDMR_CLASSES
from mefuse.data.clips import ClipTable
from mefuse.store import FeatureStore
from mefuse.utils.outputs import check_output_folder


@dataclass(frozen=True)
class DemoSpec:
    """Shape of the demo data (defaults: small and quick; see :func:`paper_shaped_spec`)."""

    subjects: int = 8
    sequences_per_subject: int = 10
    views: tuple[str, ...] = ("left", "right")
    min_frames: int = 18
    max_frames: int = 40
    signal_dim: int = 24
    noise_dim: int = 40
    amplitude: float = 2.5
    noise: float = 0.6
    subject_spread: float = 0.3
    noise_stream_noise: float = 0.3
    noise_stream_subject_spread: float = 1.0
    complementary: bool = False
    """Two streams that each carry part of the classes (``stream_a``, ``stream_b``)."""


def paper_shaped_spec() -> DemoSpec:
    """128 sequences x 2 views, 18 to 60 frames, widths 1536 (appearance) and 171 (FaceVerse)."""
    return DemoSpec(subjects=16, sequences_per_subject=8, min_frames=18, max_frames=60,
                    signal_dim=171, noise_dim=1536)


def demo_labels(rng: np.random.Generator, count: int, classes: int) -> np.ndarray:
    """Multi-label targets: every sequence has one class, a third of them a second one."""
    labels = np.zeros((count, classes), dtype=np.int64)
    first = np.arange(count) % classes
    rng.shuffle(first)
    labels[np.arange(count), first] = 1
    second = rng.random(count) < 1 / 3
    extra = (first + rng.integers(1, classes, size=count)) % classes
    labels[np.flatnonzero(second), extra[second]] = 1
    return labels


def make_demo_store(root: str | Path, spec: DemoSpec = DemoSpec(), seed: int = 0,
                    classes: tuple[str, ...] = FOURDMR_CLASSES) -> ClipTable:
    """Write the demo features under ``root`` and its ``clips.csv``; return the clip table."""
    root = check_output_folder(root, "demo store folder")
    store = FeatureStore.create(root)
    if spec.complementary:
        return _make_complementary(store, spec, seed, classes)
    rng = np.random.default_rng(seed)
    n_classes = len(classes)
    directions = rng.normal(size=(n_classes, spec.signal_dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    n_sequences = spec.subjects * spec.sequences_per_subject
    labels = demo_labels(rng, n_sequences, n_classes)
    offsets_signal = rng.normal(scale=spec.subject_spread, size=(spec.subjects, spec.signal_dim))
    offsets_noise = rng.normal(scale=spec.noise_stream_subject_spread,
                               size=(spec.subjects, spec.noise_dim))
    params = {"seed": seed, **{k: getattr(spec, k) for k in spec.__dataclass_fields__}}
    rows = []
    with store.writer("signal", {"extractor": "demo-signal", "params": params}) as signal_writer, \
         store.writer("noise", {"extractor": "demo-noise", "params": params}) as noise_writer:
        for index in range(n_sequences):
            subject = index % spec.subjects
            length, bump = _movement(rng, spec)
            direction = labels[index] @ directions
            sequence_id = f"s{index:03d}"
            for view in spec.views:
                clip_id = f"{sequence_id}_{view}"
                signal = (offsets_signal[subject] + spec.amplitude * bump[:, None] * direction
                          + rng.normal(scale=spec.noise, size=(length, spec.signal_dim)))
                noise = offsets_noise[subject] + rng.normal(scale=spec.noise_stream_noise,
                                                            size=(length, spec.noise_dim))
                signal_writer.write(clip_id, signal.astype(np.float32))
                noise_writer.write(clip_id, noise.astype(np.float32))
                rows.append(_clip_row(clip_id, sequence_id, view, subject, classes,
                                      labels[index]))
    return _write_table(rows, classes, store)


COMPLEMENTARY_STREAMS: tuple[str, str] = ("stream_a", "stream_b")


def complementary_classes(n_classes: int) -> tuple[list[int], list[int]]:
    """Class positions carried by ``stream_a`` (even) and by ``stream_b`` (odd)."""
    return list(range(0, n_classes, 2)), list(range(1, n_classes, 2))


def _make_complementary(store: FeatureStore, spec: DemoSpec, seed: int, classes: tuple[str, ...]
                        ) -> ClipTable:
    rng = np.random.default_rng(seed)
    n_classes = len(classes)
    widths = (spec.signal_dim, spec.noise_dim)
    carried = complementary_classes(n_classes)
    directions = []
    for width, own in zip(widths, carried, strict=True):
        d = np.zeros((n_classes, width))
        d[own] = rng.normal(size=(len(own), width))
        directions.append(d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12))
    n_sequences = spec.subjects * spec.sequences_per_subject
    labels = demo_labels(rng, n_sequences, n_classes)
    offsets = [rng.normal(scale=spec.subject_spread, size=(spec.subjects, w)) for w in widths]
    params = {"seed": seed, **{k: getattr(spec, k) for k in spec.__dataclass_fields__}}
    rows = []
    with store.writer(COMPLEMENTARY_STREAMS[0], {"extractor": "demo-stream-a",
                                                 "params": params}) as writer_a, \
         store.writer(COMPLEMENTARY_STREAMS[1], {"extractor": "demo-stream-b",
                                                 "params": params}) as writer_b:
        for index in range(n_sequences):
            subject = index % spec.subjects
            length, bump = _movement(rng, spec)
            sequence_id = f"s{index:03d}"
            for view in spec.views:
                clip_id = f"{sequence_id}_{view}"
                for writer, d, off, w in zip((writer_a, writer_b), directions, offsets, widths,
                                             strict=True):
                    frames = (off[subject] + spec.amplitude * bump[:, None] * (labels[index] @ d)
                              + rng.normal(scale=spec.noise, size=(length, w)))
                    writer.write(clip_id, frames.astype(np.float32))
                rows.append(_clip_row(clip_id, sequence_id, view, subject, classes,
                                      labels[index]))
    return _write_table(rows, classes, store)


def _movement(rng: np.random.Generator, spec: DemoSpec) -> tuple[int, np.ndarray]:
    """A sequence's length and its movement over time: a raised-cosine bump between a random
    onset and offset, zero elsewhere."""
    length = int(rng.integers(spec.min_frames, spec.max_frames + 1))
    onset = rng.uniform(0.05, 0.35) * length
    offset = onset + rng.uniform(0.4, 0.6) * length
    t = np.arange(length)
    bump = np.where((t >= onset) & (t <= offset),
                    0.5 - 0.5 * np.cos(2 * np.pi * (t - onset) / (offset - onset)), 0.0)
    return length, bump


def _clip_row(clip_id: str, sequence_id: str, view: str, subject: int, classes: Sequence[str],
              labels: np.ndarray) -> dict[str, Any]:
    """One row of the demo store's clip table."""
    return {"clip_id": clip_id, "sequence_id": sequence_id, "view": view,
            "subject": f"sub{subject:02d}", **dict(zip(classes, labels.tolist(), strict=True))}


def _write_table(rows: list[dict[str, Any]], classes: Sequence[str], store: FeatureStore
                 ) -> ClipTable:
    """The demo store's ``clips.csv``, validated as any clip table is."""
    table = ClipTable.from_frame(pd.DataFrame(rows), classes)
    table.write(store.clips_path)
    return table
