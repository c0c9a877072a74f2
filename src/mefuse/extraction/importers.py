"""Import coefficients computed by other tools (FaceVerse's run.py, any per-frame exporter) into
the feature store, with provenance.

Layouts of a source folder (one clip each):

- a **folder per clip** holding one file per frame (``.npy`` or ``.csv``), ordered by the first
  integer in each file name (``frame_2.npy`` before ``frame_10.npy``);
- a **file per clip** (``<clip_id>.npy`` of shape ``(frames, dim)``, or ``<clip_id>.csv`` with
  one row per frame).

A per-frame file holds one vector: a 1-D or ``(1, dim)`` array, one CSV row, or a dictionary
(FaceVerse v4's ``run.py --save_results`` writes ``{'coeffs': (1, 621), 'bbox_list': ...}``),
from which ``field`` is taken. Such dictionaries are pickles; they are read by an unpickler that
only builds numpy arrays, so a crafted file cannot run code. Anything else in a pickle is refused
unless the user passes ``trust_pickle=True`` (``--trust-pickle``), which uses ``np.load`` with
``allow_pickle=True``: only do that for files you made yourself.

Layout ``faceverse`` keeps FaceVerse's 171 trained expression values (columns 156:327) of the
621 coefficients; layout ``generic`` keeps all columns unless told otherwise.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mefuse.data.clips import is_safe_id
from mefuse.errors import ConfigError, DataError
from mefuse.store import FeatureStore, check_key
from mefuse.utils.npyfile import as_float32, load_npy, read_header

Layout = Literal["faceverse", "generic"]
SUFFIXES = (".npy", ".csv")
FACEVERSE_EXPRESSION = (156, 327)
FACEVERSE_WIDTH = 621

_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles containers of numpy arrays and nothing else (no functions, no classes)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


@dataclass
class ImportReport:
    """What an import did: clips written, skipped (already present) and failed (with why)."""

    key: str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    dim: int | None = None


def first_integer(name: str) -> tuple[int, int, str]:
    """Sort key: the first integer in ``name``; names without one go last, by name."""
    match = re.search(r"\d+", name)
    return (0, int(match.group()), name) if match else (1, 0, name)


def read_npy(path: Path, *, trust_pickle: bool = False) -> Any:
    """A ``.npy`` file's content: an array, or the object (dict) of a pickled one.

    Object arrays are unpickled by :class:`_NumpyOnlyUnpickler` unless ``trust_pickle``.
    """
    header = read_header(path)
    if not header.dtype.hasobject:
        return load_npy(path)
    with open(path, "rb") as handle:
        if trust_pickle:
            array = np.load(handle, allow_pickle=True)
        else:
            handle.seek(header.offset)
            try:
                array = _NumpyOnlyUnpickler(handle).load()
            except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
                raise DataError(
                    f"{path}: this pickled .npy holds more than numpy arrays ({exc}); if you made "
                    "the file yourself, pass --trust-pickle to load it with allow_pickle=True"
                ) from exc
    return array.item() if isinstance(array, np.ndarray) and array.shape == () else array


def read_csv(path: Path) -> np.ndarray:
    """Rows of numbers; a first line that is not numeric is taken as a header."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    rows = []
    for number, line in enumerate(lines):
        cells = [c.strip() for c in re.split(r"[,;\t ]+", line.strip()) if c.strip()]
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if number == 0:
                continue
            raise DataError(
                f"{path}: line {number + 1} is not all numbers: {line[:80]!r}"
            ) from None
    if not rows:
        raise DataError(f"{path}: no numeric rows")
    if len({len(r) for r in rows}) != 1:
        raise DataError(f"{path}: rows have different numbers of values")
    return np.asarray(rows, dtype=np.float64)


def as_matrix(content: Any, path: Path, field_name: str) -> np.ndarray:
    """File content as a 2-D ``(rows, dim)`` array (a dict gives its ``field_name`` entry)."""
    if isinstance(content, dict):
        if field_name not in content:
            raise DataError(f"{path}: the dictionary has no {field_name!r} entry "
                            f"(it has {', '.join(map(str, content)) or 'nothing'}); "
                            "choose one with --field")
        content = content[field_name]
    array = np.asarray(content)
    if np.issubdtype(array.dtype, np.complexfloating):
        raise DataError(f"{path}: holds complex numbers ({array.dtype}); coefficients must be "
                        "real")
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path}: holds {array.dtype}, not numbers")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise DataError(f"{path}: shape {array.shape}; expected (dim,), (1, dim) or (frames, dim)")
    return array.astype(np.float64, copy=False)


def read_matrix(
    path: Path, *, field_name: str = "coeffs", trust_pickle: bool = False
) -> np.ndarray:
    """One file (``.npy`` or ``.csv``) as a ``(rows, dim)`` array."""
    if path.suffix.lower() == ".csv":
        return read_csv(path)
    return as_matrix(read_npy(path, trust_pickle=trust_pickle), path, field_name)


