"""The feature store: per-clip ``(frames, dim)`` float32 arrays with provenance.

Layout (also the import format for features computed by any other tool)::

    <store>/<extractor_key>/<clip_id>.npy     float32 array (frames, dim)
    <store>/<extractor_key>/manifest.json     extractor, parameters, weights, preprocessing,
                                              mefuse version, dim, per-clip frame counts

Writes are atomic (temporary file + rename). A writer opened on an existing extractor folder
compares the configuration it would write with the manifest's and refuses a different one unless
told to overwrite, so that one store never mixes features of two configurations. Several
processes may write one extractor folder at once (sharded extraction): manifest updates merge
under a file lock, and the ``.npy`` files are the truth that a manifest is reconciled against.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mefuse import __version__
from mefuse.errors import DataError, StoreConfigMismatch
from mefuse.utils.atomic import write_json, write_npy

MANIFEST = "manifest.json"
CONFIG_FIELDS: tuple[str, ...] = ("extractor", "params", "weights", "preprocess")
"""Manifest fields that define a configuration; a writer refuses to mix two of them."""


@dataclass(frozen=True)
class ExtractorInfo:
    """What a manifest says of one extractor folder."""

    key: str
    path: Path
    manifest: dict[str, Any]

    @property
    def dim(self) -> int | None:
        return self.manifest.get("dim")

    @property
    def frame_counts(self) -> dict[str, int]:
        return dict(self.manifest.get("clips", {}))


class FeatureStore:
    """Read and write side of a feature store rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ------------------------------------------------------------------ read side
    def extractor_keys(self) -> list[str]:
        """Extractor folders present (those with a manifest or at least one ``.npy`` file)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and ((p / MANIFEST).is_file() or any(p.glob("*.npy")))
        )

    def info(self, key: str) -> ExtractorInfo:
        """The manifest of one extractor; a folder of bare ``.npy`` files (imported features)
        gets a manifest built from the files."""
        folder = self._folder(key)
        manifest_path = folder / MANIFEST
        if manifest_path.is_file():
            try:
                manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataError(f"{manifest_path} is not valid JSON: {exc}") from exc
        else:
            manifest = {"extractor": key, "params": {}, "weights": None, "preprocess": None,
                        "clips": {}}
        return ExtractorInfo(key, folder, manifest)

    def clip_ids(self, key: str) -> list[str]:
        """Clips with a feature file for ``key``."""
        return sorted(p.stem for p in self._folder(key).glob("*.npy"))

    def load(
        self, key: str, clip_ids: Sequence[str], expect_dim: tuple[int, str] | None = None
    ) -> list[np.ndarray]:
        """Load and validate the features of ``clip_ids`` for one extractor.

        Raises :class:`DataError` naming the clip for a missing file, a file that is not a 2-D
        float array, NaN or Inf values, or widths that differ between clips. ``expect_dim``
        (width, clip that had it) continues the width check across calls.
        """
        folder = self._folder(key)
        arrays: list[np.ndarray] = []
        width: tuple[int, str] | None = expect_dim
        missing = [c for c in clip_ids if not (folder / f"{c}.npy").is_file()]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DataError(
                f"feature store {self.root}: extractor {key!r} has no file for clip(s) "
                f"{', '.join(missing[:3])}{more} (expected {folder}/<clip_id>.npy)"
            )
        for clip in clip_ids:
            path = folder / f"{clip}.npy"
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise DataError(f"{path}: cannot be read as a .npy array ({exc})") from exc
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
                raise DataError(
                    f"{path}: clip {clip!r} has shape {array.shape}; expected (frames, dim)"
                )
            if not np.issubdtype(array.dtype, np.number):
                raise DataError(f"{path}: clip {clip!r} holds {array.dtype}, not numbers")
            array = array.astype(np.float32, copy=False)
            if not np.isfinite(array).all():
                bad = np.argwhere(~np.isfinite(array))[0]
                raise DataError(
                    f"{path}: clip {clip!r} has NaN or Inf values (first at frame {bad[0]}, "
                    f"feature {bad[1]})"
                )
            if width is None:
                width = (array.shape[1], clip)
            elif array.shape[1] != width[0]:
                raise DataError(
                    f"extractor {key!r}: clip {clip!r} has {array.shape[1]} features per frame "
                    f"but clip {width[1]!r} has {width[0]}; one extractor must have one width"
                )
            arrays.append(array)
        return arrays

    def _folder(self, key: str) -> Path:
        folder = self.root / key
        if not folder.is_dir():
            available = ", ".join(self.extractor_keys()) or "none"
            if not self.root.is_dir():
                raise DataError(f"feature store {self.root} does not exist")
            raise DataError(
                f"feature store {self.root} has no extractor {key!r} (available: {available})"
            )
        return folder

    # ------------------------------------------------------------------ write side
    def writer(
        self, key: str, config: Mapping[str, Any], *, overwrite: bool = False
    ) -> StoreWriter:
        """Open ``key`` for writing features made with ``config``.

        ``config`` holds the manifest's configuration fields (:data:`CONFIG_FIELDS`). If the
        folder already holds features of another configuration, :class:`StoreConfigMismatch`
        is raised unless ``overwrite`` is true, in which case the old features are removed.
        """
        return StoreWriter(self.root / key, key, dict(config), overwrite=overwrite)


class StoreWriter:
    """Writes one extractor's clips; use as a context manager so the manifest is flushed."""

    def __init__(
        self, folder: Path, key: str, config: dict[str, Any], *, overwrite: bool
    ) -> None:
        self.folder = folder
        self.key = key
        self.config = {"extractor": key, **{f: config.get(f) for f in CONFIG_FIELDS[1:]}}
        if "extractor" in config:
            self.config["extractor"] = config["extractor"]
        self._pending: dict[str, int] = {}
        self._dim: int | None = None
        self._last_flush = time.monotonic()
        folder.mkdir(parents=True, exist_ok=True)
        with self._locked():
            existing = self._read_manifest()
            if existing is not None and _config_of(existing) != _normalise(self.config):
                if not overwrite:
                    raise StoreConfigMismatch(
                        f"{folder} holds features made with another configuration:\n"
                        f"{_describe_difference(_config_of(existing), _normalise(self.config))}\n"
                        "Use another store or extractor key, or pass --overwrite to replace them."
                    )
                for path in folder.glob("*.npy"):
                    path.unlink()
                existing = None
            if existing is None:
                manifest = {**_normalise(self.config), "mefuse_version": __version__,
                            "dim": None, "clips": {}}
                write_json(folder / MANIFEST, manifest)
            else:
                self._dim = existing.get("dim")
        self.done: set[str] = self._reconcile()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def has(self, clip_id: str) -> bool:
        """True when ``clip_id`` was already written under this configuration."""
        return clip_id in self.done

    def write(self, clip_id: str, features: np.ndarray) -> None:
        """Write one clip's ``(frames, dim)`` features atomically."""
        array = np.asarray(features, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] < 1:
            raise DataError(f"clip {clip_id!r}: features must be (frames, dim), got {array.shape}")
        if not np.isfinite(array).all():
            raise DataError(f"clip {clip_id!r}: extractor {self.key!r} produced NaN or Inf")
        if self._dim is None:
            self._dim = int(array.shape[1])
        elif array.shape[1] != self._dim:
            raise DataError(
                f"clip {clip_id!r}: {array.shape[1]} features per frame, but this store's "
                f"{self.key!r} features have {self._dim}"
            )
        write_npy(self.folder / f"{clip_id}.npy", array)
        self.done.add(clip_id)
        self._pending[clip_id] = int(array.shape[0])
        if len(self._pending) >= 64 or time.monotonic() - self._last_flush > 5.0:
            self.flush()

    def flush(self) -> None:
        """Merge the frame counts written so far into the manifest, under the folder lock."""
        if not self._pending:
            return
        with self._locked():
            manifest = self._read_manifest() or {**_normalise(self.config), "clips": {}}
            manifest["clips"].update(self._pending)
            manifest["clips"] = dict(sorted(manifest["clips"].items()))
            manifest["dim"] = self._dim
            manifest["mefuse_version"] = __version__
            write_json(self.folder / MANIFEST, manifest)
        self._pending.clear()
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ helpers
    def _reconcile(self) -> set[str]:
        """Clips whose ``.npy`` exists; counts missing from the manifest are read from headers
        (a previous run may have been killed between a file write and a manifest flush)."""
        manifest = self._read_manifest() or {}
        counts = manifest.get("clips", {})
        present = {p.stem for p in self.folder.glob("*.npy")}
        for clip in sorted(present - set(counts)):
            shape = np.load(self.folder / f"{clip}.npy", mmap_mode="r").shape
            self._pending[clip] = int(shape[0])
            if self._dim is None and len(shape) == 2:
                self._dim = int(shape[1])
        stale = set(counts) - present
        if self._pending or stale:
            with self._locked():
                manifest = self._read_manifest() or {**_normalise(self.config), "clips": {}}
                for clip in stale:
                    manifest["clips"].pop(clip, None)
                manifest["clips"].update(self._pending)
                manifest["clips"] = dict(sorted(manifest["clips"].items()))
                manifest["dim"] = self._dim
                write_json(self.folder / MANIFEST, manifest)
            self._pending.clear()
        return present

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def remove_extractor(root: str | Path, key: str) -> None:
    """Delete one extractor folder of a store."""
    shutil.rmtree(Path(root) / key, ignore_errors=True)


def _normalise(config: Mapping[str, Any]) -> dict[str, Any]:
    """JSON round trip, so tuples and lists (and numpy scalars) compare equal to their JSON."""
    from mefuse.utils.atomic import _json_default

    return json.loads(json.dumps({f: config.get(f) for f in CONFIG_FIELDS},
                                 default=_json_default))


def _config_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return _normalise(manifest)


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    lines = []
    for field in CONFIG_FIELDS:
        if old.get(field) != new.get(field):
            lines.append(
                f"  {field}: store has {old.get(field)!r}, this run uses {new.get(field)!r}"
            )
    return "\n".join(lines)

