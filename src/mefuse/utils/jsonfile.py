"""Checked reading of the JSON files mefuse writes and reads back (run results, bench plans).

``json.loads(path.read_text())`` answers a file that is empty, cut short, not UTF-8 or a folder
with a traceback that does not name the file. Such files are common enough (a copy interrupted,
a file edited by hand, a disk that filled up): :func:`read_json_object` names the file and
what is wrong with it, in one :class:`~mefuse.errors.DataError`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mefuse.errors import DataError


def read_json_object(path: str | Path, what: str, hint: str = "") -> dict[str, Any]:
    """The JSON object in ``path``, or a :class:`DataError` naming the file and the problem.

    ``what`` names the file's role in the message (``"cv results"``); ``hint`` says how to
    get a good file again (``"run 'mefuse cv' again"``).
    """
    path = Path(path)
    advice = f"; {hint}" if hint else ""
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a {what} file{advice}")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path} does not exist{advice}") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc}){advice}") from None
    if not raw.strip():
        raise DataError(f"{path} is empty: not a {what} file{advice}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not a {what} file: byte {exc.object[exc.start]:#04x} at "
                        f"offset {exc.start} is not UTF-8 text{advice}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                        f"{exc.msg}){advice}") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a JSON {_json_type(data)}, not the object of a "
                        f"{what} file{advice}")
    return data


def _json_type(value: Any) -> str:
    """JSON's own name for a decoded value's type (``array``, not Python's ``list``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {list: "array", str: "string", int: "number", float: "number"}
    return names.get(type(value), type(value).__name__)
