"""``KEY=VALUE`` command-line settings."""

from __future__ import annotations

from typing import Any

import yaml

from mefuse.errors import ConfigError


def parse_key_values(items: list[str] | None, flag: str = "--option") -> dict[str, Any]:
    """``KEY=VALUE`` strings as a dict; values are read as YAML, so ``3``, ``0.5`` and ``true``
    get their types and anything else stays a string."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out
