"""``mefuse report``: a self-contained HTML report of a cv run, a bench folder or a spotting
evaluation (``mefuse spot-eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mefuse.utils.console import make_console

console = make_console()


def report(
    source: Annotated[Path, typer.Argument(help="a 'mefuse cv' run folder, a 'mefuse bench' "
                                           "folder or a 'mefuse spot-eval' run folder")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="folder for report.html and img/ (default: <source>/report)")] = None,
    detail: Annotated[int, typer.Option(
        min=0, help="for a bench: how many of the best cells get a full section")] = 3,
    screenshot: Annotated[bool, typer.Option(
        help="also render report.png with headless Chromium (must be installed)")] = False,
) -> None:
    """Write a self-contained HTML report with plots (PNG files beside it)."""
    from mefuse.report import write_report

    page = write_report(source, out, detail=detail)
    console.print(f"wrote {page}")
    if screenshot:
        from mefuse.report.browser import screenshot as render

        png = render(page, page.with_name("report.png"))
        console.print(f"wrote {png}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
