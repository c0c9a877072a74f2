"""Configuration presets shipped inside the package (``mefuse config show``).

Every ``*.yaml`` file in this folder is a preset named by its stem (``paper``: the paper's
model). Shipping them as package data means ``--config paper`` works from an installed wheel,
not only from a source checkout; ``configs/`` in the repository links here.
"""

from __future__ import annotations

from importlib import resources

from mefuse.errors import ConfigError


def preset_names() -> list[str]:
    """The presets that ship with this installation, sorted."""
    folder = resources.files(__name__)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    """The YAML text of preset ``name`` (comments included: they justify each value)."""
    if name not in preset_names():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(preset_names())}")
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
