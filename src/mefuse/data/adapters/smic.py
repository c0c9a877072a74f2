"""SMIC: labels are the emotion folders, ``<part>/<subject>/micro/<emotion>/<clip>/image*.bmp``.

SMIC's three parts were filmed with three cameras: HS (high speed, 100 fps, 16 subjects with
micro-expressions, 164 clips), VIS and NIR (25 fps, 8 subjects, 71 clips each). Every clip folder
holds the frames of one micro-expression (onset to offset), so no sheet is needed; the classes are
its emotion folders ``negative``, ``positive`` and ``surprise`` (MEGC's composite classes as
they are). The ``non_micro`` folders next to ``micro`` are not read.

SMIC labels no apex. As meb does, the apex is taken to be the middle frame of onset..offset; a
note says so, since ``apex_index`` is then a convention, not a label.

An optional sheet (``--labels``; by default a ``smic*.xlsx`` / ``smic*.csv`` in the root, as in
meb's ``smic.xlsx``) gives ``onset`` and ``offset`` frame numbers per clip (column ``material``,
``Filename`` or ``clip``); a clip the sheet names is windowed to them, the others keep their whole
folder.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

from mefuse.data.adapters.base import (
    Dataset,
    SequenceRecord,
    cell_int,
    cell_text,
    is_missing,
    read_sheet,
    register_adapter,
    require_columns,
    resolve_child,
    safe_id,
    sheet_row,
)
from mefuse.data.adapters.emotion_rows import EmotionRows, bool_option
from mefuse.data.adapters.sheets import COLUMN_NAMES, COMPOSITE_CLASSES
from mefuse.data.frames import frame_number, integers_in, list_image_files
from mefuse.errors import ConfigError, DataError

PART_FPS: dict[str, float] = {"HS": 100.0, "VIS": 25.0, "NIR": 25.0}
"""SMIC's parts and their frame rates."""

SMIC_CLASSES: dict[str, str] = {"negative": "Negative", "positive": "Positive",
                                "surprise": "Surprise"}
"""Emotion folder (canonical name) -> class: the MEGC composite classes."""

CONTAINERS = ("", "SMIC_all_cropped", "SMIC_all_raw", "SMIC", "SMIC_release")
"""Folders under the root that releases put the part folders in (tried in order)."""

APEX_NOTE = ("smic labels no apex: apex and apex_index are the middle frame of onset..offset "
             "(as meb sets them), not a label")


@register_adapter("smic")
def load_smic(root: Path, labels: Path | None = None, *, part: str = "HS",
              frames: str | Path | None = None, composite: bool = False) -> Dataset:
    """SMIC (part HS, VIS or NIR): single-label Negative / Positive / Surprise from its folders.

    ``part`` picks the camera (``HS`` 100 fps, ``VIS`` and ``NIR`` 25 fps); ``frames`` names
    the part folder itself when it is not ``<root>/<part>`` (or under ``SMIC_all_cropped``...).
    ``composite`` is accepted so that a composite builder can pass it to every dataset: SMIC's
    classes already are MEGC's three.
    """
    name = str(part).strip().upper()
    if name not in PART_FPS:
        raise ConfigError(f"smic: part must be one of {', '.join(PART_FPS)}, got {part!r}")
    bool_option("smic", composite, "composite")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"smic root {root} is not a folder")
    part_root = _part_root(root, name, frames)
    rows = EmotionRows("smic", SMIC_CLASSES, COMPOSITE_CLASSES, PART_FPS[name])
    sheet = _SheetWindows(root, labels, rows.problems)
    records: list[SequenceRecord] = []
    without_micro = 0
    for subject_dir in _folders(part_root):
        micro = resolve_child(subject_dir, "micro")
        if micro is None or not micro.is_dir():
            without_micro += 1
            continue
        subject = safe_id(subject_dir.name)
        for emotion_dir in _folders(micro):
            label = f"{name}/{subject_dir.name}/micro/{emotion_dir.name}"
            class_name = rows.classify(emotion_dir.name, label)
            if class_name is None:
                continue
            for clip in _folders(emotion_dir):
                record = _clip(rows, sheet, clip, subject, class_name, name, f"{label}/"
                               f"{clip.name}")
                if record is not None:
                    records.append(record)
    notes = [APEX_NOTE]
    if without_micro:
        notes.append(f"{without_micro} subject folder(s) in {part_root} have no micro/ folder")
    notes += sheet.unused_notes()
    rows.problems += sheet.unmatched()
    return rows.dataset(root, records, str(part_root), notes)


