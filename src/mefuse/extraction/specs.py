"""Extractors as picklable recipes: built here, in worker processes and in Ray actors alike."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mefuse.errors import ConfigError
from mefuse.features.base import (
    Extractor,
    check_extractor_options,
    extractor_options,
    list_extractors,
)


def build_extractor_kwargs(cls: type[Extractor], options: dict[str, Any],
                           device: str | None) -> dict[str, Any]:
    """Options for one extractor, plus ``device`` when its constructor takes one."""
    kwargs = dict(options)
    if device is not None and "device" in (extractor_options(cls) or ()):
        kwargs.setdefault("device", device)
    return kwargs


@dataclass(frozen=True)
class ExtractorSpec:
    """How to build one extractor in another process (a name and its keyword arguments).

    Extractors hold native objects (MediaPipe graphs, models) that cannot be pickled; a spec
    can, and every process builds its own extractor from it. The class's module is recorded
    when the spec is made, so that a worker imports that module alone: importing every
    built-in extractor (transformers, timm) would cost a worker seconds of start-up.
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    module: str = ""

    def __post_init__(self) -> None:
        if not self.module:
            object.__setattr__(self, "module", self._class().__module__)

    def _class(self) -> type[Extractor]:
        if self.module:
            importlib.import_module(self.module)
            cls = getattr(sys.modules[self.module], "__dict__", {})
            found = [c for c in cls.values() if isinstance(c, type)
                     and issubclass(c, Extractor) and getattr(c, "name", None) == self.name]
            if found:
                return found[0]
        registry = list_extractors()
        if self.name not in registry:
            raise ConfigError(f"unknown extractor {self.name!r}; available: "
                              f"{', '.join(registry)}")
        return registry[self.name]

    def build(self) -> Extractor:
        cls = self._class()
        check_extractor_options(self.name, cls, self.options)
        try:
            return cls(**build_extractor_kwargs(cls, self.options, self.device))
        except TypeError as exc:
            raise ConfigError(f"extractor {self.name!r}: {exc}") from exc

    @property
    def weight_free(self) -> bool:
        return self._class().weight_free


def build_all(specs: Sequence[ExtractorSpec]) -> list[Extractor]:
    """Build every spec; on a failure close the ones already built."""
    built: list[Extractor] = []
    try:
        for spec in specs:
            built.append(spec.build())
    except BaseException:
        for extractor in built:
            extractor.close()
        raise
    return built
