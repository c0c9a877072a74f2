"""CAS(ME)^3 part A: micro-expressions marked in task videos, labelled by one .xlsx sheet.

The sheet ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (sheet ``label``; often under
``part_A/annotation/``) has the columns Subject (``spNO.1``), Filename (the task video: ``a``,
``b`` ...), Onset, Apex, Offset (frame numbers: the jpg names), AU (``4,7`` or ``L4+R12``),
Objective class and emotion (anger, disgust, fear, happy, sad, surprise, others). A task video
can hold several micro-expressions, so one Filename appears in several rows; the sample is
``<subject>_<Filename>_<Onset>``, as the released clip folders name it. Two layouts are read:

- the full frames, ``part_A/data/part_A/<spNO.1>/<a>/color/<n>.jpg`` (the window is the
  onset..offset frames of the task video);
- the cut clips, ``Part_A_ME_clip/frame/<spNO.1>_<a>_<onset>/<n>.jpg`` (frames keep their
  video numbers, so the same window applies).

Folder names write ``spNo`` where the sheet writes ``spNO``: case is ignored. Frames are 30 fps.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pandas as pd

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
    resolve_child,
    resolve_path,
    safe_id,
    sheet_row,
)
from mefuse.data.adapters.emotion_rows import EmotionRows, action_unit_extras, bool_option
from mefuse.data.adapters.sheets import COLUMN_NAMES
from mefuse.data.frames import list_image_files
from mefuse.errors import ConfigError, DataError

FPS = 30.0

_NEGATIVE = ("anger", "disgust", "fear", "sadness")
CLASS_SETS: dict[int, dict[str, str]] = {
    7: {"anger": "Anger", "disgust": "Disgust", "fear": "Fear", "happiness": "Happiness",
        "sadness": "Sadness", "surprise": "Surprise", "others": "Others"},
    4: {**{e: "Negative" for e in _NEGATIVE}, "happiness": "Positive", "surprise": "Surprise",
        "others": "Others"},
    3: {**{e: "Negative" for e in _NEGATIVE}, "happiness": "Positive", "surprise": "Surprise"},
}
"""``classes=`` -> emotion (canonical name) -> class. The 4- and 3-class sets are the ones papers
report for part A: negative = anger, disgust, fear, sad; positive = happy; 3 classes leave others
out."""

CLASS_ORDER: dict[int, tuple[str, ...]] = {
    7: ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Others"),
    4: ("Negative", "Positive", "Surprise", "Others"),
    3: ("Negative", "Positive", "Surprise"),
}

SHEET_PATTERNS = ("*part_A_ME_label*.xls*", "part_A/annotation/*ME_label*.xls*",
                  "annotation/*ME_label*.xls*", "*ME_label*.xls*", "*ME_label*.csv")
FULL_FRAMES = ("part_A/data/part_A", "data/part_A", "part_A", ".")
CLIP_FRAMES = ("Part_A_ME_clip/frame", "part_A/Part_A_ME_clip/frame", "data/Part_A_ME_clip/frame")


@register_adapter("casme3")
def load_casme3(root: Path, labels: Path | None = None, *, classes: int = 7,
                frames: str | Path | None = None, composite: bool = False) -> Dataset:
    """CAS(ME)^3 part A, single-label with 7, 4 or 3 classes, onset-offset windows, AU columns.

    ``classes``: 7 (the sheet's emotions), 4 (Negative, Positive, Surprise, Others) or 3 (the
    same without Others). ``composite=true`` is ``classes=3``, MEGC's three. ``frames`` names
    the folder with ``<subject>/<Filename>/color/`` or with the ``<subject>_<Filename>_<onset>``
    clip folders when neither lies where the release puts it.
    """
    if bool_option("casme3", composite, "composite"):
        if classes not in (3, 7, "3", "7"):
            raise ConfigError("casme3: composite=true is classes=3; give one or the other")
        classes = 3
    count = cell_int(classes) if not isinstance(classes, bool) else None
    if count not in CLASS_SETS:
        raise ConfigError(f"casme3: classes must be 7, 4 or 3, got {classes!r}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"casme3 root {root} is not a folder")
    sheet_path = labels or auto_find(root, SHEET_PATTERNS, "CAS(ME)^3 part A label sheet",
                                     avoid=("mae_label",))
    sheet = read_sheet(sheet_path, header_contains=("Filename",), sheet=_sheet_name(sheet_path))
    roles = require_columns(sheet, sheet_path, {
        "subject": ("Subject", "sub"), "clip": ("Filename", "seq"),
        "onset": COLUMN_NAMES["onset"], "offset": COLUMN_NAMES["offset"],
        "emotion": ("emotion", "Estimated Emotion")})
    for role, names in (("apex", COLUMN_NAMES["apex"]), ("aus", ("AU", "AUs", "Action Units")),
                        ("objective", ("Objective class", "Objective classes"))):
        column = find_column(sheet, *names)
        if column is not None:
            roles[role] = column
    folders = _Folders(root, frames)
    rows = EmotionRows("casme3", CLASS_SETS[count], CLASS_ORDER[count], FPS)
    records = []
    for position, row in enumerate(sheet.to_dict("records")):
        where = f"{sheet_path.name} row {sheet_row(sheet, position)}"
        record = _record(rows, folders, roles, row, where)
        if record is not None:
            records.append(record)
    return rows.dataset(root, records, f"{sheet_path} with frames under {folders.describe()}")


def _sheet_name(path: Path) -> str | int:
    """The workbook's ``label`` sheet where it has one, else its first sheet."""
    if path.suffix.lower() not in {".xlsx", ".xlsm", ".xls"} or not path.is_file():
        return 0
    try:
        names = pd.ExcelFile(path).sheet_names
    except (ValueError, OSError, ImportError):
        return 0  # read_sheet names the problem
    return next((n for n in names if str(n).strip().lower() == "label"), 0)


