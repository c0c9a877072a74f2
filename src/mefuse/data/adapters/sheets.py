"""Datasets described by one label sheet with onset, apex and offset frames: 4DME, CASME II, SAMM.

All three sheets give, per ME sample, a subject, a clip (folder) name, the onset, apex and
offset frame *numbers* (the integers in the frame files' names), action units and an emotion.
Frames lie in ``<frames>/<subject folder>/<clip>/``. Column names were checked against the
released sheets as other public loaders read them:

- 4DME ``4DME_Labelling_Micro_release v1.xlsx``: sub_ID, fold_name, Emotion, Onset, Apex,
  Offset, AUs (some AUs carry a ``(k)`` mark); grey texture frames under
  ``gray_micro/<subject>/<fold_name>/``; multi-label over the 4DMR classes.
- CASME II ``CASME2-coding-*.xlsx``: Subject (a number; folders ``sub01``), Filename,
  OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion; frames in
  ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg``. A few rows have ``/`` for the apex.
- SAMM ``SAMM_Micro_FACS_Codes_v2.xlsx``: a block of text above the table, then Subject
  (``006``), Filename, Onset Frame, Apex Frame, Offset Frame, Action Units, Estimated
  Emotion ...; frames in ``SAMM/006/006_1_2/006_05562.jpg``. Missing apexes are ``-1``.

The sheets are known to hold a few wrong frame numbers; they are not patched here. A number
without a frame file is reported and the window clamped (see :func:`frame_window`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mefuse import FOURDMR_CLASSES
from mefuse.data.adapters.base import (
    Dataset,
    SequenceRecord,
    apex_position,
    au_columns,
    auto_find,
    cell_int,
    cell_text,
    emotion_totals,
    find_column,
    frame_window,
    is_missing,
    parse_action_units,
    read_sheet,
    register_adapter,
    require_columns,
    resolve_path,
    safe_id,
    sheet_row,
)
from mefuse.data.frames import list_image_files
from mefuse.errors import ConfigError, DataError

# --------------------------------------------------------------------------- emotions
EMOTION_SPELLINGS: dict[str, tuple[str, ...]] = {
    "negative": ("negative", "negtive", "negetive", "neg"),
    "positive": ("positive", "postive", "pos"),
    "surprise": ("surprise", "surprised", "surprize", "suprise"),
    "repression": ("repression", "repressed", "repress", "represion"),
    "others": ("others", "other"),
    "happiness": ("happiness", "happy", "happyness", "joy"),
    "disgust": ("disgust", "disgusted", "disgusting"),
    "fear": ("fear", "fearful", "afraid"),
    "sadness": ("sadness", "sad"),
    "anger": ("anger", "angry"),
    "contempt": ("contempt",),
    "tense": ("tense", "tension"),
}
"""Canonical emotion name -> spellings met in label sheets (compared lower-case, no spaces)."""

_CANONICAL = {s: name for name, spellings in EMOTION_SPELLINGS.items() for s in spellings}

FOURDME_CLASS_MAP: dict[str, str] = {
    "negative": "Negative", "positive": "Positive", "surprise": "Surprise",
    "repression": "Repression", "others": "Others",
    # Basic emotions, should a sheet name them instead of the five 4DME categories.
    "happiness": "Positive", "disgust": "Negative", "fear": "Negative", "sadness": "Negative",
    "anger": "Negative", "contempt": "Negative",
}
"""4DME emotion -> 4DMR class."""

MEGC_COMPOSITE: dict[str, dict[str, str]] = {
    # MEGC 2019 composite protocol: Negative from CASME II's disgust and repression and from
    # SAMM's anger, contempt, disgust, fear and sadness; Positive = happiness; Surprise.
    # Everything else (others, fear and sadness in CASME II ...) is left out.
    "casme2": {"disgust": "Negative", "repression": "Negative", "happiness": "Positive",
               "surprise": "Surprise"},
    "samm": {"anger": "Negative", "contempt": "Negative", "disgust": "Negative",
             "fear": "Negative", "sadness": "Negative", "happiness": "Positive",
             "surprise": "Surprise"},
}
COMPOSITE_CLASSES: tuple[str, ...] = ("Negative", "Positive", "Surprise")


def canonical_emotions(text: Any) -> tuple[list[str], list[str]]:
    """A sheet's emotion cell as canonical names, and the parts that name no known emotion.

    A cell may name several emotions (``Negative+Surprise``, ``negative / surprise``).
    """
    if is_missing(text):
        return [], ["(empty)"]
    known: list[str] = []
    unknown: list[str] = []
    for part in re.split(r"[+,;/&]|\band\b", cell_text(text), flags=re.IGNORECASE):
        key = re.sub(r"\s+", "", part).lower()
        if not key:
            continue
        if key in _CANONICAL:
            if _CANONICAL[key] not in known:
                known.append(_CANONICAL[key])
        else:
            unknown.append(part.strip())
    return known, unknown


# --------------------------------------------------------------------------- sheet specs
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "subject": ("sub_ID", "Subject", "sub", "subject_id"),
    "clip": ("fold_name", "Filename", "material", "clip"),
    "onset": ("Onset", "OnsetFrame", "Onset Frame", "OnsetF"),
    "apex": ("Apex", "ApexFrame", "Apex Frame", "ApexF1", "ApexF"),
    "offset": ("Offset", "OffsetFrame", "Offset Frame", "OffsetF"),
    "emotion": ("Emotion", "Estimated Emotion", "Estimated_Emotion"),
    "aus": ("AUs", "Action Units", "AU", "Action Unit"),
}
REQUIRED_ROLES = ("subject", "clip", "onset", "offset", "emotion")


@dataclass(frozen=True)
class SheetSpec:
    """Where one dataset keeps its sheet and frames, and how it names subject folders."""

    name: str
    sheet_patterns: tuple[str, ...]
    frame_dirs: tuple[str, ...]
    subject_folder: Callable[[str], str]
    subject_id: Callable[[str], str]


def _casme2_subject(text: str) -> str:
    number = cell_int(text)
    return f"sub{number:02d}" if number is not None else safe_id(text)


def _samm_subject(text: str) -> str:
    number = cell_int(text)
    return f"{number:03d}" if number is not None else safe_id(text)


SPECS: dict[str, SheetSpec] = {
    "4dme": SheetSpec("4dme", ("4DME_Labelling_Micro*.xls*", "*Labelling*Micro*.xls*",
                               "*Micro*.xls*", "*.xlsx", "*.csv"),
                      ("gray_micro", "4DME/gray_micro", "."), safe_id, safe_id),
    "casme2": SheetSpec("casme2", ("CASME2-coding*.xls*", "CASME2*coding*.xls*", "*coding*.xls*",
                                   "*.xlsx", "*.csv"),
                        ("CASME2_RAW_selected", "CASME2-RAW", "CASME2_RAW", "CASME2_Cropped",
                         "Cropped", "."), _casme2_subject, _casme2_subject),
    "samm": SheetSpec("samm", ("SAMM_Micro_FACS_Codes*.xls*", "*FACS*Codes*.xls*", "*.xlsx",
                               "*.csv"),
                      ("SAMM", "SAMM_CROP", "."), _samm_subject, _samm_subject),
}


# --------------------------------------------------------------------------- the adapters
@register_adapter("4dme")
def load_4dme(root: Path, labels: Path | None = None, *, frames: str | Path | None = None,
              drop_k_aus: bool = False) -> Dataset:
    """4DME: multi-label over the five 4DMR classes, onset-to-offset windows, AU columns.

    ``frames``: the folder holding ``<subject>/<fold_name>/`` (default: ``gray_micro`` under
    ``root``, else ``root``); give another texture folder to use another modality.
    ``drop_k_aus``: leave AUs marked ``(k)`` out of the AU columns (the raw string is kept).
    """
    return _load(SPECS["4dme"], root, labels, frames, drop_k_aus=drop_k_aus,
                 mapping=FOURDME_CLASS_MAP, classes=FOURDMR_CLASSES, task="multilabel")


@register_adapter("casme2")
def load_casme2(root: Path, labels: Path | None = None, *, frames: str | Path | None = None,
                classes: Sequence[str] | str | None = None, composite: bool = False
                ) -> Dataset:
    """CASME II, single-label.

    Classes are by default the emotions found in the sheet (title case, sorted); ``classes``
    keeps only the named ones (e.g. ``Happiness,Disgust,Repression,Surprise,Others``);
    ``composite`` maps to MEGC's Negative / Positive / Surprise and leaves the rest out.
    """
    return _single_label(SPECS["casme2"], root, labels, frames, classes, composite)


@register_adapter("samm")
def load_samm(root: Path, labels: Path | None = None, *, frames: str | Path | None = None,
              classes: Sequence[str] | str | None = None, composite: bool = False) -> Dataset:
    """SAMM, single-label; options as for :func:`load_casme2`."""
    return _single_label(SPECS["samm"], root, labels, frames, classes, composite)


def _single_label(spec: SheetSpec, root: Path, labels: Path | None, frames: str | Path | None,
                  classes: Sequence[str] | str | None, composite: bool) -> Dataset:
    if composite and classes is not None:
        raise ConfigError(f"{spec.name}: give either classes or composite, not both")
    if composite:
        return _load(spec, root, labels, frames, mapping=MEGC_COMPOSITE[spec.name],
                     classes=COMPOSITE_CLASSES, task="singlelabel")
    wanted = None
    if classes is not None:
        names = classes.split(",") if isinstance(classes, str) else list(classes)
        wanted = []
        for name in names:
            found, unknown = canonical_emotions(name)
            if unknown or len(found) != 1:
                raise ConfigError(f"{spec.name}: class {name!r} is not an emotion name; known: "
                                  f"{', '.join(EMOTION_SPELLINGS)}")
            wanted.append(found[0].title())
    mapping = {e: e.title() for e in EMOTION_SPELLINGS}
    return _load(spec, root, labels, frames, mapping=mapping,
                 classes=tuple(wanted) if wanted else None, task="singlelabel")


def _frames_root(spec: SheetSpec, root: Path, frames: str | Path | None) -> Path:
    if frames is not None:
        path = Path(frames)
        path = path if path.is_absolute() else root / path
        if not path.is_dir():
            raise DataError(f"{spec.name}: frames folder {path} does not exist")
        return path
    for candidate in spec.frame_dirs:
        if (root / candidate).is_dir() and candidate != ".":
            return root / candidate
    return root


def _load(spec: SheetSpec, root: Path, labels: Path | None, frames: str | Path | None, *,
          mapping: dict[str, str], classes: tuple[str, ...] | None,
          task: Literal["multilabel", "singlelabel"], drop_k_aus: bool = False) -> Dataset:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{spec.name} root {root} is not a folder")
    sheet_path = labels or auto_find(root, spec.sheet_patterns, f"{spec.name} label sheet")
    # SAMM has a block of text above the table: the header is the row naming the clip column.
    sheet = read_sheet(sheet_path, header_contains=COLUMN_NAMES["clip"])
    roles = require_columns(sheet, sheet_path, {r: COLUMN_NAMES[r] for r in REQUIRED_ROLES})
    for optional in ("apex", "aus"):
        column = find_column(sheet, *COLUMN_NAMES[optional])
        if column is not None:
            roles[optional] = column
    reader = _SheetRows(spec, roles, _frames_root(spec, root, frames), mapping, classes, task,
                        drop_k_aus)
    records: list[SequenceRecord] = []
    for position, row in enumerate(sheet.to_dict("records")):
        line = sheet_row(sheet, position)
        record = reader.record(row, f"{sheet_path.name} row {line}", line)
        if record is not None:
            records.append(record)
    final_classes = classes or tuple(sorted({c for r in records for c in r.extra["_classes"]}))
    for record in records:
        present = record.extra.pop("_classes")
        record.labels = {c: int(c in present) for c in final_classes}
    au_columns(records)
    return Dataset(name=spec.name, root=root, classes=tuple(final_classes), task=task,
                   records=records, problems=reader.summary(sheet_path, records))


@dataclass
class _SheetRows:
    """One pass over a label sheet's rows: the adapter's settings, and what the rows showed so
    far (problems, unknown and left-out emotions, sample names already used)."""

    spec: SheetSpec
    roles: dict[str, str]
    frames_root: Path
    mapping: dict[str, str]
    classes: tuple[str, ...] | None
    task: Literal["multilabel", "singlelabel"]
    drop_k_aus: bool
    problems: list[str] = field(default_factory=list)
    unknown_emotions: Counter[str] = field(default_factory=Counter)
    left_out: Counter[str] = field(default_factory=Counter)
    seen: dict[str, int] = field(default_factory=dict)

    def record(self, row: dict[Hashable, Any], where: str, line: int) -> SequenceRecord | None:
        """The row's sample (its classes kept in ``extra["_classes"]``), or None when skipped."""
        roles, spec = self.roles, self.spec
        subject_text, clip = cell_text(row[roles["subject"]]), cell_text(row[roles["clip"]])
        if is_missing(row[roles["subject"]]) or is_missing(row[roles["clip"]]):
            self.problems.append(f"{where}: empty subject or clip name; skipped")
            return None
        subject = spec.subject_id(subject_text)
        label = f"{where} ({subject}/{clip})"
        mapped = self._classes_of(row, label)
        if mapped is None:
            return None
        folder = resolve_path(self.frames_root, [spec.subject_folder(subject_text), clip])
        if folder is None or not folder.is_dir():
            expected = self.frames_root / spec.subject_folder(subject_text) / clip
            self.problems.append(f"{label}: frame folder {expected} is missing; skipped")
            return None
        if not list_image_files(folder):
            self.problems.append(f"{label}: frame folder {folder} holds no image files; skipped")
            return None
        window = self._window(row, label, folder)
        if window is None:
            return None
        onset, apex, offset, start, end = window
        sequence_id = safe_id(clip if safe_id(clip).startswith(subject) else f"{subject}_{clip}")
        if sequence_id in self.seen:
            self.problems.append(f"{label}: sample {sequence_id} already given in row "
                                 f"{self.seen[sequence_id]}; skipped")
            return None
        self.seen[sequence_id] = line
        extra: dict[str, Any] = {"onset": onset, "apex": apex, "offset": offset,
                                 "apex_index": apex_position(folder, apex),
                                 "emotion": cell_text(row[roles["emotion"]])}
        if "aus" in roles:
            raw = row[roles["aus"]]
            extra["aus"] = "" if is_missing(raw) else cell_text(raw)
            for number in parse_action_units(raw, drop_k=self.drop_k_aus):
                extra[f"AU{number}"] = 1
        return SequenceRecord(sequence_id=sequence_id, subject=subject, source=folder,
                              labels=None, start=start, end=end,
                              extra={**extra, "_classes": mapped})

    def _classes_of(self, row: dict[Hashable, Any], label: str) -> list[str] | None:
        """The row's classes; None (and a problem or a left-out count) when it has none."""
        emotions, unknown = canonical_emotions(row[self.roles["emotion"]])
        if unknown:
            self.unknown_emotions.update(unknown)
            self.problems.append(f"{label}: unknown emotion {', '.join(map(repr, unknown))}; "
                                 "skipped")
            return None
        mapped = list(dict.fromkeys(self.mapping[e] for e in emotions if e in self.mapping))
        if self.classes is not None:
            mapped = [m for m in mapped if m in self.classes]
        if not mapped:
            self.left_out.update(emotions)
            return None
        if self.task == "singlelabel" and len(mapped) > 1:
            self.problems.append(f"{label}: several emotions {', '.join(mapped)} in a "
                                 "single-label dataset; skipped")
            return None
        return mapped

    def _window(self, row: dict[Hashable, Any], label: str, folder: Path
                ) -> tuple[int, int | None, int, int | None, int | None] | None:
        """``(onset, apex, offset, start, end)`` of the row's sample, or None when unusable."""
        roles = self.roles
        onset, offset = cell_int(row[roles["onset"]]), cell_int(row[roles["offset"]])
        apex = cell_int(row[roles["apex"]]) if "apex" in roles else None
        if apex is not None and apex < 0:
            apex = None
        if onset is None or offset is None:
            self.problems.append(f"{label}: onset {row[roles['onset']]!r} or offset "
                                 f"{row[roles['offset']]!r} is not a frame number; skipped")
            return None
        if offset < onset:
            self.problems.append(f"{label}: offset {offset} comes before onset {onset}; skipped")
            return None
        start, end, window_problems = frame_window(folder, onset, offset, label)
        self.problems += window_problems
        if start is not None and end is not None and end < start:
            self.problems.append(f"{label}: no frame file between onset {onset} and offset "
                                 f"{offset}; skipped")
            return None
        return onset, apex, offset, start, end

    def summary(self, sheet_path: Path, records: Sequence[SequenceRecord]) -> list[str]:
        """Every problem, then the totals of unknown and left-out emotions."""
        problems = [*self.problems, *emotion_totals(sheet_path.name, self.unknown_emotions,
                                                    self.left_out, skipped="rows")]
        if not records:
            problems.append(f"no usable sample in {sheet_path} with frames under "
                            f"{self.frames_root}")
        return problems


