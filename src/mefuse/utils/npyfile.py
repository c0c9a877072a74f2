"""Checked reading of ``.npy`` files that hold plain numbers.

``np.load`` trusts a file's header: a zero-byte or truncated file raises ``EOFError`` or a bare
``ValueError`` that does not name the file, and a header that claims a huge shape makes numpy try
to allocate it (``MemoryError``) before it notices the data is not there. Feature stores are
written by many processes and copied between machines, so every feature file mefuse reads goes
through :func:`inspect_npy` first: the header is parsed, the data type must be a real number
type (complex values would lose their imaginary part silently), and the file's size must match
what the header announces. Only then is the array read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mefuse.errors import DataError


@dataclass(frozen=True)
class NpyHeader:
    """What a ``.npy`` header says."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int
    """Where the data starts, in bytes."""


def read_header(path: str | Path) -> NpyHeader:
    """Parse the header of ``path``; :class:`DataError` naming the file if it is not ``.npy``."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
            else:  # pragma: no cover - read_magic refuses unknown versions itself
                raise ValueError(f"unknown .npy format version {version}")
            offset = handle.tell()
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        size = _size(path)
        what = "the file is empty (0 bytes)" if size == 0 else f"not a valid .npy file ({exc})"
        raise DataError(f"{path}: cannot be read as a .npy array: {what}") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return NpyHeader(tuple(int(s) for s in shape), dtype, bool(fortran), offset)


def inspect_npy(path: str | Path) -> NpyHeader:
    """The header of a ``.npy`` file of real numbers whose size matches its header.

    Raises :class:`DataError` naming the file for an empty, truncated or padded file, a header
    that does not parse, and a data type that is not a real number (objects, strings,
    complex, booleans).
    """
    path = Path(path)
    header = read_header(path)
    dtype = header.dtype
    if dtype.hasobject:
        raise DataError(f"{path}: holds Python objects (a pickle), not numbers")
    if np.issubdtype(dtype, np.complexfloating):
        raise DataError(f"{path}: holds complex numbers ({dtype}); features must be real "
                        "(take the real part, magnitude or both yourself)")
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise DataError(f"{path}: holds {dtype}, not numbers")
    expected = int(np.prod(header.shape, dtype=np.float64)) * dtype.itemsize
    actual = _size(path) - header.offset
    if actual != expected:
        state = "truncated" if actual < expected else "longer than its header says"
        raise DataError(f"{path}: {state}: the header announces shape {header.shape} of "
                        f"{dtype} ({expected} bytes of data) but the file holds {actual}")
    return header


def load_npy(path: str | Path) -> np.ndarray:
    """:func:`inspect_npy`, then the array (never a pickle)."""
    inspect_npy(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:  # changed on disk between the two reads
        raise DataError(f"{path}: cannot be read as a .npy array ({exc})") from None


FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_float32(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as float32, or a :class:`DataError` that starts with ``what`` and says where
    the first value that float32 cannot hold is.

    NaN and Inf are refused as such; a finite value beyond float32's range (a float64 1e300)
    is refused as out of range: cast, it would become Inf, and numpy would print an overflow
    warning beside an error that wrongly blamed NaN or Inf in the file. Checked before the
    cast, so nothing is printed.
    """
    if array.dtype == np.float32:
        finite = np.isfinite(array)
        if not finite.all():
            raise DataError(f"{what} has NaN or Inf values ({_first(~finite)})")
        return array
    if not np.issubdtype(array.dtype, np.floating):
        wide = np.asarray(array, dtype=np.float64)  # integers: float64 holds their magnitude
    else:
        wide = array
    finite = np.isfinite(wide)
    if not finite.all():
        raise DataError(f"{what} has NaN or Inf values ({_first(~finite)})")
    outside = np.abs(wide) > FLOAT32_MAX
    if outside.any():
        first = tuple(int(i) for i in np.argwhere(outside)[0])
        raise DataError(f"{what} has values out of float32 range ({_first(outside)}: "
                        f"{float(wide[first]):g}; float32 holds magnitudes up to "
                        f"{FLOAT32_MAX:.3g})")
    return array.astype(np.float32, copy=False)


def _first(mask: np.ndarray) -> str:
    """Where the first true entry of ``mask`` is: "first at frame F, feature D" for a clip's
    ``(frames, dim)`` array, its index otherwise."""
    first = [int(i) for i in np.argwhere(mask)[0]]
    if len(first) == 2:
        return f"first at frame {first[0]}, feature {first[1]}"
    return f"first at index {tuple(first) if len(first) != 1 else first[0]}"


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0
