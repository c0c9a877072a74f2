"""What every dataset adapter produces, and the helpers they share.

An adapter reads one dataset's own layout and label sheet and returns a :class:`Dataset`: one
:class:`SequenceRecord` per usable sequence plus a list of the problems it met. A bad row never
stops the others: the row is skipped and the problem named, so that ``mefuse check-data`` can
show everything at once and ``mefuse extract`` can go on with the rest. Problems that are only
information (not something to fix) start with ``"note:"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from mefuse.data.frames import frame_number, integers_in, is_video_file, list_image_files
from mefuse.errors import DataError
from mefuse.utils.paths import existing_file
from mefuse.utils.registry import Registry

NOTE = "note: "
"""Prefix of problems that are information only (they do not fail ``check-data``)."""

Adapter = Callable[..., "Dataset"]
"""``adapter(root, labels=None, **options) -> Dataset``."""

ADAPTERS: Registry[Adapter] = Registry("dataset kind", [
    "mefuse.data.adapters.fourdmr",
    "mefuse.data.adapters.sheets",
    "mefuse.data.adapters.folder",
    "mefuse.data.adapters.smic",
    "mefuse.data.adapters.casme3",
    "mefuse.data.adapters.mmew",
])
"""Adapter functions by dataset kind; each module registers its own with ``@register_adapter``."""


def register_adapter(kind: str) -> Callable[[Adapter], Adapter]:
    """Function decorator: make the adapter available as ``load_dataset(kind, ...)``."""
    return ADAPTERS.register(kind)


def list_adapters(pattern: str | None = None) -> list[str]:
    """The dataset kinds that have an adapter, sorted; ``pattern`` filters shell-style."""
    return ADAPTERS.names(pattern)


@dataclass
class SequenceRecord:
    """One sequence (a clip before it is split into views).

    ``start`` and ``end`` are 0-based, inclusive positions in the source's frame order (for an
    image folder: its files sorted as :func:`mefuse.data.frames.list_image_files` sorts them);
    None means the source's first / last frame.
    """

    sequence_id: str
    subject: str
    source: Path
    labels: dict[str, int] | None
    start: int | None = None
    end: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class HasProblems:
    """``errors`` and ``notes`` of a ``problems`` list (clip datasets and long-video datasets
    name what they skipped the same way)."""

    problems: list[str]

    @property
    def errors(self) -> list[str]:
        """Problems to fix (a skipped row, a missing folder or video), notes left out."""
        return [p for p in self.problems if not p.startswith(NOTE)]

    @property
    def notes(self) -> list[str]:
        """Problems that are information only, without their ``note:`` prefix."""
        return [p[len(NOTE):] for p in self.problems if p.startswith(NOTE)]


def emotion_totals(where: str, unknown: Mapping[str, int], left_out: Mapping[str, int],
                   skipped: str = "samples") -> list[str]:
    """The closing problems of an emotion-labelled sheet: the unknown emotion names (their
    ``skipped`` were skipped) and, as a note, the samples whose emotion is outside the class
    set."""
    out = []
    if unknown:
        out.append(f"unknown emotion names in {where}: "
                   + ", ".join(f"{e!r} ({n}x)" for e, n in unknown.items())
                   + f"; their {skipped} were skipped")
    if left_out:
        out.append(f"{NOTE}{sum(left_out.values())} sample(s) left out, emotion not in the "
                   "class set: " + ", ".join(f"{e} ({n}x)" for e, n in left_out.items()))
    return out


@dataclass
class Dataset(HasProblems):
    """A dataset as an adapter read it: its class set, its sequences and its problems."""

    name: str
    root: Path
    classes: tuple[str, ...]
    task: Literal["multilabel", "singlelabel"]
    records: list[SequenceRecord]
    problems: list[str] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        """Distinct subjects, in order of first appearance."""
        return list(dict.fromkeys(r.subject for r in self.records))

    @property
    def labelled(self) -> list[SequenceRecord]:
        return [r for r in self.records if r.labels is not None]

    def label_counts(self) -> dict[str, int]:
        """Positive labelled sequences per class."""
        return {c: sum(r.labels[c] for r in self.labelled if r.labels) for c in self.classes}


# --------------------------------------------------------------------------- identifiers
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_id(text: Any) -> str:
    """``text`` made usable as a file name: runs of other characters become ``_``; no leading
    dot or dash (clip ids name feature files, which must not be hidden, escape their folder or
    read as an option by shell tools)."""
    out = _UNSAFE.sub("_", str(text).strip()).strip("_")
    out = out.lstrip(".-")
    return out or "_"


def is_missing(value: Any) -> bool:
    """Whether a sheet cell is empty (None, NaN, blank string)."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    return value is pd.NA or value is pd.NaT


