"""MMEW micro-expressions: frames in emotion folders, ``Micro_Expression/<emotion>/<clip>/``.

The sheet ``MMEW_Micro_Exp.xlsx`` (next to ``Micro_Expression/``, in ``MMEW_Final/`` as
released) has the columns Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units,
Estimated Emotion and remarks, the CASME II spelling. The emotion folders are named like the
sheet's emotions: happiness, anger, surprise, disgust, fear, sadness, others. Frames are 90 fps.

Some rows are known to carry a wrong or missing apex and offset (meb patches 16 of them by
hand); they are not patched here: a missing apex stays empty and a frame number without a file
is reported.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

from mefuse.data.adapters.base import (
    Dataset,
    SequenceRecord,
    auto_find,
    cell_int,
    cell_text,
    cell_value,
    find_column,
    is_missing,
    read_sheet,
    register_adapter,
    require_columns,
    resolve_path,
    safe_id,
    sheet_row,
)
from mefuse.data.adapters.emotion_rows import EmotionRows, action_unit_extras, bool_option
from mefuse.data.adapters.sheets import COLUMN_NAMES, COMPOSITE_CLASSES, canonical_emotions
from mefuse.data.frames import list_image_files
from mefuse.errors import ConfigError, DataError

FPS = 90.0

MMEW_CLASSES: tuple[str, ...] = ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise",
                                 "Others")
"""MMEW's seven micro-expression categories (six basic emotions and others)."""

MMEW_COMPOSITE: dict[str, str] = {"anger": "Negative", "disgust": "Negative", "fear": "Negative",
                                  "sadness": "Negative", "happiness": "Positive",
                                  "surprise": "Surprise"}
"""``composite=true``: the MEGC rule as for SAMM (meb has no MMEW composite); others left out."""

SHEET_PATTERNS = ("MMEW_Micro_Exp*.xls*", "MMEW_Final/MMEW_Micro_Exp*.xls*", "*Micro_Exp*.xls*",
                  "*Micro_Exp*.csv")
FRAME_DIRS = ("Micro_Expression", "MMEW_Final/Micro_Expression", "MMEW/Micro_Expression")


@register_adapter("mmew")
def load_mmew(root: Path, labels: Path | None = None, *,
              classes: Sequence[str] | str | None = None, composite: bool = False,
              frames: str | Path | None = None) -> Dataset:
    """MMEW, single-label over its seven emotions (or MEGC's three), onset-offset windows, AUs.

    ``classes`` keeps the named emotions only (e.g. ``Happiness,Surprise,Disgust,Others``);
    ``composite=true`` maps anger, disgust, fear and sadness to Negative, happiness to Positive
    and surprise to Surprise, leaving others out. ``frames`` names the folder holding the
    emotion folders when it is not ``Micro_Expression`` under the root.
    """
    if bool_option("mmew", composite, "composite") and classes is not None:
        raise ConfigError("mmew: give either classes or composite, not both")
    mapping, order = _class_set(classes, composite)
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"mmew root {root} is not a folder")
    sheet_path = labels or auto_find(root, SHEET_PATTERNS, "MMEW label sheet")
    sheet = read_sheet(sheet_path, header_contains=("Filename",))
    roles = require_columns(sheet, sheet_path, {
        "subject": COLUMN_NAMES["subject"], "clip": ("Filename",),
        "onset": COLUMN_NAMES["onset"], "offset": COLUMN_NAMES["offset"],
        "emotion": ("Estimated Emotion", "Emotion")})
    for role, names in (("apex", COLUMN_NAMES["apex"]), ("aus", COLUMN_NAMES["aus"]),
                        ("remarks", ("remarks", "remark", "notes"))):
        column = find_column(sheet, *names)
        if column is not None:
            roles[role] = column
    frames_root = _frames_root(root, frames)
    rows = EmotionRows("mmew", mapping, order, FPS)
    records = []
    for position, row in enumerate(sheet.to_dict("records")):
        where = f"{sheet_path.name} row {sheet_row(sheet, position)}"
        record = _record(rows, frames_root, roles, row, where)
        if record is not None:
            records.append(record)
    return rows.dataset(root, records, f"{sheet_path} with frames under {frames_root}")


def _class_set(classes: Sequence[str] | str | None, composite: bool
               ) -> tuple[dict[str, str], tuple[str, ...]]:
    if composite:
        return MMEW_COMPOSITE, COMPOSITE_CLASSES
    full = {c.lower(): c for c in MMEW_CLASSES}
    if classes is None:
        return full, MMEW_CLASSES
    names = classes.split(",") if isinstance(classes, str) else list(classes)
    chosen: list[str] = []
    for name in names:
        found, unknown = canonical_emotions(name)
        if unknown or len(found) != 1 or found[0] not in full:
            raise ConfigError(f"mmew: class {name!r} is not one of MMEW's emotions "
                              f"({', '.join(MMEW_CLASSES)})")
        chosen.append(full[found[0]])
    if not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"mmew: classes must be distinct and at least one, got {names}")
    return {c.lower(): c for c in chosen}, tuple(chosen)


def _frames_root(root: Path, frames: str | Path | None) -> Path:
    if frames is not None:
        path = Path(frames)
        path = path if path.is_absolute() else root / path
        if not path.is_dir():
            raise DataError(f"mmew: frames folder {path} does not exist")
        return path
    return next((root / d for d in FRAME_DIRS if (root / d).is_dir()), root)


def _record(rows: EmotionRows, frames_root: Path, roles: dict[str, str],
            row: dict[Hashable, Any], where: str) -> SequenceRecord | None:
    if any(is_missing(row[roles[r]]) for r in ("subject", "clip", "emotion")):
        rows.problems.append(f"{where}: empty Subject, Filename or Estimated Emotion; skipped")
        return None
    subject = safe_id(cell_text(row[roles["subject"]]))
    clip, emotion = cell_text(row[roles["clip"]]), cell_text(row[roles["emotion"]])
    label = f"{where} ({emotion}/{clip})"
    class_name = rows.classify(emotion, label)
    if class_name is None:
        return None
    folder = resolve_path(frames_root, [emotion, clip])
    if folder is None or not folder.is_dir() or not list_image_files(folder):
        rows.problems.append(f"{label}: no frames in {frames_root / emotion / clip}; skipped")
        return None
    onset, offset = cell_int(row[roles["onset"]]), cell_int(row[roles["offset"]])
    if onset is None or offset is None:
        rows.problems.append(f"{label}: OnsetFrame {row[roles['onset']]!r} or OffsetFrame "
                             f"{row[roles['offset']]!r} is not a frame number; skipped")
        return None
    apex = cell_int(row[roles["apex"]]) if "apex" in roles else None
    apex = None if apex is not None and apex < 0 else apex
    window = rows.window(folder, onset, apex, offset, label)
    if window is None:
        return None
    start, end, apex_index = window
    sequence_id = safe_id(clip if safe_id(clip).startswith(subject) else f"{subject}_{clip}")
    if not rows.claim(sequence_id, label):
        return None
    extra: dict[str, Any] = {"onset": onset, "apex": apex, "offset": offset,
                             "apex_index": apex_index, "emotion": emotion}
    if "aus" in roles:
        extra.update(action_unit_extras(row[roles["aus"]]))
    if "remarks" in roles:
        extra["remarks"] = cell_value(row[roles["remarks"]])
    return rows.record(sequence_id=sequence_id, subject=subject, folder=folder,
                       class_name=class_name, start=start, end=end, extra=extra)
