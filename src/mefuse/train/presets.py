"""Named configurations shipped inside the package: ``paper`` and ``recommended``.

They live in ``mefuse/configs/*.yaml`` (package data, so an installed mefuse has them; the
repository's ``configs/`` folder holds identical copies to read and edit). ``paper`` is exactly
the paper's model; ``recommended`` adds the fusion options documented in its file.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from mefuse.errors import ConfigError
from mefuse.train.config import load_yaml

PRESETS: tuple[str, ...] = ("paper", "recommended")


def load_preset(name: str) -> dict[str, Any]:
    """A preset's settings as a mapping (validated later, with any overrides)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    with resources.as_file(resources.files("mefuse.configs").joinpath(f"{name}.yaml")) as path:
        return load_yaml(path)
