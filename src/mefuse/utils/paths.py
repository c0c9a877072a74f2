"""The one check every reader of a user-named file starts with: it exists and is a file.

Said once here so that every verb names the path and its role the same way ("model file X is
a folder, not a file ..."), instead of each reader spelling its own pair of checks.
"""

from __future__ import annotations

from pathlib import Path

from mefuse.errors import DataError


def existing_file(path: str | Path, what: str, *, kind: str = "file", hint: str = "") -> Path:
    """``path`` as a :class:`~pathlib.Path` once it is known to be a file; otherwise a
    :class:`DataError`: "``what`` X is a folder, not a ``kind``\\ ``hint``" or "``what`` X does
    not exist". ``hint`` (with its leading space) says which file to give instead."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{what} {path} is a folder, not a {kind}{hint}")
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist")
    return path
