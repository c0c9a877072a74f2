"""``mefuse <verb>``: the single command-line entry point.

Each group of verbs lives in its own module with a ``register(app)`` function; this module only
assembles them and turns :class:`~mefuse.errors.MefuseError` into a one-line message and exit
status 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from mefuse.errors import MefuseError

app = typer.Typer(
    name="mefuse",
    help="Facial micro-expression recognition: extract features, cross-validate, report, submit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

VERB_MODULES: tuple[str, ...] = (
    "mefuse.cli.train_verbs",  # cv, train, predict, demo-store
    "mefuse.cli.data_verbs",  # check-data, extract, demo
    "mefuse.cli.import_verbs",  # import-coeffs
    "mefuse.cli.bench_verbs",  # bench, report, submit
)

for _module in VERB_MODULES:
    try:
        importlib.import_module(_module).register(app)
    except ModuleNotFoundError as _exc:
        if _exc.name != _module:
            raise


def main() -> None:
    """Run the CLI, printing user errors without a traceback."""
    from mefuse.utils.native_logs import filter_native_stderr

    filter_native_stderr()
    try:
        # standalone_mode=False returns a command's exit code instead of raising it
        code = app(standalone_mode=False)
    except MefuseError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors carry their own formatting
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
