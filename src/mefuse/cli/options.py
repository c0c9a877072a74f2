"""Checks and help texts shared by the verbs' options.

Options whose default comes from the configuration (``--epochs`` is ``None`` on the command line
so that a ``--config`` file can set it) would show no default in ``--help``; :func:`default_help`
adds the configuration's own default to the text, read from the pydantic models so the help can
never drift from the code. The callbacks turn a bad value into a click usage error, which the
entry point prints as one ``error:`` line with exit status 2.
"""

from __future__ import annotations

from typing import Any

import typer

from mefuse.errors import ConfigError
from mefuse.utils.options import check_device, parse_seeds


def seeds_callback(value: str | None) -> str | None:
    """``--seeds`` normalised to ``0,1,2`` (``0-2`` accepted), or a usage error."""
    if value is None:
        return None
    try:
        return ",".join(str(s) for s in parse_seeds(value))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def device_callback(value: str | None) -> str | None:
    """``--device`` checked for its form, or a usage error."""
    if value is None:
        return None
    try:
        return check_device(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def config_default(dotted: str) -> Any:
    """The default of a :class:`~mefuse.train.config.CVConfig` field, e.g. ``optim.epochs``."""
    from mefuse.train.config import CVConfig

    model: Any = CVConfig
    *sections, name = dotted.split(".")
    for section in sections:
        model = type(model.model_fields[section].default)
    field = model.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default
    return ",".join(map(str, value)) if isinstance(value, list) else value


def default_help(text: str, dotted: str) -> str:
    """``text`` followed by the configuration's default for ``dotted``."""
    return f"{text} (default: {config_default(dotted)})"