def _part_root(root: Path, part: str, frames: str | Path | None) -> Path:
    """The folder holding the part's subject folders."""
    if frames is not None:
        path = Path(frames)
        path = path if path.is_absolute() else root / path
        if not path.is_dir():
            raise DataError(f"smic: frames folder {path} does not exist")
        return path
    tried = []
    for container in CONTAINERS:
        base = root / container if container else root
        found = resolve_child(base, part) if base.is_dir() else None
        tried.append(f"{container}/{part}" if container else part)
        if found is not None and found.is_dir():
            return found
    if any(resolve_child(p, "micro") for p in _folders(root)):
        return root  # the root is the part folder itself
    raise DataError(f"smic: no {part} folder under {root} (looked for {', '.join(tried)}, "
                    "and for <subject>/micro/ in the root); name it with "
                    "--dataset-option frames=...")


def _folders(parent: Path) -> list[Path]:
    """Sub-folders, in natural order (``s2`` before ``s10``), hidden ones left out."""
    return sorted((p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: (integers_in(p.name), p.name))


def _clip(rows: EmotionRows, sheet: _SheetWindows, clip: Path, subject: str,
          class_name: str, part: str, label: str) -> SequenceRecord | None:
    files = list_image_files(clip)
    if not files:
        rows.problems.append(f"{label}: clip folder holds no image files; skipped")
        return None
    onset, offset = sheet.window(clip.name)
    window = rows.window(clip, onset, None, offset, label)
    if window is None:
        return None
    start, end, _ = window
    first = 0 if start is None else start
    last = len(files) - 1 if end is None else end
    middle = first + (last - first) // 2
    sequence_id = safe_id(clip.name if safe_id(clip.name).startswith(subject)
                          else f"{subject}_{clip.name}")
    if not rows.claim(sequence_id, label):
        return None
    extra: dict[str, Any] = {
        "onset": frame_number(files[first].name), "apex": frame_number(files[middle].name),
        "offset": frame_number(files[last].name), "apex_index": middle,
        "emotion": clip.parent.name, "part": part,
    }
    return rows.record(sequence_id=sequence_id, subject=subject, folder=clip,
                       class_name=class_name, start=start, end=end, extra=extra)


class _SheetWindows:
    """The optional onset/offset sheet: clip name -> frame numbers, and which rows were used."""

    def __init__(self, root: Path, labels: Path | None, problems: list[str]) -> None:
        self.windows: dict[str, tuple[int | None, int | None, str]] = {}
        self.used: set[str] = set()
        self.path = labels if labels is not None else _default_sheet(root)
        if self.path is None:
            return
        sheet = read_sheet(self.path, header_contains=("material", "Filename", "clip"))
        roles = require_columns(sheet, self.path, {
            "clip": ("material", "Filename", "clip", "fold_name"),
            "onset": COLUMN_NAMES["onset"], "offset": COLUMN_NAMES["offset"]})
        for position, row in enumerate(sheet.to_dict("records")):
            where = f"{self.path.name} row {sheet_row(sheet, position)}"
            self._add(row, roles, where, problems)

    def _add(self, row: dict[Hashable, Any], roles: dict[str, str], where: str,
             problems: list[str]) -> None:
        if is_missing(row[roles["clip"]]):
            problems.append(f"{where}: empty clip name; skipped")
            return
        clip = cell_text(row[roles["clip"]])
        onset, offset = cell_int(row[roles["onset"]]), cell_int(row[roles["offset"]])
        if onset is None or offset is None:
            problems.append(f"{where} ({clip}): onset {row[roles['onset']]!r} or offset "
                            f"{row[roles['offset']]!r} is not a frame number; skipped")
            return
        key = clip.lower()
        if key in self.windows:
            problems.append(f"{where} ({clip}): clip already given in "
                            f"{self.windows[key][2]}; skipped")
            return
        self.windows[key] = (onset, offset, where)

    def window(self, clip: str) -> tuple[int | None, int | None]:
        """Onset and offset frame numbers for ``clip`` (None, None: the whole folder)."""
        found = self.windows.get(clip.lower())
        if found is None:
            return None, None
        self.used.add(clip.lower())
        return found[0], found[1]

    def unmatched(self) -> list[str]:
        """Sheet rows whose clip has no folder (problems)."""
        return [f"{where} ({clip}): no clip folder of that name; skipped"
                for clip, (_, _, where) in self.windows.items() if clip not in self.used]

    def unused_notes(self) -> list[str]:
        """How many clips took their window from the sheet (the others keep their folder)."""
        if self.path is None:
            return []
        return [f"onset/offset windows from {self.path.name} for {len(self.used)} clip(s)"]


def _default_sheet(root: Path) -> Path | None:
    """meb's ``smic.xlsx`` (any ``smic*`` sheet) in the root, when there is exactly one."""
    found = sorted(p for p in root.iterdir() if p.is_file() and p.name.lower().startswith("smic")
                   and p.suffix.lower() in {".xlsx", ".xls", ".csv"})
    if len(found) > 1:
        raise DataError(f"several SMIC sheets in {root}: {', '.join(p.name for p in found)}; "
                        "name one with --labels")
    return found[0] if found else None


__all__ = ["PART_FPS", "SMIC_CLASSES", "load_smic"]
