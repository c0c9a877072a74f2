"""``mefuse <verb>``: the single command-line entry point.

Each group of verbs lives in its own module with a ``register(app)`` function; this module only
assembles them and turns every user error (a :class:`~mefuse.errors.MefuseError`, or a usage
error of click, whichever copy of click typer uses) into one ``error:`` line on stderr and exit
status 2 instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from mefuse import __version__
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
    "mefuse.cli.bench_verbs",  # bench
    "mefuse.cli.report_verbs",  # report
    "mefuse.cli.submit_verbs",  # submit
    "mefuse.cli.config_verbs",  # config show
    "mefuse.cli.spot_verbs",  # spot
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"mefuse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_show_version, is_eager=True,
        help="print mefuse's version and exit")] = False,
) -> None:
    """Facial micro-expression recognition: extract features, cross-validate, report, submit."""


for _module in VERB_MODULES:
    importlib.import_module(_module).register(app)


def usage_error_classes() -> tuple[type[Exception], ...]:
    """Click's exception base classes, from every click the process may use.

    typer 0.29 ships its own copy of click (``typer._click``) whose exceptions are not those of
    the ``click`` package, and older typers use the package itself; an ``isinstance`` against one
    of them alone silently misses the other, which is how usage errors once became tracebacks.
    """
    found: list[type[Exception]] = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(name).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def one_line(message: str) -> str:
    """A message on one line (click's and pydantic's messages may span several)."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _usage_message(exc: Exception) -> str:
    text = one_line(exc.format_message())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and getattr(exc, "exit_code", 1) == 2:
        text += f" (see '{ctx.command_path} --help')"
    return text


def main() -> None:
    """Run the CLI: every user error is one ``error:`` line on stderr and exit status 2."""
    from mefuse.utils.native_logs import filter_native_stderr

    filter_native_stderr()
    usage_errors = usage_error_classes()
    try:
        # standalone_mode=False returns a command's exit code instead of raising it
        code = app(standalone_mode=False)
    except MefuseError as exc:
        typer.secho(f"error: {one_line(str(exc))}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except usage_errors as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare ``mefuse``: the help is the answer
            typer.echo(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(0)
        typer.secho(f"error: {_usage_message(exc)}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
