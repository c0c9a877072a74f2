"""What the SMIC, CAS(ME)^3 and MMEW adapters share: emotion -> class, onset-offset windows with
the apex position, AU columns, and the problems and left-out counts they gather on the way.

Each of these datasets has its own folder layout (emotion folders, task videos, clip folders),
so each adapter finds a sample's frame folder itself; once it has one, the same bookkeeping
turns a labelled sample into a :class:`SequenceRecord`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mefuse.data.adapters.base import (
    NOTE,
    Dataset,
    SequenceRecord,
    apex_position,
    au_columns,
    cell_text,
    emotion_totals,
    frame_window,
    is_missing,
    parse_action_units,
)
from mefuse.data.adapters.sheets import canonical_emotions
from mefuse.errors import ConfigError


def bool_option(name: str, value: Any, option: str) -> bool:
    """A yes/no adapter option (YAML gives ``true``/``false``); anything else is refused."""
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{name}: option {option} takes true or false, got {value!r}")


@dataclass
class EmotionRows:
    """One pass over a dataset's samples: its class mapping and what the samples showed."""

    name: str
    mapping: Mapping[str, str]
    """Canonical emotion (see :data:`~mefuse.data.adapters.sheets.EMOTION_SPELLINGS`) -> class;
    an emotion absent from it is left out (counted in a note), not an error."""
    classes: tuple[str, ...]
    fps: float
    problems: list[str] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    seen: dict[str, str] = field(default_factory=dict)

    def classify(self, text: Any, label: str) -> str | None:
        """The class of an emotion cell or folder name; None when unknown (a problem) or left
        out of the class set (counted)."""
        emotions, unknown = canonical_emotions(text)
        if unknown:
            self.unknown.update(unknown)
            self.problems.append(f"{label}: unknown emotion {', '.join(map(repr, unknown))}; "
                                 "skipped")
            return None
        mapped = list(dict.fromkeys(self.mapping[e] for e in emotions if e in self.mapping))
        if not mapped:
            self.left_out.update(emotions)
            return None
        if len(mapped) > 1:
            self.problems.append(f"{label}: several emotions {', '.join(mapped)} in a "
                                 "single-label dataset; skipped")
            return None
        return mapped[0]

    def claim(self, sequence_id: str, label: str) -> bool:
        """Whether ``sequence_id`` is still free (a second sample of that id is a problem)."""
        if sequence_id in self.seen:
            self.problems.append(f"{label}: sample {sequence_id} already given by "
                                 f"{self.seen[sequence_id]}; skipped")
            return False
        self.seen[sequence_id] = label
        return True

    def window(self, folder: Path, onset: int | None, apex: int | None, offset: int | None,
               label: str) -> tuple[int | None, int | None, int | None] | None:
        """``(start, end, apex_index)`` in ``folder``'s frame order for the frame *numbers*
        ``onset``..``offset`` (None: the folder's first / last frame); None when unusable."""
        if onset is not None and offset is not None and offset < onset:
            self.problems.append(f"{label}: offset {offset} comes before onset {onset}; skipped")
            return None
        start, end, window_problems = frame_window(folder, onset, offset, label)
        self.problems += window_problems
        if start is not None and end is not None and end < start:
            self.problems.append(f"{label}: no frame file between onset {onset} and offset "
                                 f"{offset}; skipped")
            return None
        return start, end, apex_position(folder, apex)

    def record(self, *, sequence_id: str, subject: str, folder: Path, class_name: str,
               start: int | None, end: int | None, extra: dict[str, Any]) -> SequenceRecord:
        """The sample as a one-hot labelled record, with its ``fps`` as an extra."""
        return SequenceRecord(sequence_id=sequence_id, subject=subject, source=folder,
                              labels={c: int(c == class_name) for c in self.classes},
                              start=start, end=end, extra={**extra, "fps": self.fps})

    def dataset(self, root: Path, records: list[SequenceRecord], where: str,
                notes: Sequence[str] = ()) -> Dataset:
        """The finished dataset: AU columns aligned, then every problem, the totals of unknown
        and left-out emotions, and the ``notes``."""
        au_columns(records)
        problems = [*self.problems, *emotion_totals(where, self.unknown, self.left_out)]
        problems += [f"{NOTE}{n}" for n in notes]
        if not records:
            problems.append(f"no usable {self.name} sample in {where}")
        return Dataset(name=self.name, root=root, classes=self.classes, task="singlelabel",
                       records=records, problems=problems)


def action_unit_extras(raw: Any) -> dict[str, Any]:
    """The raw AU cell as ``aus`` and one ``AU<n>`` = 1 per action unit it names."""
    extra: dict[str, Any] = {"aus": "" if is_missing(raw) else cell_text(raw)}
    for number in parse_action_units(raw):
        extra[f"AU{number}"] = 1
    return extra
