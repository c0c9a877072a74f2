"""Expression intervals in long videos: the table that spotting reads, writes and scores.

Spotting works on whole videos, not clips: the truth is a list of intervals (the frames from an
expression's onset to its offset) and a spotter's output is another such list. Both use one
table so that a dataset adapter's truth, a spotter's predictions and the MEGC evaluation agree
on columns and on what a frame number means:

- ``video``: the video's id (as :class:`~mefuse.data.adapters.longvideo.LongVideo` names it);
- ``onset``, ``offset``: 0-based, *inclusive* positions of the first and last frame in the
  video's frame order (an interval ``onset=10, offset=14`` holds 5 frames);
- ``type``: ``ME`` (micro-expression) or ``MaE`` (macro-expression);
- optional ``apex`` (position), ``score`` (a spotter's confidence), ``emotion``.

The type spellings of the datasets (``micro-expression``, ``Micro - 1/2``, ``Macro``) are
read by :func:`expression_type`.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from mefuse.errors import DataError

ME = "ME"
MAE = "MaE"
TYPES: tuple[str, str] = (ME, MAE)
"""The two expression types MEGC scores, in the order results list them."""

REQUIRED = ("video", "onset", "offset", "type")
OPTIONAL = ("apex", "score", "emotion")


def expression_type(value: Any) -> str | None:
    """``ME`` or ``MaE`` for a type cell as datasets and users write it, else None.

    ``ME``/``me``/``micro``/``micro-expression``/``Micro - 1/2`` (SAMM Long Videos) -> ``ME``;
    ``MaE``/``mae``/``macro``/``macro-expression``/``Macro`` -> ``MaE``.
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = re.sub(r"[\s_\-]+", "", str(value)).lower()
    if text in {"me", "micro"} or text.startswith("micro"):
        return ME
    if text in {"mae", "macro"} or text.startswith("macro"):
        return MAE
    return None


def check_intervals(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    """A copy of ``frame`` with the interval columns checked and normalised, or a DataError.

    ``onset``/``offset`` become integers with ``onset <= offset``, ``type`` becomes ``ME`` or
    ``MaE``, ``video`` text. Every bad row is named (up to five) so one run shows them all.
    ``what`` names the table in messages (``"predictions"``, ``"ground truth"``).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what}: expected a table (pandas DataFrame) of intervals, got "
                        f"{type(frame).__name__}")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing and frame.empty:
        # No intervals at all (a spotter that found nothing): nothing to check.
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("onset", "offset") else object)
                             for c in REQUIRED})
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}; an interval table has "
                        f"{', '.join(REQUIRED)} (and optionally {', '.join(OPTIONAL)})")
    out = frame.copy().reset_index(drop=True)
    problems: list[str] = []
    onsets = pd.to_numeric(out["onset"], errors="coerce")
    offsets = pd.to_numeric(out["offset"], errors="coerce")
    types = [expression_type(v) for v in out["type"]]
    for row in range(len(out)):
        onset, offset = onsets.iloc[row], offsets.iloc[row]
        if pd.isna(onset) or pd.isna(offset) or onset != int(onset) or offset != int(offset):
            problems.append(f"row {row}: onset {out['onset'].iloc[row]!r} / offset "
                            f"{out['offset'].iloc[row]!r} are not whole frame positions")
        elif onset < 0 or offset < onset:
            problems.append(f"row {row}: onset {int(onset)} .. offset {int(offset)} is not an "
                            "interval (0 <= onset <= offset)")
        if types[row] is None:
            problems.append(f"row {row}: type {out['type'].iloc[row]!r} is neither ME nor MaE")
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise DataError(f"{what}: " + "; ".join(problems[:5]) + more)
    out["onset"] = onsets.astype("int64")
    out["offset"] = offsets.astype("int64")
    out["type"] = types
    out["video"] = out["video"].astype(str)
    return out


__all__ = ["MAE", "ME", "OPTIONAL", "REQUIRED", "TYPES", "check_intervals", "expression_type"]
