"""Modality names in a configuration, matched to the extractor keys of a store.

A preset names a modality by its extractor (``radio``), while the store folder is the
extractor's key, which may carry its variant (``radio_v2.5-g``, ``siglip2-large-patch16-256``).
A name that is exactly a key is used as is; otherwise the single key that starts with the name
followed by ``_``, ``-`` or ``.`` is used (and said); several candidates, or none, are an error
that lists the store's keys, so a modality is never guessed between two variants. It lives with
the store because the keys are the store's folder names (:meth:`FeatureStore.resolve`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mefuse.errors import ConfigError

SEPARATORS = ("_", "-", ".")


def resolve_modalities(names: Sequence[str], keys: Iterable[str]) -> tuple[list[str], list[str]]:
    """``names`` as store keys, and one note per name that was resolved to a longer key."""
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"modalities are extractor keys (text), got {name!r} in "
                              f"{list(names)!r}")
    keys = sorted(set(keys))
    resolved: list[str] = []
    notes: list[str] = []
    for name in names:
        if name in keys:
            resolved.append(name)
            continue
        candidates = [k for k in keys if any(k.startswith(name + s) for s in SEPARATORS)]
        if len(candidates) == 1:
            resolved.append(candidates[0])
            notes.append(f"modality {name!r} is the store's {candidates[0]!r}")
        elif candidates:
            raise ConfigError(f"modality {name!r} matches several extractor keys of the store "
                              f"({', '.join(candidates)}); name one with --modality")
        else:
            raise ConfigError(f"modality {name!r} is not in the store; its extractor keys: "
                              f"{', '.join(keys) or 'none'} (extract it first, or name one of "
                              "these with --modality)")
    return resolved, notes