def cell_text(value: Any) -> str:
    """A sheet cell as text; whole floats (Excel's ``6.0``) lose their ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def apex_position(source: Path, apex: Any) -> int | None:
    """Position of a labelled apex frame in ``source``'s frame order: for a frame folder, the
    file whose frame number (:func:`~mefuse.data.frames.frame_number`) is ``apex``; for a video,
    ``apex`` itself (a video's frames are numbered by position). None when the apex is missing,
    negative or names no frame of the folder."""
    number = cell_int(apex)
    if number is None or number < 0:
        return None
    if not source.is_dir():
        return number
    for index, file in enumerate(list_image_files(source)):
        if frame_number(file.name) == number:
            return index
    return None


def cell_int(value: Any) -> int | None:
    """A sheet cell as an integer, or None when empty or not a whole number (``/``, ``-``)."""
    if is_missing(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not number.is_integer():
        return None
    return int(number)


def cell_value(value: Any) -> Any:
    """A sheet cell as an int, a float or a string (None when empty), for extra columns."""
    if is_missing(value):
        return None
    number = cell_int(value)
    if number is not None:
        return number
    try:
        return float(value)
    except (TypeError, ValueError):
        return cell_text(value)


# --------------------------------------------------------------------------- label sheets
def read_sheet(path: Path, *, header_contains: Sequence[str] | str | None = None,
               sheet: str | int = 0) -> pd.DataFrame:
    """Read a label sheet (``.xlsx``/``.xls`` through pandas + openpyxl, or ``.csv``).

    ``header_contains`` names a column (or several alternatives) that the header row must
    hold: sheets such as SAMM's carry a block of text above the table, so the header row is
    searched for in the first 50 rows instead of being assumed to be the first. ``sheet`` picks
    the workbook's sheet (name or 0-based position; ignored for CSV files).
    """
    path = existing_file(path, "label sheet", hint=" (give the .xlsx or .csv file)")
    suffix = path.suffix.lower()
    try:
        if suffix in {".xlsx", ".xlsm", ".xls"}:
            raw = pd.read_excel(path, header=None, dtype=object, sheet_name=sheet)
        elif suffix in {".csv", ".txt"}:
            raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=True,
                              skip_blank_lines=False)
        else:
            raise DataError(f"label sheet {path}: expected .xlsx, .xls or .csv")
    except ImportError as exc:
        raise DataError(
            f"reading {path} needs openpyxl: pip install openpyxl ({exc})") from None
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"label sheet {path} cannot be read: {exc}") from None
    header_row = 0
    if header_contains is not None:
        names = [header_contains] if isinstance(header_contains, str) else header_contains
        wanted = {_norm(n) for n in names}
        for row in range(min(len(raw), 50)):
            if any(_norm(cell_text(v)) in wanted for v in raw.iloc[row] if not is_missing(v)):
                header_row = row
                break
        else:
            raise DataError(
                f"label sheet {path}: no header row with a {' or '.join(map(repr, names))} "
                "column in its first 50 rows"
            )
    if raw.empty:
        raise DataError(f"label sheet {path} is empty")
    names = [cell_text(v) if not is_missing(v) else f"Unnamed: {i}"
             for i, v in enumerate(raw.iloc[header_row])]
    frame = raw.iloc[header_row + 1:].reset_index(drop=True)
    frame.columns = names
    frame = frame.dropna(how="all").reset_index(drop=True)
    if frame.empty:
        raise DataError(f"label sheet {path} has a header but no rows: no clip would be "
                        "labelled (give the sheet with its rows, or leave --labels out for "
                        "unlabelled data)")
    # Keep the sheet's own row numbers for messages (1-based, header included).
    frame.attrs["first_row"] = header_row + 2
    return frame


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).lower()


def find_column(frame: pd.DataFrame, *names: str) -> str | None:
    """The frame's column matching one of ``names`` (case, spaces, ``_`` and ``-`` ignored)."""
    lookup = {_norm(c): c for c in frame.columns}
    for name in names:
        if _norm(name) in lookup:
            return lookup[_norm(name)]
    return None


def require_columns(frame: pd.DataFrame, source: Path, wanted: dict[str, Sequence[str]]
                    ) -> dict[str, str]:
    """Map each role in ``wanted`` (role -> accepted names) to a column, or raise naming all
    the missing ones and the columns the sheet has."""
    found: dict[str, str] = {}
    missing = []
    for role, names in wanted.items():
        column = find_column(frame, *names)
        if column is None:
            missing.append(" or ".join(repr(n) for n in names))
        else:
            found[role] = column
    if missing:
        raise DataError(
            f"label sheet {source}: missing column(s) {'; '.join(missing)}; its columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    return found


def sheet_row(frame: pd.DataFrame, position: int) -> int:
    """The sheet's row number (as a spreadsheet shows it) of the frame's row ``position``."""
    return int(frame.attrs.get("first_row", 2)) + position


def auto_find(root: Path, patterns: Sequence[str], what: str, *,
              avoid: Sequence[str] = ()) -> Path:
    """The single file in ``root`` matching ``patterns`` (tried in order), or a clear error.

    Files whose lower-cased name contains a word of ``avoid`` (``submission``) are never
    picked: a challenge's sample submission has the labels' columns but no real labels.
    """
    passed_over: set[str] = set()
    for pattern in patterns:
        found = sorted(p for p in root.glob(pattern) if p.is_file() and not p.name.startswith(
            (".", "~$")))
        chosen = [p for p in found if not any(w in p.name.lower() for w in avoid)]
        passed_over.update(p.name for p in found if p not in chosen)
        if len(chosen) == 1:
            return chosen[0]
        if len(chosen) > 1:
            raise DataError(
                f"several {what} candidates in {root}: {', '.join(p.name for p in chosen)}; "
                "name one with --labels"
            )
    skipped = f" (passed over {', '.join(sorted(passed_over))})" if passed_over else ""
    raise DataError(
        f"no {what} found in {root} (looked for {', '.join(patterns)}){skipped}; name it with "
        "--labels"
    )


# --------------------------------------------------------------------------- folders
def resolve_child(parent: Path, name: str) -> Path | None:
    """The entry of ``parent`` called ``name``, tolerating what sheets and folders disagree on:
    letter case, and subject numbers written differently (``1`` vs ``sub01`` vs ``001``).

    The integer match is used only when exactly one entry has the same integers and the same
    letters apart from leading zeros (so ``EP02_01`` never matches ``EP02_01f``).
    """
    exact = parent / name
    if exact.exists():
        return exact
    try:
        entries = [p for p in parent.iterdir() if not p.name.startswith(".")]
    except OSError:
        return None
    lowered = [p for p in entries if p.name.lower() == name.lower()]
    if len(lowered) == 1:
        return lowered[0]
    numbers = integers_in(name)
    if not numbers:
        return None
    letters = re.sub(r"\d+", "", name).lower()
    same = [p for p in entries if integers_in(p.name) == numbers
            and (not letters or re.sub(r"\d+", "", p.name).lower() == letters)]
    return same[0] if len(same) == 1 else None


def resolve_path(root: Path, parts: Iterable[str]) -> Path | None:
    """``root / part1 / part2 ...`` resolved one level at a time with :func:`resolve_child`."""
    path = root
    for part in parts:
        found = resolve_child(path, part)
        if found is None:
            return None
        path = found
    return path


def has_frames(path: Path) -> bool:
    """Whether ``path`` is a usable frame source on the cheap: a folder with images or a video
    file (nothing is decoded)."""
    if path.is_dir():
        return bool(list_image_files(path))
    return path.is_file() and is_video_file(path)


def frame_window(folder: Path, onset: int | None, offset: int | None, label: str
                 ) -> tuple[int | None, int | None, list[str]]:
    """Positions (0-based, inclusive) of the frames numbered ``onset`` and ``offset`` in an
    image folder, and the problems met.

    Label sheets give frame *numbers* (the integer in a file's name), which need not start at 0
    or 1, nor be contiguous. When a number has no file, the window is clamped to the nearest
    frames inside ``[onset, offset]`` and the problem is named.
    """
    problems: list[str] = []
    if not folder.is_dir():
        return None, None, problems
    numbers = [frame_number(p.name) for p in list_image_files(folder)]
    if not numbers or any(n is None for n in numbers):
        problems.append(f"{label}: frame files in {folder} carry no frame numbers; the whole "
                        "folder is used instead of the onset-offset window")
        return None, None, problems
    count = len(numbers)
    position = {n: i for i, n in enumerate(numbers)}
    start = end = None
    if onset is not None:
        start = position.get(onset)
        if start is None:
            later = [i for i, n in enumerate(numbers) if n is not None and n >= onset]
            start = later[0] if later else count - 1
            problems.append(f"{label}: onset frame {onset} has no file in {folder}; window "
                            f"starts at frame {numbers[start]} instead")
    if offset is not None:
        end = position.get(offset)
        if end is None:
            earlier = [i for i, n in enumerate(numbers) if n is not None and n <= offset]
            end = earlier[-1] if earlier else 0
            problems.append(f"{label}: offset frame {offset} has no file in {folder}; window "
                            f"ends at frame {numbers[end]} instead")
    return start, end, problems


# --------------------------------------------------------------------------- action units
_AU_TOKEN = re.compile(r"\d+")


def parse_action_units(text: Any, *, drop_k: bool = False) -> list[int]:
    """Action-unit numbers in a sheet cell: ``"4+7(k)"`` -> [4, 7], ``"AU4 + R12A"`` -> [4, 12],
    ``"L14"`` -> [14]. Side (L/R) and intensity (A-E) letters are dropped.

    ``drop_k`` leaves out the AUs marked ``(k)`` (4DME marks some AUs so; what the mark means is
    not documented with the sheet, so by default they count like the others).
    """
    if is_missing(text):
        return []
    out: list[int] = []
    for token in re.split(r"[+,;/&]|\band\b|\bor\b", cell_text(text)):
        marked = "(k)" in token.lower()
        token = re.sub(r"\(k\)", "", token, flags=re.IGNORECASE)
        if marked and drop_k:
            continue
        for number in _AU_TOKEN.findall(token):
            if int(number) not in out:
                out.append(int(number))
    return sorted(out)


def au_columns(records: Sequence[SequenceRecord]) -> list[str]:
    """Fill every record's ``AU<n>`` extras with 0 where absent, so all rows share the same AU
    columns (sorted by number); returns their names."""
    numbers = sorted({int(k[2:]) for r in records for k in r.extra
                      if k.startswith("AU") and k[2:].isdigit()})
    names = [f"AU{n}" for n in numbers]
    for record in records:
        for name in names:
            record.extra.setdefault(name, 0)
    return names
