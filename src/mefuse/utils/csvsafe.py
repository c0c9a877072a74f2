"""CSV files a user may open in a spreadsheet: cells that a spreadsheet would run as a formula
are neutralised (CSV injection, OWASP), and mefuse reads them back unchanged.

A text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
apostrophe, which spreadsheets show as text. Numbers (``-0.5``, ``+3``) stay numbers. The escape
is reversible: a text cell that already starts with an apostrophe followed by something that
would be escaped gets one more apostrophe, so :func:`restore_frame` undoes exactly what
:func:`neutralise_frame` did, and every file mefuse writes with :func:`write_csv` and reads
with :func:`read_csv` round-trips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.utils.atomic import atomic_open

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat a cell as a formula."""


def _is_number(text: str) -> bool:
    if text != text.strip():
        return False  # float() ignores the tab or CR that a spreadsheet would not
    try:
        float(text)
    except ValueError:
        return False
    return True


def needs_escape(text: str) -> bool:
    """Whether a text cell would run as a formula (or starts like an escaped one)."""
    if not text:
        return False
    if text[0] == "'":
        return needs_escape(text[1:])
    return text.startswith(FORMULA_STARTS) and not _is_number(text)


def neutralise(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text that a spreadsheet would run."""
    return "'" + value if isinstance(value, str) and needs_escape(value) else value


def restore(value: Any) -> Any:
    """The inverse of :func:`neutralise`."""
    if isinstance(value, str) and value.startswith("'") and needs_escape(value[1:]):
        return value[1:]
    return value


def _holds_text(column: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot run as formulas."""
    out = frame.copy()
    for column in out.columns:
        if _holds_text(out[column]):
            out[column] = out[column].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out


def restore_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` read from a neutralised CSV, with its text cells as they were written."""
    for column in frame.columns:
        if _holds_text(frame[column]):
            frame[column] = frame[column].map(restore)
    frame.columns = [restore(c) for c in frame.columns]
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path, **to_csv: Any) -> Path:
    """Write ``frame`` (no index) atomically as a neutralised CSV; the path written."""
    to_csv.setdefault("index", False)
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        neutralise_frame(frame).to_csv(handle, **to_csv)
    return Path(path)


def read_csv(path: str | Path, **read: Any) -> pd.DataFrame:
    """``pandas.read_csv`` of a file written by :func:`write_csv`, escapes undone."""
    return restore_frame(pd.read_csv(path, **read))
