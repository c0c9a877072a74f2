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

Every feature file is read through :func:`mefuse.utils.npyfile.inspect_npy`, so an empty,
truncated, complex-valued or oversized-header file is an error that names it; a writer treats
such a file as not done (it is removed and the clip extracted again). A writer also removes the
temporary files that killed writers left in its folders (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mefuse import __version__
from mefuse.data.clips import is_safe_id
from mefuse.errors import DataError, StoreConfigMismatch
from mefuse.store import layout
from mefuse.store.layout import LOCK, MANIFEST
from mefuse.utils.atomic import (
    exclusive_lock,
    remove_stale_temporaries,
    storage_error,
    write_json,
    write_npy,
)
from mefuse.utils.jsonfile import read_json_object
from mefuse.utils.npyfile import as_float32, inspect_npy, load_npy

if TYPE_CHECKING:
    from mefuse.data.clips import ClipTable
    from mefuse.store.loading import ModalityData

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

class FeatureStore:
    """Read and write side of a feature store rooted at ``root``.

    The doors (CLI verbs, :mod:`mefuse.api`) turn a path into a store once, with :meth:`open`
    (reading) or :meth:`create` (writing); everything below them takes the store. The store's
    own file names live in :mod:`mefuse.store.layout` and are offered here as paths.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @classmethod
    def open(cls, root: str | Path | FeatureStore) -> FeatureStore:
        """The existing store at ``root``; :class:`DataError` when it is missing or a file."""
        store = root if isinstance(root, FeatureStore) else cls(root)
        return store.require()

    @classmethod
    def create(cls, root: str | Path) -> FeatureStore:
        """The store at ``root``, its folder made if needed (for writers)."""
        store = cls(root)
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise storage_error(store.root, exc) from None
        return store

    def require(self) -> FeatureStore:
        """This store, after checking that its folder exists (the first read does it, so that a
        door can open a store before the errors of its other arguments are reported)."""
        if not self.root.is_dir():
            if self.root.exists():
                raise DataError(f"feature store {self.root} is a file, not a folder")
            raise DataError(f"feature store {self.root} does not exist")
        return self

    # ------------------------------------------------------------------ own files
    @property
    def clips_path(self) -> Path:
        return self.root / layout.CLIPS

    @property
    def failures_path(self) -> Path:
        return self.root / layout.FAILURES

    @property
    def quality_path(self) -> Path:
        return self.root / layout.QUALITY

    @property
    def task_path(self) -> Path:
        return self.root / layout.TASK_RECORD

    @property
    def extract_record_path(self) -> Path:
        return self.root / layout.EXTRACT_RECORD

    @property
    def lock_path(self) -> Path:
        return self.root / layout.LOCK

    @property
    def own_files(self) -> tuple[str, ...]:
        """Files of the root that are the store's own (never another verb's output)."""
        return layout.OWN_FILES

    # ------------------------------------------------------------------ door
    def clips(self, clips: str | Path | None = None, classes: Sequence[str] | None = None,
              *, hint: bool = True) -> ClipTable:
        """The clip table ``clips``, or the store's own ``clips.csv``. ``hint``: a store
        without a task record whose table lacks the default classes gets a hint at
        ``--classes`` (the command line's words)."""
        from mefuse.data.clips import ClipTable
        from mefuse.store.task import no_record_hint, read_task_record

        if not clips:
            self.require()  # "feature store X does not exist", not "X/clips.csv does not exist"
        path = Path(clips) if clips else self.clips_path
        try:
            return ClipTable.read(path, classes)
        except DataError as exc:
            if (hint and classes is None and "unknown class column" in str(exc)
                    and read_task_record(self.root) is None):
                raise DataError(f"{exc}. {no_record_hint(self.root)}") from None
            raise

    def resolve(self, modalities: Sequence[str]) -> tuple[list[str], list[str]]:
        """``modalities`` as this store's extractor keys, and one note per name that was
        resolved to a longer key (:func:`mefuse.store.modalities.resolve_modalities`)."""
        from mefuse.store.modalities import resolve_modalities

        return resolve_modalities(modalities, self.extractor_keys())

    def load_modalities(self, clip_ids: Sequence[str], modalities: Sequence[str],
                        frames: int, sampling: str = "uniform") -> ModalityData:
        """``modalities`` of ``clip_ids``, each clip resampled to ``frames`` (``sampling``:
        ``uniform``, the paper's, or ``apex``), stacked per modality
        (:func:`mefuse.store.loading.load_modalities`)."""
        from mefuse.store.loading import load_modalities

        return load_modalities(self, clip_ids, modalities, frames, sampling)

    def apex_rows(self, clip_ids: Sequence[str]) -> dict[str, int]:
        """Each clip's apex as a row of its stored feature arrays (``apex_row`` of the quality
        table); a :class:`DataError` names the clips without one
        (:func:`mefuse.store.apex.read_apex_rows`)."""
        from mefuse.store.apex import read_apex_rows

        return read_apex_rows(self.root, clip_ids)

    # ------------------------------------------------------------------ read side
    def extractor_keys(self) -> list[str]:
        """Extractor folders present (those with a manifest or at least one ``.npy`` file)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if p.is_dir() and ((p / MANIFEST).exists() or any(p.glob("*.npy")))
        )

    def info(self, key: str) -> ExtractorInfo:
        """The manifest of one extractor; a folder of bare ``.npy`` files (imported features)
        gets a manifest built from the files."""
        folder = self._folder(key)
        manifest_path = folder / MANIFEST
        if manifest_path.exists():  # a folder or a damaged file there is refused, not skipped
            manifest = read_manifest(manifest_path)
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
            array = load_npy(path)
            if array.ndim == 1:
                array = array[None, :]
            if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
                raise DataError(
                    f"{path}: clip {clip!r} has shape {array.shape}; expected (frames, dim)"
                )
            if not np.issubdtype(array.dtype, np.number):
                raise DataError(f"{path}: clip {clip!r} holds {array.dtype}, not numbers")
            array = as_float32(array, f"{path}: clip {clip!r}")
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
            self.require()
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
        ``key`` becomes a folder name, so it must be a plain name (:func:`check_key`).
        """
        check_key(key)
        remove_stale_temporaries(self.root)
        return StoreWriter(self.root / key, key, dict(config), overwrite=overwrite)


def check_key(key: str) -> str:
    """An extractor key names a folder of the store: a plain name, never a path."""
    if not is_safe_id(key):
        raise DataError(f"extractor key {key!r} cannot name a store folder (use ASCII letters, "
                        "digits, '.', '_' and '-', not starting with '.' or '-', no '/')")
    return key


def read_manifest(path: Path) -> dict[str, Any]:
    """A ``manifest.json`` as a dict, or :class:`DataError` naming the file (also when it is
    a folder, empty or not UTF-8)."""
    manifest = read_json_object(path, "feature-store manifest")
    if not isinstance(manifest.get("clips", {}), dict):
        raise DataError(f"{path} is not a feature-store manifest (expected a JSON object with "
                        "a 'clips' object)")
    return manifest


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
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / LOCK).touch()  # fail here, early, if the folder takes no files
        except OSError as exc:
            raise storage_error(folder, exc) from None
        remove_stale_temporaries(folder)
        with self._locked():
            try:
                existing = self._read_manifest()
            except DataError as exc:
                if not overwrite:
                    raise StoreConfigMismatch(
                        f"{exc}: the configuration of the features in {folder} is unknown. "
                        "Pass --overwrite to replace them, or remove the folder."
                    ) from None
                existing = {"extractor": None, "clips": {}}  # unknown: replaced below
            if existing is not None and _config_of(existing) != _normalise(self.config):
                if not overwrite:
                    difference = _describe_difference(_config_of(existing),
                                                      _normalise(self.config))
                    error = StoreConfigMismatch(
                        f"{folder} holds features made with another configuration:\n"
                        f"{difference}\n"
                        "Use another store or extractor key, or pass --overwrite to replace them."
                    )
                    error.difference = difference
                    raise error
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
        array = np.asarray(features)
        if array.ndim != 2 or array.shape[0] < 1:
            raise DataError(f"clip {clip_id!r}: features must be (frames, dim), got {array.shape}")
        array = as_float32(array, f"clip {clip_id!r}: the features of extractor {self.key!r}")
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
        present = set()
        for path in sorted(self.folder.glob("*.npy")):
            clip = path.stem
            try:
                shape = inspect_npy(path).shape
            except DataError:  # a corrupt output is not done: remove it, the clip is redone
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            if len(shape) != 2 or shape[0] < 1 or (self._dim is not None
                                                    and shape[1] != self._dim):
                continue  # not this configuration's output: not done, rewritten when redone
            present.add(clip)
            if clip not in counts:
                self._pending[clip] = int(shape[0])
            if self._dim is None:
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
        if not path.exists():
            return None
        return read_manifest(path)

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(self.folder / LOCK)


def _normalise(config: Mapping[str, Any]) -> dict[str, Any]:
    """JSON round trip, so tuples and lists (and numpy scalars) compare equal to their JSON."""
    from mefuse.utils.atomic import _json_default

    return json.loads(json.dumps({f: config.get(f) for f in CONFIG_FIELDS},
                                 default=_json_default))


def _config_of(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return _normalise(manifest)


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    from mefuse.utils.diff import describe_differences

    return "differing: " + describe_differences(
        {f: old.get(f) for f in CONFIG_FIELDS}, {f: new.get(f) for f in CONFIG_FIELDS},
        "store has", "this run uses")

