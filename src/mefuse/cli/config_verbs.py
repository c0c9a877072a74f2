"""``mefuse config show [NAME]``: the configuration presets that ship with mefuse."""

from __future__ import annotations

from typing import Annotated

import typer

config_app = typer.Typer(help="Configuration presets shipped with mefuse.", no_args_is_help=True)


@config_app.command("show")
def show(
    name: Annotated[str | None, typer.Argument(
        help="preset to print (leave out to list them)", show_default=False)] = None,
) -> None:
    """Print a preset's YAML (use it with --config NAME, or copy it and edit), or list them."""
    from mefuse.presets import preset_names, preset_text

    if name is None:
        for preset in preset_names():
            typer.echo(preset)
        typer.echo("(print one with 'mefuse config show NAME'; use it with --config NAME)",
                   err=True)
        return
    typer.echo(preset_text(name), nl=False)


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