def read_clip(
    source: Path, *, field_name: str = "coeffs", trust_pickle: bool = False
) -> np.ndarray:
    """A clip's ``(frames, dim)`` coefficients from its folder of per-frame files or its file."""
    if source.is_file():
        return read_matrix(source, field_name=field_name, trust_pickle=trust_pickle)
    files = sorted((p for p in source.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file()),
                   key=lambda p: first_integer(p.name))
    if not files:
        raise DataError(f"{source}: no .npy or .csv frame files")
    rows = []
    for path in files:
        matrix = read_matrix(path, field_name=field_name, trust_pickle=trust_pickle)
        if matrix.shape[0] != 1:
            raise DataError(f"{path}: a per-frame file must hold one vector, not {matrix.shape}")
        rows.append(matrix[0])
    if len({len(r) for r in rows}) != 1:
        raise DataError(f"{source}: frame files have different widths")
    return np.stack(rows)


def find_clips(root: Path) -> dict[str, Path]:
    """Clip id -> source (sub-folder or file) under ``root``; folders and files cannot mix."""
    if not root.is_dir():
        raise DataError(f"import source {root} is not a folder")
    folders = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    files = {p.stem: p for p in root.iterdir()
             if p.is_file() and p.suffix.lower() in SUFFIXES}
    if folders and files:
        raise DataError(
            f"{root} mixes clip folders ({len(folders)}) and clip files ({len(files)}); keep one "
            "layout: a folder of per-frame files per clip, or one file per clip"
        )
    clips = folders or files
    if not clips:
        raise DataError(f"{root} holds no clip folders and no .npy/.csv clip files")
    return dict(sorted(clips.items()))


def parse_columns(text: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"156:327"`` (or a pair) as a half-open column range; ``None`` or ``""`` means all."""
    if text is None or text == "":
        return None
    if isinstance(text, str):
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", text)
        if not match:
            raise ConfigError(f"columns must look like START:STOP (e.g. 156:327), not {text!r}")
        start, stop = int(match.group(1)), int(match.group(2))
    else:
        start, stop = (int(v) for v in text)
    if stop <= start:
        raise ConfigError(f"columns {start}:{stop} select nothing")
    return start, stop


def import_coefficients(
    source: str | Path,
    store: str | Path,
    key: str,
    *,
    layout: Layout = "generic",
    columns: str | Sequence[int] | None = None,
    field_name: str = "coeffs",
    trust_pickle: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Import every clip under ``source`` into ``store`` as extractor ``key``.

    A clip that cannot be read is reported in :attr:`ImportReport.failed` and the others go on;
    clips already in the store under the same configuration are skipped (a rerun resumes).
    """
    if layout not in ("faceverse", "generic"):
        raise ConfigError(f"layout must be 'faceverse' or 'generic', not {layout!r}")
    source = Path(source)
    check_key(key)
    span = parse_columns(columns)
    if layout == "faceverse" and span is None:
        span = FACEVERSE_EXPRESSION
    clips = find_clips(source)
    config = {
        "extractor": f"import:{layout}",
        "params": {"layout": layout, "field": field_name,
                   "columns": list(span) if span else None},
        "weights": None,
        "preprocess": {"imported_from": str(source.resolve())},
    }
    report = ImportReport(key)
    with FeatureStore(store).writer(key, config, overwrite=overwrite) as writer:
        for clip_id, path in clips.items():
            if writer.has(clip_id):
                report.skipped.append(clip_id)
                continue
            if not is_safe_id(clip_id):
                report.failed[clip_id] = (
                    f"{path}: {clip_id!r} cannot be a clip id (use ASCII letters, digits, '.', "
                    "'_' and '-', not starting with '.' or '-'); rename it")
                if progress:
                    progress(f"failed {clip_id}: {report.failed[clip_id]}")
                continue
            try:
                matrix = read_clip(path, field_name=field_name, trust_pickle=trust_pickle)
                if layout == "faceverse" and matrix.shape[1] != FACEVERSE_WIDTH:
                    raise DataError(f"{path}: {matrix.shape[1]} coefficients per frame; FaceVerse "
                                    f"v4 writes {FACEVERSE_WIDTH} (use --layout generic)")
                if span is not None:
                    if span[1] > matrix.shape[1]:
                        raise DataError(f"{path}: columns {span[0]}:{span[1]} asked for, but it "
                                        f"has {matrix.shape[1]} values per frame")
                    matrix = matrix[:, span[0]:span[1]]
                writer.write(clip_id, as_float32(matrix, str(path)))
            except DataError as exc:
                report.failed[clip_id] = str(exc)
                if progress:
                    progress(f"failed {clip_id}: {exc}")
                continue
            report.written.append(clip_id)
            report.dim = int(matrix.shape[1])
            if progress:
                progress(f"imported {clip_id} {matrix.shape}")
    return report
