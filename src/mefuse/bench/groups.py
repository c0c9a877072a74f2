"""Which extractor keys of a store are appearance and which are geometry.

The grid pairs every appearance extractor with every geometry extractor, so each key of the store
needs a kind. Keys may carry a variant suffix (``radio_v2.5-l``, ``siglip2-large-384``), so a key
is matched to a registered extractor by its manifest's ``extractor`` field first and by its
leading name (letters and digits up to the first other character) second. The user's
``--appearance`` / ``--geometry`` lists win over both. Keys that match nothing (imported features,
the demo store's ``signal`` and ``noise``) form a third group, ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mefuse.errors import ConfigError
from mefuse.store import FeatureStore

GROUPS: tuple[str, ...] = ("geometry", "appearance", "other")
"""Group order; it also orders the modalities of a fused set (geometry first, as the paper's
"FaceVerse + RADIO")."""

_LEADING_NAME = re.compile(r"^[A-Za-z0-9]+")


@dataclass(frozen=True)
class KeyGroups:
    """Extractor keys by kind, each list in store order."""

    geometry: tuple[str, ...] = ()
    appearance: tuple[str, ...] = ()
    other: tuple[str, ...] = ()

    def kind_of(self, key: str) -> str:
        for group in GROUPS:
            if key in getattr(self, group):
                return group
        raise KeyError(key)

    @property
    def keys(self) -> list[str]:
        """All keys, geometry first, then appearance, then the others."""
        return [k for group in GROUPS for k in getattr(self, group)]

    def as_dict(self) -> dict[str, list[str]]:
        return {group: list(getattr(self, group)) for group in GROUPS}


def registered_kinds() -> dict[str, str]:
    """Registered extractor name -> kind (importing the built-in extractor modules)."""
    from mefuse.features.base import list_extractors

    return {name: cls.kind for name, cls in list_extractors().items()}


def kind_of_key(store: FeatureStore, key: str, kinds: dict[str, str]) -> str:
    """``appearance``, ``geometry`` or ``other`` for one store key."""
    extractor = store.info(key).manifest.get("extractor")
    if isinstance(extractor, str) and extractor in kinds:
        return kinds[extractor]
    if key in kinds:
        return kinds[key]
    match = _LEADING_NAME.match(key)
    if match and match.group(0) in kinds:
        return kinds[match.group(0)]
    return "other"


def group_keys(
    store: FeatureStore,
    keys: Sequence[str] | None = None,
    *,
    appearance: Iterable[str] = (),
    geometry: Iterable[str] = (),
    kinds: dict[str, str] | None = None,
) -> KeyGroups:
    """Sort ``keys`` (default: every extractor of the store) into groups.

    Keys named in ``appearance`` or ``geometry`` are taken as given (and added to ``keys`` when
    missing from it); a key named in both, or one the store does not hold, is an error.
    """
    available = store.extractor_keys()
    appearance, geometry = list(appearance), list(geometry)
    both = sorted(set(appearance) & set(geometry))
    if both:
        raise ConfigError(f"extractor key(s) {', '.join(both)} named as both appearance and "
                          "geometry")
    chosen = list(keys) if keys else list(available)
    chosen += [k for k in appearance + geometry if k not in chosen]
    unknown = [k for k in chosen if k not in available]
    if unknown:
        raise ConfigError(f"the store {store.root} has no extractor {', '.join(unknown)} "
                          f"(available: {', '.join(available) or 'none'})")
    if not chosen:
        raise ConfigError(f"the store {store.root} holds no extractor folder to benchmark")
    kinds = registered_kinds() if kinds is None else kinds
    found: dict[str, list[str]] = {group: [] for group in GROUPS}
    for key in chosen:
        if key in appearance:
            found["appearance"].append(key)
        elif key in geometry:
            found["geometry"].append(key)
        else:
            found[kind_of_key(store, key, kinds)].append(key)
    return KeyGroups(**{group: tuple(found[group]) for group in GROUPS})
