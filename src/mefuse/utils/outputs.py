"""An output plan: every file a verb will write, checked against what it reads before anything
is written.

Why: a verb that writes a user-named path must never destroy what the user owns. Before any
work starts, a verb lists its inputs (files it reads, folders whose contents it reads or keeps,
such as a feature store) and every file it will write, named by the user or derived from a
named one (``x.csv`` -> ``x_sequences.csv``). :meth:`OutputPlan.check` resolves them all
(``~``, relative paths, symlinks, hard links) and refuses, with one line:

- an output that is an input, or lies inside an input folder;
- two outputs that are one file;
- a derived output that already exists (the user never named it), unless ``--force`` or the
  file is one this verb wrote before (``previous`` recognises it, e.g. by its CSV header).

An output the user named that already exists is overwritten, as the user asked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from mefuse.errors import ConfigError


class StoreLike(Protocol):
    """What the guard needs of a feature store (:class:`mefuse.store.FeatureStore`, which
    names its own files: this layer sits below the store and does not spell them)."""

    @property
    def root(self) -> Path: ...

    @property
    def own_files(self) -> tuple[str, ...]: ...


def resolved(path: str | Path) -> Path:
    """``path`` absolute, with ``~`` and symlinks resolved (also for a file not yet made)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def check_output_folder(folder: str | Path, role: str) -> Path:
    """``folder`` as a folder to write into, or one :class:`ConfigError` if it, or a folder
    above it, is a file: ``mkdir`` would fail there with a bare ``NotADirectoryError`` halfway
    through the work, where this says so before any is done."""
    folder = Path(folder)
    blocking = _file_in_the_way(folder)
    if blocking == folder:
        raise ConfigError(f"{role} {folder} is a file, not a folder: name a folder (a new one "
                          "is made)")
    if blocking is not None:
        raise ConfigError(f"{role} {folder} cannot be made: {blocking} is a file, not a folder")
    return folder


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest existing one of ``path`` and the folders above it, if it is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def header_starts(*columns: str) -> Callable[[Path], bool]:
    """A ``previous`` test: the file is a CSV whose header begins with ``columns``."""
    prefix = ",".join(columns)

    def test(path: Path) -> bool:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.readline().startswith(prefix)
        except (OSError, UnicodeDecodeError):
            return False

    return test


@dataclass
class _Output:
    path: Path
    role: str
    named: bool
    previous: Callable[[Path], bool] | None


@dataclass
class OutputPlan:
    """The inputs and outputs of one verb run; see the module docstring."""

    force: bool = False
    _inputs: list[tuple[Path, str]] = field(default_factory=list)
    _folders: list[tuple[Path, str]] = field(default_factory=list)
    _outputs: list[_Output] = field(default_factory=list)

    def reads(self, path: str | Path | None, role: str) -> OutputPlan:
        """A file (or frame folder) the verb reads; ``role`` names it in messages."""
        if path is not None:
            target = resolved(path)
            if target.is_dir():
                self._folders.append((target, role))
            else:
                self._inputs.append((target, role))
        return self

    def keeps(self, folder: str | Path | None, role: str) -> OutputPlan:
        """A folder whose every file is the verb's input (a frame folder)."""
        if folder is not None:
            self._folders.append((resolved(folder), role))
        return self

    def uses_store(self, store: StoreLike | None, role: str = "the feature store") -> OutputPlan:
        """A feature store: its own files and its extractor folders are never outputs."""
        if store is None:
            return self
        root = resolved(store.root)
        for name in store.own_files:
            self._inputs.append((root / name, f"{role}'s {name}"))
        if root.is_dir():
            for child in root.iterdir():
                if child.is_dir() and not child.name.startswith("."):
                    self._folders.append((child.resolve(), f"{role}'s features"))
        return self

    def writes(self, path: str | Path, role: str, *, named: bool = True,
               previous: Callable[[Path], bool] | None = None) -> Path:
        """An output; ``named``: the user gave this path (else it is derived from one)."""
        self._outputs.append(_Output(Path(path), role, named, previous))
        return Path(path)

    def check(self) -> None:
        """Refuse the run (one line) if an output would destroy an input or an unnamed file."""
        seen: list[tuple[Path, _Output]] = []
        for output in self._outputs:
            target = resolved(output.path)
            if target.is_dir():
                raise ConfigError(f"{output.role} {output.path} is a folder; name a file")
            blocking = _file_in_the_way(Path(output.path).parent)
            if blocking is not None:  # else mkdir fails there after all the work is done
                raise ConfigError(f"{output.role} {output.path} cannot be written: {blocking} "
                                  "is a file, not a folder")
            for path, role in self._inputs:
                if _same_file(target, path):
                    raise ConfigError(f"{output.role} {output.path} is {role}; writing it "
                                      "would destroy it: choose another output path")
            for folder, role in self._folders:
                if target == folder or folder in target.parents:
                    raise ConfigError(f"{output.role} {output.path} lies inside {role} "
                                      f"{folder}: choose another output path")
            for path, other in seen:
                if _same_file(target, path):
                    raise ConfigError(f"{output.role} {output.path} and {other.role} "
                                      f"{other.path} are the same file: choose another "
                                      "output path")
            if (not output.named and not self.force and target.exists()
                    and not (output.previous and output.previous(target))):
                raise ConfigError(f"{output.role} {output.path} already exists and is not "
                                  "one mefuse wrote there; move it, choose another output "
                                  "path, or pass --force to replace it")
            seen.append((target, output))
