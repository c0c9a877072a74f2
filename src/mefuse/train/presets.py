"""Named configurations shipped inside the package: ``paper`` and ``recommended``.

They live in ``mefuse/presets/*.yaml`` (package data, so an installed mefuse has them; the
repository's ``configs/`` folder links to them). ``paper`` is exactly
the paper's model; ``recommended`` adds the fusion options documented in its file.
"""

from __future__ import annotations

from typing import Any

from mefuse.presets import preset_names, preset_text
from mefuse.train.config import parse_yaml

PRESETS: tuple[str, ...] = tuple(preset_names())


def load_preset(name: str) -> dict[str, Any]:
    """A preset's settings as a mapping (validated later, with any overrides)."""
    return parse_yaml(preset_text(name), f"preset {name}")
