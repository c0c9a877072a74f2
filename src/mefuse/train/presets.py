"""Named configurations shipped inside the package: ``paper`` and ``recommended``.

They live in ``mefuse/presets/*.yaml`` (package data, so an installed mefuse has them; the
repository's ``configs/`` folder links to them). ``paper`` is exactly
the paper's model; ``recommended`` adds the fusion options documented in its file.
"""

from __future__ import annotations

from typing import Any

import yaml

from mefuse.presets import preset_names, preset_text

PRESETS: tuple[str, ...] = tuple(preset_names())


def load_preset(name: str) -> dict[str, Any]:
    """A preset's settings as a mapping (validated later, with any overrides)."""
    return yaml.safe_load(preset_text(name)) or {}
