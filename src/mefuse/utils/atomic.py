"""Atomic file writes: a reader never sees a half-written file, even after a crash.

Each writer puts its bytes in a temporary file in the destination's own folder (same file
system, so :func:`os.replace` is an atomic rename) and renames it over the destination.

A process killed between the write and the rename leaves its temporary ``.<name>.<random>.tmp``
behind. Each writer holds an exclusive ``flock`` on its temporary file while it writes (the kernel
drops it when the process dies), so :func:`remove_stale_temporaries` can tell a dead writer's
leftover from a live one's work in progress, even with several processes on one folder.

A write that the operating system refuses (read-only folder, no permission, disk full) raises
:class:`~mefuse.errors.StorageError` naming the destination and the cause; the destination is
left as it was.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from mefuse.errors import StorageError

STALE_AFTER_S = 10.0
"""A temporary file younger than this is never removed: its writer may not hold its lock yet."""
_TEMPORARY = re.compile(r"\..+\.[^.]+\.tmp")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing and rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise storage_error(path, exc) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process dies
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            # mkstemp creates the file readable by its owner only; give it the permissions a
            # plain open() would have, so shared stores and served reports stay readable.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise storage_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block: writers of a
    shared file (a store's clips.csv, quality.csv, manifests) take turns, across processes;
    the kernel releases the lock if the holder dies."""
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_dirs(folder: str | Path) -> Path:
    """``mkdir -p``, with :class:`StorageError` (path and cause) when the system refuses."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(folder, exc) from None
    return folder


def storage_error(path: str | Path, exc: OSError) -> StorageError:
    """One line that names ``path`` and why the operating system refused to write it.

    numpy reports a short write on a full disk as ``"4800 requested and 2016 written"`` with no
    error number; that is said in words too.
    """
    if exc.errno is not None:
        cause = os.strerror(exc.errno)
        if exc.errno == errno.ENOSPC:
            cause += " (the disk is full; free space and run the same command again)"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            cause += " (choose a folder you can write to)"
    else:
        match = re.search(r"(\d+) requested and (\d+) written", str(exc))
        cause = (f"only {match.group(2)} of {match.group(1)} bytes could be written (the disk "
                 "is probably full; free space and run the same command again)"
                 if match else str(exc))
    return StorageError(f"cannot write {path}: {cause}")


def remove_stale_temporaries(folder: str | Path, *, min_age_s: float = STALE_AFTER_S
                             ) -> list[Path]:
    """Remove the ``.<name>.<random>.tmp`` files of writers that died in ``folder``.

    A file is stale when no process holds its lock and it is older than ``min_age_s`` (a
    writer takes the lock right after creating the file). Returns the files removed.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        if not _TEMPORARY.fullmatch(path.name):
            continue
        try:
            if not path.is_file() or now - path.stat().st_mtime < min_age_s:
                continue
            with open(path, "rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer
                path.unlink()
                removed.append(path)
        except (FileNotFoundError, PermissionError):
            continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=_json_default)
        handle.write("\n")


def write_npy(path: str | Path, array: np.ndarray) -> None:
    """Write one array in ``.npy`` format, atomically."""
    with atomic_open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def write_text(path: str | Path, text: str) -> None:
    """Write a text file, atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
