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
        out[key.strip()] = parse_value(value, item, flag)
    return out


def parse_value(value: str, item: str, flag: str) -> Any:
    """The value of a ``KEY=VALUE`` item read as YAML (``3``, ``0.5``, ``true``, ``[1, 2]``);
    malformed YAML such as ``[1`` is a usage error naming the item."""
    if not value:
        return ""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{flag} {item!r}: the value {value!r} is not valid YAML "
                          f"({problem}); quote it to pass text") from None


MAX_SEED = 2**32 - 1
"""The largest seed of one fit: the splitters seed numpy's legacy generator, which takes 32
bits."""
MAX_FOLDS = 1000
"""Most folds of a k-fold protocol."""
MAX_CV_SEED = (MAX_SEED - (MAX_FOLDS - 1)) // MAX_FOLDS
"""The largest cross-validation seed: each fit of seed ``s`` is seeded ``s * 1000 + fold``
(:mod:`mefuse.train.cv`), which must stay a valid fit seed."""
MAX_SEEDS = 1000
"""Most seeds one run may take. Each seed is a full set of folds kept in memory until scored;
a thousand already measures seed variance far past what any table reports, while a range typo
such as ``0-100000`` would otherwise queue hundreds of thousands of fits."""


def parse_seeds(text: str) -> list[int]:
    """Seeds as written on a command line: ``0,1,2``, a range ``0-2`` (inclusive) or a mix such
    as ``0-2,7``. Refuses empty items, non-integers, negative numbers, reversed ranges, seeds
    above :data:`MAX_CV_SEED` and more than :data:`MAX_SEEDS` seeds (checked before a range is
    expanded), so a typo cannot silently run fewer, or vastly more, seeds than meant."""
    seeds: list[int] = []
    for item in text.split(","):
        item = item.strip()
        first, dash, last = item.partition("-")
        try:
            if not item:
                raise ValueError("an empty item")
            if dash:
                low, high = int(first), int(last)
                if low > high:
                    raise ValueError(f"the range {item!r} runs backwards")
                if high > MAX_CV_SEED:
                    raise ValueError(f"seed {high} is above {MAX_CV_SEED}, the largest seed")
                if len(seeds) + high - low + 1 > MAX_SEEDS:
                    raise ValueError(f"more than {MAX_SEEDS} seeds, the most one run takes")
                seeds.extend(range(low, high + 1))
            else:
                seed = int(item)
                if seed > MAX_CV_SEED:
                    raise ValueError(f"seed {seed} is above {MAX_CV_SEED}, the largest seed")
                seeds.append(seed)
        except ValueError as exc:
            reason = exc.args[0] if str(exc).startswith(
                ("an empty", "the range", "seed ", "more than")) else (
                f"{item!r} is not a whole number")
            raise ConfigError(f"seeds take 0,1,2 or 0-2, got {text!r}: {reason}") from None
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"seeds take 0,1,2 or 0-2, got {text!r}: more than {MAX_SEEDS} seeds, "
                          "the most one run takes")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds repeat in {text!r}")
    return seeds


DEVICE_FORMS = "cpu, cuda, cuda:N, mps or auto"


def check_device(text: str) -> str:
    """A torch device name, checked for its form only (``gpu`` or ``cuda:x`` is a typo that
    would otherwise fail deep inside a model after minutes of loading)."""
    name = text.strip().lower()
    kind, colon, index = name.partition(":")
    if name in ("cpu", "cuda", "mps", "auto") or (kind == "cuda" and colon and index.isdigit()):
        return name
    raise ConfigError(f"unknown device {text!r}; use {DEVICE_FORMS}")
