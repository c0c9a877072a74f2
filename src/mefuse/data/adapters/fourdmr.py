"""The 4DMR challenge layout (IJCAI 2025, Kaggle; the 4DMR subset of 4DME).

Layout::

    root/
      train_labels.csv            Id, Negative, Positive, Repression, Surprise, Others [, Subject]
      train/<Id>/...frames...     or directly root/<Id>/, or a video file root/<Id>.mp4
      test/<Id>/...frames...      sequences without a label row: unlabelled test data

Extra label columns are kept; an ``apex`` column (the apex's frame number, as the demo's
labels give it) also becomes the clip table's ``apex_index``, the apex's position in the
sequence's frame order.

A sequence's Id is the last integer in its folder's name (``12``, ``seq_012`` and ``4DMR_12``
all give 12), the challenge submission's ``Id``. The sequence id is ``str(Id)``. The authors'
code took the *first* integer; both agree on the challenge's bare-integer names, and the last
is chosen so that a prefix such as ``4DMR_`` does not become the Id (see :mod:`mefuse.submit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mefuse import FOURDMR_CLASSES
from mefuse.data.adapters.base import (
    NOTE,
    Dataset,
    SequenceRecord,
    apex_position,
    auto_find,
    cell_int,
    cell_text,
    cell_value,
    find_column,
    is_missing,
    read_sheet,
    register_adapter,
    require_columns,
    safe_id,
    sheet_row,
)
from mefuse.data.frames import integers_in, is_video_file, list_image_files
from mefuse.errors import DataError

SUBJECT_COLUMNS = ("subject", "Subject", "sub_ID", "subject_id")
SPLIT_FOLDERS = ("train", "test", "val", "valid", "validation")


def discover_sequences(root: Path) -> tuple[dict[int, Path], list[str]]:
    """Sequence sources under ``root`` (and its split folders) by Id, and the problems met.

    A sequence is a folder that directly holds image files, or a video file, whose name holds
    an integer. ``root`` itself and folders named like a split (train, test ...) are searched.
    """
    problems: list[str] = []
    found: dict[int, Path] = {}
    splits = sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower() in SPLIT_FOLDERS)
    places = [root, *splits]
    for place in places:
        for entry in sorted(place.iterdir()):
            if entry.name.startswith(".") or (place == root and entry in places):
                continue
            is_sequence = (entry.is_dir() and bool(list_image_files(entry))) or (
                entry.is_file() and is_video_file(entry))
            numbers = integers_in(entry.stem if entry.is_file() else entry.name)
            if not is_sequence:
                if entry.is_dir() and (numbers or place != root):
                    problems.append(f"folder {entry} holds no image files; skipped")
                continue
            if not numbers:
                problems.append(f"{NOTE}{entry} has no integer Id in its name; skipped")
                continue
            sequence = numbers[-1]
            if sequence in found:
                problems.append(f"Id {sequence} appears twice: {found[sequence]} and {entry}; "
                                "the second is skipped")
                continue
            found[sequence] = entry
    return found, problems


@register_adapter("4dmr")
def load_4dmr(root: Path, labels: Path | None = None, *, subject_column: str | None = None
              ) -> Dataset:
    """4DMR challenge root: labelled training sequences and unlabelled test ones.

    ``labels``: the training labels CSV (default: the single CSV in ``root``, passing over
    submission files). ``subject_column``: the labels' subject column (default: the first of
    subject, Subject, sub_ID, subject_id); without one every sequence is its own subject, which
    makes subject-disjoint protocols equal to plain K-fold (a note says so).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"4DMR root {root} is not a folder")
    problems: list[str] = []
    sources, found_problems = discover_sequences(root)
    problems += found_problems
    if labels is None:
        avoid = ("submission", "sample", "predict")
        try:
            labels = auto_find(root, ["*train*.csv", "*label*.csv", "*.csv"], "labels CSV",
                               avoid=avoid)
        except DataError:
            if any(not any(w in p.name.lower() for w in avoid) for p in root.glob("*.csv")):
                raise  # several candidates: the user must choose
            problems.append(f"{NOTE}no labels CSV in {root}: every sequence is unlabelled")
    label_rows: dict[int, dict[str, Any]] = {}
    has_subjects = False
    if labels is not None:
        label_rows, has_subjects, sheet_problems = _read_labels(Path(labels), subject_column)
        problems += sheet_problems
    for sequence, labelled in label_rows.items():
        if sequence not in sources:
            problems.append(f"label row for Id {sequence} (row {labelled['_row']}): no sequence "
                            f"folder or video with that Id under {root}; skipped")
    if labels is not None and not has_subjects:
        problems.append(f"{NOTE}{labels} has no subject column ({', '.join(SUBJECT_COLUMNS)}): "
                        "each sequence is its own subject")
    records = []
    for sequence in sorted(sources):
        source = sources[sequence]
        row = label_rows.get(sequence)
        split = "train" if row is not None else "test"
        folder_split = source.parent.name.lower() if source.parent != root else None
        if folder_split in {"train", "test"} and folder_split != split:
            problems.append(f"{NOTE}Id {sequence} lies under {source.parent.name}/ but is "
                            f"{'labelled' if row is not None else 'not labelled'}")
        sequence_id = str(sequence)
        extra: dict[str, Any] = {"split": split}
        subject = sequence_id
        labels_of: dict[str, int] | None = None
        if row is not None:
            labels_of = {c: row[c] for c in FOURDMR_CLASSES}
            subject = row.get("_subject") or sequence_id
            extra.update({k: v for k, v in row["_extra"].items()})
            apex = _labelled_apex(source, extra)
            if apex is not None:
                extra["apex_index"] = apex
        records.append(SequenceRecord(sequence_id=sequence_id, subject=safe_id(subject),
                                      source=source, labels=labels_of, extra=extra))
    if not records:
        problems.append(f"no sequence folder (a folder of images or a video named with an "
                        f"integer Id) under {root} or its train/ and test/ folders")
    return Dataset(name="4dmr", root=root, classes=FOURDMR_CLASSES, task="multilabel",
                   records=records, problems=problems)


