"""Dataset adapters: each reads one dataset's layout and label sheet into a :class:`Dataset`.

``load_dataset(kind, root, labels=..., **options)`` picks the adapter by name (``4dmr``,
``4dme``, ``casme2``, ``samm``, ``smic``, ``casme3`` (CAS(ME)^3 part A), ``mmew``,
``folder``); :func:`clip_table` turns the dataset into the clip table (``clips.csv``, described
in the README's "On-disk formats"), one clip per (sequence, view). Adapters never stop at a bad
row: they skip it and name it in ``Dataset.problems`` (information-only entries start with
``"note:"``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse.data.adapters.base import (
    ADAPTERS,
    NOTE,
    Adapter,
    Dataset,
    SequenceRecord,
    list_adapters,
    register_adapter,
    safe_id,
)
from mefuse.data.adapters.longvideo import (
    LongVideo,
    LongVideoDataset,
    list_long_video_kinds,
    load_long_videos,
)
from mefuse.data.clips import REQUIRED_COLUMNS, ClipTable
from mefuse.errors import ConfigError, DataError


def adapter_options(kind: str) -> dict[str, Any]:
    """The options an adapter accepts, with their defaults (for help texts and checks)."""
    signature = inspect.signature(_adapter(kind))
    return {name: p.default for name, p in signature.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _adapter(kind: str) -> Adapter:
    return ADAPTERS.lookup(kind.lower())


def load_dataset(kind: str, root: str | Path, *, labels: str | Path | None = None,
                 **options: Any) -> Dataset:
    """Read the dataset at ``root`` with the adapter ``kind``.

    ``labels`` names the label sheet when it is not where the adapter looks by default;
    ``options`` are the adapter's own settings (an unknown one is refused, naming the valid
    ones, so a typo cannot silently change nothing).
    """
    adapter = _adapter(kind)
    accepted = adapter_options(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"dataset {kind!r} has no option(s) {', '.join(unknown)}; its options are "
            f"{', '.join(accepted) or 'none'}"
        )
    root = Path(root)
    if not root.exists():
        raise DataError(f"dataset root {root} does not exist")
    return adapter(root, Path(labels) if labels is not None else None, **options)


def clip_table(dataset: Dataset, views: Sequence[str]) -> ClipTable:
    """One clip per (sequence, view) as a :class:`~mefuse.data.clips.ClipTable`.

    ``clip_id`` is ``<sequence_id>_<view>``, or the bare ``sequence_id`` when the only view is
    ``full``. Columns: ``clip_id, sequence_id, view, subject``, the class columns (empty when
    unlabelled), ``source`` (absolute path), ``start`` and ``end`` (0-based, inclusive, empty =
    whole source) and the records' extras (an extra named like a column above gets an ``extra_``
    prefix).
    """
    views = tuple(views)
    if not views or len(set(views)) != len(views):
        raise ConfigError(f"views must be distinct and at least one, got {views}")
    for view in views:
        if safe_id(view) != view:
            raise ConfigError(f"view name {view!r} cannot be part of a file name")
    bare = views == ("full",)
    fixed = (*REQUIRED_COLUMNS, *dataset.classes, "source", "start", "end")
    rows: list[dict[str, Any]] = []
    for record in dataset.records:
        extra = {(f"extra_{k}" if k in fixed else k): _cell(v) for k, v in record.extra.items()}
        for view in views:
            row: dict[str, Any] = {
                "clip_id": record.sequence_id if bare else f"{record.sequence_id}_{view}",
                "sequence_id": record.sequence_id,
                "view": view,
                "subject": record.subject,
            }
            for name in dataset.classes:
                row[name] = None if record.labels is None else int(record.labels[name])
            row["source"] = str(Path(record.source).resolve())
            row["start"] = record.start
            row["end"] = record.end
            row.update(extra)
            rows.append(row)
    columns = list(fixed)
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    for name in dataset.classes:
        frame[name] = frame[name].astype("Int64")
    for name in ("start", "end"):
        frame[name] = frame[name].astype("Int64")
    for name in frame.columns[len(fixed):]:
        # Integer extras (onset, AU columns) stay integers where some rows lack them.
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                           for v in present):
            frame[name] = pd.array(values, dtype="Int64")
    table = ClipTable.from_frame(frame, dataset.classes, source=f"dataset {dataset.name}")
    return dataclasses.replace(table, task=dataset.task)


def _cell(value: Any) -> Any:
    """An extra as a table cell: lists and tuples joined with ``+`` (AU lists), paths as text."""
    if isinstance(value, list | tuple):
        return "+".join(map(str, value))
    if isinstance(value, Path):
        return str(value)
    return value


__all__ = [
    "ADAPTERS",
    "NOTE",
    "Adapter",
    "Dataset",
    "LongVideo",
    "LongVideoDataset",
    "SequenceRecord",
    "adapter_options",
    "clip_table",
    "list_adapters",
    "list_long_video_kinds",
    "load_dataset",
    "load_long_videos",
    "register_adapter",
]
