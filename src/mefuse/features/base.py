"""The extractor protocol and registry (in the style of timm's ``register_model``).

An extractor turns the face crops of one clip into a ``(frames, dim)`` float32 array. Clip-level
(rather than frame-level) because several extractors need the clip's first frame: optical flow is
measured from it, and the mesh is aligned to it. Models that profit from batching across clips
override :meth:`Extractor.extract_clips`.

Register an extractor with :func:`register_extractor` and build one with
:func:`create_extractor`; ``mefuse extract --extractor NAME`` does exactly that.
"""

from __future__ import annotations

import difflib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np

from mefuse.errors import ConfigError
from mefuse.utils.registry import Registry

Kind = Literal["appearance", "geometry"]


class Extractor(ABC):
    """Base class of all per-frame feature extractors.

    Subclasses set :attr:`name` (the registry name) and :attr:`kind`, take their parameters as
    keyword arguments in ``__init__``, and implement :meth:`extract_clip`. :meth:`params` and
    :meth:`weights` go into the feature store's manifest, so a store records exactly what made
    its features, and a rerun with other settings is refused.
    """

    name: ClassVar[str]
    kind: ClassVar[Kind]
    weight_free: ClassVar[bool] = False
    """True for extractors that load no model (``mesh3d``, ``flow``): cheap to build once per
    worker process, so extraction with them can use every core (``--jobs``)."""
    uses_apex: ClassVar[bool] = False
    """True for extractors whose :meth:`extract_clip` takes an ``apex`` keyword (the crop row of
    the clip's apex, or ``None`` to find it): extraction passes the apex it recorded in
    ``quality.csv`` (the label where the clip table has ``apex_index``), see
    :func:`extract_with_apex`. Every other extractor is called as before."""

    @property
    def key(self) -> str:
        """The feature-store folder name; variants (a model size, a teacher) may extend it."""
        return self.name

    def params(self) -> dict[str, Any]:
        """JSON-safe parameters that change the features (recorded in the manifest)."""
        return {}

    def weights(self) -> dict[str, Any] | None:
        """``{"file": name, "sha256": hex}`` of the weights used, or ``None`` if weight-free."""
        return None

    @abstractmethod
    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        """Features of one clip.

        ``frames`` is a ``(T, H, W, 3)`` uint8 RGB array of face crops (the same crop box for
        every frame). Returns ``(T, dim)`` float32.
        """

    def extract_clips(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features of several clips; override to batch frames of many clips through a model."""
        return [self.extract_clip(frames) for frames in clips]

    def close(self) -> None:  # noqa: B027 - optional hook, empty by default
        """Release native resources (MediaPipe graphs, GPU memory)."""


def extract_with_apex(extractor: Extractor, frames: np.ndarray, apex: int | None) -> np.ndarray:
    """``extractor.extract_clip(frames)``, with ``apex=`` for an extractor that ``uses_apex``."""
    if extractor.uses_apex:
        return extractor.extract_clip(frames, apex=apex)  # type: ignore[call-arg]
    return extractor.extract_clip(frames)


EXTRACTORS: Registry[type[Extractor]] = Registry("extractor", [
    "mefuse.features.geometry.mesh3d",
    "mefuse.features.geometry.regionflow",
    "mefuse.features.geometry.apexflow",
    "mefuse.features.appearance.apeximage",
    "mefuse.features.appearance.flow",
    "mefuse.features.appearance.foundation",
    "mefuse.features.geometry.encoders",
])
"""Extractor classes by name; the modules listed define the built-in ones."""


def register_extractor(cls: type[Extractor]) -> type[Extractor]:
    """Class decorator: make ``cls`` available as ``create_extractor(cls.name)``."""
    return EXTRACTORS.add(cls.name, cls)


def list_extractors(pattern: str | None = None) -> dict[str, type[Extractor]]:
    """Registered extractors by name, sorted; ``pattern`` filters names (``"dino*"``)."""
    return {name: EXTRACTORS[name] for name in EXTRACTORS.names(pattern)}


def create_extractor(name: str, **params: Any) -> Extractor:
    """Build the extractor registered as ``name`` with ``params``."""
    cls = EXTRACTORS.lookup(name)
    check_extractor_options(name, cls, params)
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"extractor {name!r}: {exc}") from exc


def extractor_options(cls: type[Extractor]) -> list[str] | None:
    """The keyword options ``cls`` takes, sorted, following ``**options`` that a constructor
    passes on to its parent's (``clip`` and ``siglip2`` to the Hugging Face base);
    ``None`` when the chain ends in ``**kwargs`` that anything may fill."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass in (Extractor, object):
            continue
        parameters = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]
        names.update(p.name for p in parameters
                     if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return sorted(names)
    return None


def check_extractor_options(name: str, cls: type[Extractor], params: Mapping[str, Any]) -> None:
    """Refuse options ``cls`` does not take, naming the close match and the valid keys (a typo
    in ``--option flow.gird=4`` would otherwise surface as Python's ``__init__()`` message)."""
    valid = extractor_options(cls)
    if valid is None:
        return
    unknown = [key for key in params if key not in valid]
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"extractor {name!r} has no option {key!r}{hint}; its options: "
                      f"{', '.join(valid) or 'none'}")