def _labelled_apex(source: Path, extra: dict[str, Any]) -> int | None:
    """Position of a labels CSV's ``apex`` frame number in a frame folder's order (the clip
    table's ``apex_index``, see CONTRACTS: the same frame order as ``start``/``end``); None
    without an apex column, for a video, or when no frame has that number."""
    key = next((k for k in extra if k.lower() in ("apex", "apexframe", "apex_frame")), None)
    if key is None or not source.is_dir():
        return None
    return apex_position(source, extra[key])


def _read_labels(path: Path, subject_column: str | None
                 ) -> tuple[dict[int, dict[str, Any]], bool, list[str]]:
    """The labels CSV as ``Id -> {class: 0/1, _subject, _extra, _row}``; bad rows named."""
    frame = read_sheet(path)
    roles = require_columns(frame, path, {"Id": ("Id",), **{c: (c,) for c in FOURDMR_CLASSES}})
    if subject_column is not None:
        subject = find_column(frame, subject_column)
        if subject is None:
            raise DataError(f"{path}: no subject column {subject_column!r}; its columns are "
                            f"{', '.join(map(str, frame.columns))}")
    else:
        subject = find_column(frame, *SUBJECT_COLUMNS)
    used = {*roles.values(), subject}
    extras = [c for c in frame.columns if c not in used and not str(c).startswith("Unnamed")]
    problems: list[str] = []
    rows: dict[int, dict[str, Any]] = {}
    for position, record in enumerate(frame.to_dict("records")):
        line = sheet_row(frame, position)
        sequence = cell_int(record[roles["Id"]])
        if sequence is None:
            problems.append(f"{path} row {line}: Id {record[roles['Id']]!r} is not an integer; "
                            "skipped")
            continue
        values: dict[str, Any] = {}
        bad = []
        for name in FOURDMR_CLASSES:
            value = cell_int(record[roles[name]])
            if value not in (0, 1):
                bad.append(f"{name}={record[roles[name]]!r}")
            values[name] = value
        if bad:
            problems.append(f"{path} row {line} (Id {sequence}): labels must be 0 or 1, got "
                            f"{', '.join(bad)}; skipped")
            continue
        if sequence in rows:
            problems.append(f"{path} row {line}: Id {sequence} already labelled in row "
                            f"{rows[sequence]['_row']}; this row is ignored")
            continue
        subject_value = record.get(subject) if subject is not None else None
        if subject is not None and is_missing(subject_value):
            problems.append(f"{path} row {line} (Id {sequence}): empty subject; the sequence "
                            "is its own subject")
        values["_subject"] = None if is_missing(subject_value) else cell_text(subject_value)
        values["_extra"] = {str(c): cell_value(record[c]) for c in extras}
        values["_row"] = line
        rows[sequence] = values
    return rows, subject is not None, problems

