"""The clip table: one row per clip, the hub that joins labels, subjects, views and features.

A clip is one view of one sequence (for the 4DMR data, the left or the right half of the
side-by-side frames). Columns:

- ``clip_id``: unique, also the feature file's stem in the feature store;
- ``sequence_id``: shared by the views of one sequence (sequence-level scores merge them);
- ``view``: for example ``left``, ``right`` or ``full``;
- ``subject``: who is filmed (subject-disjoint protocols group on it);
- one 0/1 column per class, in the order the user gives (4DMR's by default);
- any other columns (``source``, ``onset``, ``apex``, ``offset``, action units ...) are kept.

Class columns may be empty for unlabelled (test) clips.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mefuse import FOURDMR_CLASSES
from mefuse.errors import DataError
from mefuse.utils.csvsafe import read_csv, write_csv
from mefuse.utils.paths import existing_file

REQUIRED_COLUMNS: tuple[str, ...] = ("clip_id", "sequence_id", "view", "subject")


def read_clip_csv(path: str | Path) -> pd.DataFrame:
    """A clip table's CSV as a frame (identifiers as strings), or a :class:`DataError` naming
    the file: missing, a folder, empty, not UTF-8 or not CSV."""
    path = existing_file(path, "clip table", kind="CSV file")
    try:
        return read_csv(path, dtype={c: str for c in REQUIRED_COLUMNS}, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"clip table {path} cannot be read as CSV: {exc}") from exc


@dataclass(frozen=True)
class ClipTable:
    """A validated clip table.

    Build one with :meth:`from_frame` or :meth:`read`; both check the columns, the identifiers
    and the labels, and say which row or column is wrong.
    """

    frame: pd.DataFrame
    classes: tuple[str, ...]
    task: str | None = None
    """``multilabel`` or ``singlelabel`` when the table's source knows it (a dataset adapter
    does; a CSV does not): extraction records it in the store (:mod:`mefuse.store.task`)."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, classes: Sequence[str] | None = None, *, source: str = "table"
    ) -> ClipTable:
        """Validate ``frame`` and wrap it.

        ``classes`` names the label columns in order; by default the 4DMR classes. A class
        named here that the table lacks is an error (a typo would otherwise train on nothing).
        """
        frame = frame.copy()
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(
                f"{source}: missing column(s) {', '.join(missing)}; a clip table needs "
                f"{', '.join(REQUIRED_COLUMNS)} and one 0/1 column per class"
            )
        classes = tuple(classes) if classes is not None else FOURDMR_CLASSES
        if len(set(classes)) != len(classes) or not classes:
            raise DataError(f"{source}: class names must be unique and non-empty, got {classes}")
        for column in REQUIRED_COLUMNS:
            if frame[column].isna().any():
                row = int(np.flatnonzero(frame[column].isna().to_numpy())[0])
                raise DataError(f"{source}: empty {column!r} in row {row + 2}")
            frame[column] = frame[column].astype(str)
        duplicated = frame["clip_id"][frame["clip_id"].duplicated()]
        if len(duplicated):
            raise DataError(f"{source}: clip_id {duplicated.iloc[0]!r} appears more than once")
        bad_ids = [c for c in frame["clip_id"] if not is_safe_id(c)]
        if bad_ids:
            raise DataError(
                f"{source}: clip_id {bad_ids[0]!r} cannot name a file (use ASCII letters, digits, "
                "'.', '_' and '-' only, not starting with '.' or '-')"
            )
        unknown = [c for c in classes if c not in frame.columns]
        if unknown:
            raise DataError(
                f"{source}: unknown class column(s) {', '.join(map(repr, unknown))}; "
                f"the table's columns are {', '.join(map(str, frame.columns))}"
            )
        for name in classes:
            values = pd.to_numeric(frame[name], errors="coerce")
            bad = frame[name].notna() & (values.isna() | ~values.isin([0, 1]))
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DataError(
                    f"{source}: class column {name!r} must hold 0 or 1 (or be empty for "
                    f"unlabelled clips); clip {frame['clip_id'].iloc[row]!r} has "
                    f"{str(frame[name].iloc[row])!r}"
                )
            frame[name] = values
        partial = frame[list(classes)].isna().any(axis=1) & frame[list(classes)].notna().any(axis=1)
        if partial.any():
            clip = frame["clip_id"][partial].iloc[0]
            raise DataError(f"{source}: clip {clip!r} has some class columns empty and others not")
        for sequence, rows in frame.groupby("sequence_id"):
            if rows["subject"].nunique() > 1:
                raise DataError(f"{source}: sequence {sequence!r} has clips of several subjects")
        return cls(frame.reset_index(drop=True), classes)

    @classmethod
    def for_prediction(cls, frame: pd.DataFrame, classes: Sequence[str], *, source: str
                       ) -> ClipTable:
        """Clips to predict: the class columns the table lacks are added empty (test clips
        carry no labels), then validated as :meth:`from_frame` does."""
        frame = frame.copy()
        for name in classes:
            if name not in frame.columns:
                frame[name] = np.nan
        return cls.from_frame(frame, classes, source=source)

    @classmethod
    def read(cls, path: str | Path, classes: Sequence[str] | None = None, *,
             unlabelled: bool = False) -> ClipTable:
        """Read ``clips.csv`` (identifiers are kept as strings, never parsed as numbers).

        ``unlabelled``: a table without any of the (default) class columns is read as
        unlabelled clips, its class columns added empty (for work that needs no labels, such
        as extraction); a table with some of them is checked as usual.
        """
        path = Path(path)
        frame = read_clip_csv(path)
        names = tuple(classes) if classes is not None else FOURDMR_CLASSES
        if unlabelled and not any(name in frame.columns for name in names):
            return cls.for_prediction(frame, names, source=str(path))
        return cls.from_frame(frame, classes, source=str(path))

    def write(self, path: str | Path) -> None:
        """Write the table as CSV, atomically; labels as integers, empty when unlabelled;
        text cells that a spreadsheet would run as formulas are escaped (:meth:`read` undoes
        it, see :mod:`mefuse.utils.csvsafe`)."""
        write_csv(self.rendered(), path)

    def rendered(self) -> pd.DataFrame:
        """The table as written: labels as nullable integers."""
        out = self.frame.copy()
        for name in self.classes:
            out[name] = out[name].astype("Int64")
        return out

    # ------------------------------------------------------------------ accessors
    def __len__(self) -> int:
        return len(self.frame)

    @property
    def clip_ids(self) -> list[str]:
        return self.frame["clip_id"].tolist()

    @property
    def labelled(self) -> np.ndarray:
        """Boolean mask of clips whose class columns are filled."""
        return self.frame[list(self.classes)].notna().all(axis=1).to_numpy()

    @property
    def labels(self) -> np.ndarray:
        """(clips, classes) 0/1 integer matrix; raises if any clip is unlabelled."""
        if not self.labelled.all():
            clip = self.frame["clip_id"][~self.labelled].iloc[0]
            raise DataError(f"clip {clip!r} has no labels; select labelled clips first")
        return self.frame[list(self.classes)].to_numpy(dtype=np.int64)

    def subset(self, mask: np.ndarray | Sequence[bool]) -> ClipTable:
        """The clips where ``mask`` is true, in their order."""
        return ClipTable(self.frame[np.asarray(mask, dtype=bool)].reset_index(drop=True),
                         self.classes, self.task)

    def sequences(self) -> pd.DataFrame:
        """One row per sequence: ``sequence_id``, ``subject`` and (when labelled) the per-class
        OR of its views' labels, in order of first appearance."""
        columns = ["sequence_id", "subject", *self.classes]
        grouped = self.frame[columns].groupby("sequence_id", sort=False)
        return grouped.agg({"subject": "first", **{c: "max" for c in self.classes}}).reset_index()


SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
"""A clip id, extractor key or other name that becomes a file name: ASCII letters, digits,
``.``, ``_`` and ``-``, not starting with ``.`` (hidden, or ``..``) nor ``-`` (read as an option
by shell tools), so it can never escape its folder."""


def is_safe_id(value: str) -> bool:
    """Whether ``value`` matches :data:`SAFE_ID`."""
    return isinstance(value, str) and SAFE_ID.fullmatch(value) is not None

