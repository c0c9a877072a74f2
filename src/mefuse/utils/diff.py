"""Name the fields in which two configurations differ.

A refused store or model is only useful to the user if the message says *which* setting differs
(``preprocess.crop_size: 256 vs 1024``), not two whole dictionaries to compare by eye.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def differing_fields(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted.path, old, new)`` for every leaf that differs; mappings are compared key by
    key, anything else as a whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[tuple[str, Any, Any]] = []
        for key in list(dict.fromkeys([*old, *new])):
            path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(differing_fields(old.get(key), new.get(key), path))
        return out
    return [] if old == new else [(prefix or "(value)", old, new)]


def describe_differences(old: Any, new: Any, old_name: str, new_name: str,
                         limit: int = 6) -> str:
    """``field: OLD_NAME x, NEW_NAME y; ...`` for the first ``limit`` differing fields."""
    fields = differing_fields(old, new)
    parts = [f"{path}: {old_name} {a!r}, {new_name} {b!r}" for path, a, b in fields[:limit]]
    if len(fields) > limit:
        parts.append(f"and {len(fields) - limit} more")
    return "; ".join(parts)
