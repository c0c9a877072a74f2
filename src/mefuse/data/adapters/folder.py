"""A generic dataset: one CSV row per clip, for data that no dedicated adapter reads.

Columns: ``path`` (an image folder or a video file, relative to ``root`` or absolute),
``subject``, optional ``sequence_id`` (default: the path's stem), optional ``start`` / ``end``
(0-based, inclusive frame positions), label columns (``classes=``; by default the five 4DMR
classes when the CSV has them) and any other columns, kept as extras.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from mefuse import FOURDMR_CLASSES
from mefuse.data.adapters.base import (
    NOTE,
    Dataset,
    SequenceRecord,
    auto_find,
    cell_int,
    cell_text,
    cell_value,
    find_column,
    has_frames,
    is_missing,
    read_sheet,
    register_adapter,
    require_columns,
    safe_id,
    sheet_row,
)
from mefuse.errors import ConfigError, DataError


@register_adapter("folder")
def load_folder(root: Path, labels: Path | None = None, *,
                classes: Sequence[str] | str | None = None,
                task: Literal["multilabel", "singlelabel"] = "multilabel") -> Dataset:
    """Any dataset listed in a clip CSV (``labels``, default: the single CSV in ``root``).

    ``classes`` names the label columns in order (a comma-separated string or a list); a row
    whose label cells are all empty is unlabelled. ``task="singlelabel"`` also checks that each
    labelled row has exactly one 1.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root {root} is not a folder")
    if task not in ("multilabel", "singlelabel"):
        raise ConfigError(f"task must be multilabel or singlelabel, got {task!r}")
    path = labels or auto_find(root, ["*.csv"], "clip list CSV")
    sheet = read_sheet(path)
    roles = require_columns(sheet, path, {"path": ("path",), "subject": ("subject",)})
    problems: list[str] = []
    class_columns = _class_columns(sheet, path, classes, problems)
    for role in ("sequence_id", "start", "end"):
        column = find_column(sheet, role)
        if column is not None:
            roles[role] = column
    used = {*roles.values(), *class_columns.values()}
    extras = [c for c in sheet.columns if c not in used and not str(c).startswith("Unnamed")]
    records: list[SequenceRecord] = []
    seen: dict[str, int] = {}
    for position, row in enumerate(sheet.to_dict("records")):
        line = sheet_row(sheet, position)
        where = f"{path.name} row {line}"
        if is_missing(row[roles["path"]]) or is_missing(row[roles["subject"]]):
            problems.append(f"{where}: empty path or subject; skipped")
            continue
        source = Path(cell_text(row[roles["path"]]))
        source = source if source.is_absolute() else root / source
        if not has_frames(source):
            what = "holds no image files" if source.is_dir() else (
                "is not a video file" if source.exists() else "is missing")
            problems.append(f"{where}: clip {source} {what}; skipped")
            continue
        given = row.get(roles.get("sequence_id", ""))
        sequence_id = safe_id(source.stem if is_missing(given) else cell_text(given))
        if sequence_id in seen:
            problems.append(f"{where}: sequence_id {sequence_id!r} already used in row "
                            f"{seen[sequence_id]}; skipped")
            continue
        labels_of, error = _labels(row, class_columns, task)
        if error:
            problems.append(f"{where} ({sequence_id}): {error}; skipped")
            continue
        window, error = _window(row, roles)
        if error:
            problems.append(f"{where} ({sequence_id}): {error}; skipped")
            continue
        seen[sequence_id] = line
        extra = {str(c): cell_value(row[c]) for c in extras}
        records.append(SequenceRecord(
            sequence_id=sequence_id, subject=safe_id(cell_text(row[roles["subject"]])),
            source=source, labels=labels_of, start=window[0], end=window[1],
            extra=extra))
    if not records:
        problems.append(f"no usable clip in {path}")
    return Dataset(name="folder", root=root, classes=tuple(class_columns) or FOURDMR_CLASSES,
                   task=task, records=records, problems=problems)


def _class_columns(sheet: pd.DataFrame, path: Path, classes: Sequence[str] | str | None,
                   problems: list[str]) -> dict[str, str]:
    """Class name -> column: the ``classes`` given, else the 4DMR five when the sheet has all of
    them, else none (every clip unlabelled, said in ``problems``)."""
    if classes is None:
        present = [find_column(sheet, c) for c in FOURDMR_CLASSES]
        if all(present):
            return {c: p for c, p in zip(FOURDMR_CLASSES, present, strict=True) if p}
        problems.append(f"{NOTE}{path} has no 4DMR class columns and no classes= option "
                        "was given: every clip is unlabelled")
        return {}
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(
        classes)
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"classes must be distinct and at least one, got {names}")
    return require_columns(sheet, path, {c: (c,) for c in names})


def _window(row: Mapping[Hashable, Any], roles: dict[str, str]
            ) -> tuple[tuple[int | None, int | None], str | None]:
    """``(start, end)`` of a row (0-based frame indices, None = whole source), and what is wrong
    with them (None when nothing)."""
    error = None
    bounds: list[int | None] = []
    for key in ("start", "end"):
        value = row.get(roles.get(key, ""))
        number = None if is_missing(value) else cell_int(value)
        bounds.append(number)
        if not is_missing(value) and (number is None or number < 0):
            error = f"{key} {value!r} is not a frame index (0 or more)"
    start, end = bounds
    if start is not None and end is not None and end < start:
        error = f"end {end} comes before start {start}"
    return (start, end), error


def _labels(row: Mapping[Hashable, Any], columns: dict[str, str], task: str
            ) -> tuple[dict[str, int] | None, str | None]:
    if not columns:
        return None, None
    cells = {name: row[column] for name, column in columns.items()}
    empty = [is_missing(v) for v in cells.values()]
    if all(empty):
        return None, None
    if any(empty):
        return None, "some label cells are empty and others not"
    values = {name: cell_int(v) for name, v in cells.items()}
    bad = [f"{name}={cells[name]!r}" for name, v in values.items() if v not in (0, 1)]
    if bad:
        return None, f"labels must be 0 or 1, got {', '.join(bad)}"
    labels = {k: int(v) for k, v in values.items() if v is not None}
    if task == "singlelabel" and sum(labels.values()) != 1:
        return None, f"a single-label clip needs exactly one 1, got {sum(labels.values())}"
    return labels, None

