"""One registry pattern for everything chosen by name: extractors, 3D encoders, dataset adapters.

Why one class: the names a user types (``-e flow``, ``--dataset casme2``) must be looked up,
listed (``mefuse extract --list``, ``mefuse check-data --list``) and refused with the same
message whatever kind of thing they name. Things register where they are defined (a decorator,
as timm's ``register_model``); a registry may name the modules that define its built-in entries,
imported on first use so that ``import mefuse`` stays fast and a missing optional dependency
(transformers, timm, mediapipe) hides only the entries that need it.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeVar

from mefuse.errors import ConfigError

T = TypeVar("T")


class Registry(Mapping[str, T]):
    """Named entries of one kind, read like a dict (sorted by name) once the modules load."""

    def __init__(self, kind: str, modules: Sequence[str] = ()) -> None:
        self.kind = kind
        self.modules: list[str] = list(modules)
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name``; a second, different entry under one name is a bug."""
        known = self._entries.get(name)
        if known is not None and known is not entry:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`: ``@ADAPTERS.register("4dmr")``."""
        return lambda entry: self.add(name, entry)

    def _load(self) -> None:
        """Import the modules that register the built-in entries (cached by Python)."""
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                # A missing optional dependency only hides the entries that need it; a missing
                # mefuse module is a bug and must surface.
                if exc.name and exc.name.startswith("mefuse"):
                    raise

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names, sorted; ``pattern`` filters them shell-style (``"dino*"``)."""
        self._load()
        names = sorted(self._entries)
        return fnmatch.filter(names, pattern) if pattern else names

    def lookup(self, name: str) -> T:
        """The entry ``name``, or a :class:`ConfigError` that lists the valid names."""
        self._load()
        if name not in self._entries:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}"
            )
        return self._entries[name]

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