def _record(rows: EmotionRows, folders: _Folders, roles: dict[str, str],
            row: dict[Hashable, Any], where: str) -> SequenceRecord | None:
    if is_missing(row[roles["subject"]]) or is_missing(row[roles["clip"]]):
        rows.problems.append(f"{where}: empty Subject or Filename; skipped")
        return None
    subject_text, video = cell_text(row[roles["subject"]]), cell_text(row[roles["clip"]])
    onset, offset = cell_int(row[roles["onset"]]), cell_int(row[roles["offset"]])
    label = f"{where} ({subject_text}/{video})"
    if onset is None or offset is None:
        rows.problems.append(f"{label}: Onset {row[roles['onset']]!r} or Offset "
                             f"{row[roles['offset']]!r} is not a frame number; skipped")
        return None
    class_name = rows.classify(row[roles["emotion"]], label)
    if class_name is None:
        return None
    folder = folders.find(subject_text, video, onset)
    if folder is None:
        rows.problems.append(f"{label}: no frames for it ({folders.expected(subject_text, video)}"
                             f" or {subject_text}_{video}_{onset}/); skipped")
        return None
    apex = cell_int(row[roles["apex"]]) if "apex" in roles else None
    window = rows.window(folder, onset, apex, offset, label)
    if window is None:
        return None
    start, end, apex_index = window
    sequence_id = safe_id(f"{subject_text}_{video}_{onset}")
    if not rows.claim(sequence_id, label):
        return None
    extra: dict[str, Any] = {"onset": onset, "apex": apex, "offset": offset,
                             "apex_index": apex_index,
                             "emotion": cell_text(row[roles["emotion"]])}
    if "objective" in roles:
        extra["objective_class"] = cell_value(row[roles["objective"]])
    if "aus" in roles:
        extra.update(action_unit_extras(row[roles["aus"]]))
    return rows.record(sequence_id=sequence_id, subject=safe_id(subject_text), folder=folder,
                       class_name=class_name, start=start, end=end, extra=extra)


class _Folders:
    """Where a sample's frames are: a task video's ``color/`` folder or a cut clip folder."""

    def __init__(self, root: Path, frames: str | Path | None) -> None:
        if frames is not None:
            path = Path(frames)
            path = path if path.is_absolute() else root / path
            if not path.is_dir():
                raise DataError(f"casme3: frames folder {path} does not exist")
            self.full, self.clips = [path], [path]
        else:
            self.full = [p for p in (root / f for f in FULL_FRAMES) if p.is_dir()]
            self.clips = [p for p in (root / f for f in CLIP_FRAMES) if p.is_dir()]

    def find(self, subject: str, video: str, onset: int) -> Path | None:
        for base in self.full:
            folder = resolve_path(base, [subject, video])
            if folder is not None and folder.is_dir():
                color = resolve_child(folder, "color")
                folder = color if color is not None and color.is_dir() else folder
                if list_image_files(folder):
                    return folder
        for base in self.clips:
            folder = resolve_child(base, f"{subject}_{video}_{onset}")
            if folder is not None and folder.is_dir() and list_image_files(folder):
                return folder
        return None

    def expected(self, subject: str, video: str) -> str:
        base = self.full[0] if self.full else Path(FULL_FRAMES[0])
        return str(base / subject / video / "color")

    def describe(self) -> str:
        return ", ".join(str(p) for p in dict.fromkeys([*self.full, *self.clips])) or "(none)"
