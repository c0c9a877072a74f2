"""``mefuse check-data``: say what is missing or inconsistent in a dataset before extracting.

The checking is the data layer's (:mod:`mefuse.data.check`, with its door
:func:`mefuse.api.check_data`); this verb prints the report: counts, the label distribution,
the adapter's problems and every source that failed, and exits with status 1 when anything must
be fixed (notes alone do not count).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mefuse.cli.shared_options import (
    COMPOSITE_HELP,
    DATASET_HELP,
    PART_LABELS_HELP,
    echo_listing,
    resolve_part_views,
)
from mefuse.data.check import CheckReport, SourceCheck, check_source
from mefuse.preprocess.views import VIEWS_HELP
from mefuse.utils.console import make_console

# --------------------------------------------------------------------------- printing
SHOWN_PER_KIND = 5
"""Problems of one kind printed before the rest are counted (a label sheet with 100,000 bad
rows would otherwise print 100,000 lines; the full list goes to a file)."""
SHOWN_SOURCES = 50
"""Failed sources listed in the table without ``--verbose``."""

_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|\S*[/\\]\S*|\d+")


def problem_kind(message: str) -> str:
    """What a problem says with its particulars (quoted values, paths, numbers) masked:
    ``"x.csv row 7: Id 'a' is not an integer"`` and the same for row 8 are of one kind."""
    return _VARYING.sub("#", message)


def first_of_each_kind(messages: Sequence[str], limit: int
                       ) -> tuple[list[str], dict[str, int]]:
    """The first ``limit`` messages of each kind, in order, and for the last message shown of
    each kind that had more, how many more there were."""
    seen: Counter[str] = Counter()
    last_shown: dict[str, str] = {}
    listed: list[str] = []
    for message in messages:
        kind = problem_kind(message)
        seen[kind] += 1
        if seen[kind] <= limit:
            listed.append(message)
            last_shown[kind] = message
    left_out = {last_shown[k]: n - limit for k, n in seen.items() if n > limit}
    return listed, left_out


def write_problems(report: CheckReport, path: Path | None) -> Path:
    """Write every problem (errors, then notes), one a line, to ``path`` or to a new file in
    the temporary folder; return where."""
    from mefuse.utils.atomic import write_text

    lines = [*(f"error: {e}" for e in report.errors),
             *(f"note: {n}" for n in report.dataset.notes)]
    if path is None:
        handle, name = tempfile.mkstemp(prefix="mefuse-check-data-", suffix=".txt")
        os.close(handle)
        path = Path(name)
    write_text(path, "".join(f"{line}\n" for line in lines))
    return path


def print_report(report: CheckReport, console: Console | None = None, *,
                 verbose: bool = False, problems_file: Path | None = None) -> None:
    """Print the report with rich: counts, labels, problems, failed (or all) sources.

    Past :data:`SHOWN_PER_KIND` problems of one kind and :data:`SHOWN_SOURCES` failed sources
    (without ``verbose``), the rest are counted and every problem is written to
    ``problems_file`` (or a new temporary file, named in the output)."""
    console = console or make_console()
    info = report.summary()
    data = report.dataset
    console.print(f"[bold]{info['dataset']}[/bold] at {info['root']} ({info['task']}, "
                  f"{len(info['classes'])} classes)", highlight=False)
    counts = Table(show_header=False, box=None, pad_edge=False)
    counts.add_column(style="cyan")
    counts.add_column(justify="right")
    for key in ("sequences", "subjects", "labelled", "unlabelled", "clips"):
        counts.add_row(key, str(info[key]))
    if info["frames_min"] is not None:
        counts.add_row("frames per source",
                       f"{info['frames_min']} / {info['frames_median']:g} / {info['frames_max']} "
                       "(min / median / max)")
    shapes = Counter(f"{'x'.join(map(str, c.shape))} {c.dtype}" for c in report.sources
                     if c.shape is not None)
    if shapes:
        counts.add_row("frame size", ", ".join(f"{s} ({n})" for s, n in shapes.most_common(4)))
    console.print(counts)
    if info.get("parts"):
        parts = Table(title="dataset parts", title_justify="left")
        for column in ("part", "sequences", "subjects", "labelled"):
            parts.add_column(column, justify="left" if column == "part" else "right")
        for name, row in info["parts"].items():
            parts.add_row(name, str(row["sequences"]), str(row["subjects"]),
                          str(row["labelled"]))
        console.print(parts)
    if report.views_choice is not None:
        from mefuse.preprocess.views import describe_views

        console.print(f"views: {report.views_choice}: {describe_views(report.views_choice)} "
                      f"({', '.join(report.views)})", highlight=False)
    if data.labelled:
        labels = Table(title="labelled sequences per class", title_justify="left")
        labels.add_column("class")
        labels.add_column("sequences", justify="right")
        labels.add_column("share", justify="right")
        for name, count in info["label_counts"].items():
            labels.add_row(name, str(count), f"{count / len(data.labelled):.0%}")
        console.print(labels)
    failed = [c for c in report.sources if not c.ok]
    shown = report.sources if verbose else failed[:SHOWN_SOURCES]
    errors = report.errors
    source_errors = {f"{c.sequence_id}: {m}" for c in failed for m in (c.error, c.window) if m}
    other_errors = [e for e in errors if e not in source_errors]
    listed, left_out = first_of_each_kind(other_errors, SHOWN_PER_KIND)
    notes, notes_left_out = first_of_each_kind(data.notes, SHOWN_PER_KIND)
    cut = len(shown) < len(failed) or bool(left_out) or bool(notes_left_out)
    full_list = write_problems(report, problems_file) if cut or problems_file else None
    where = f" (all of them in {full_list})" if full_list else ""
    for note in notes:
        console.print(f"[blue]note:[/blue] {note}", highlight=False)
        if note in notes_left_out:
            console.print(f"... and {notes_left_out[note]:,} more notes like the one above"
                          f"{where}", highlight=False)
    if shown:
        table = Table(title="sources" if verbose else "sources with problems",
                      title_justify="left")
        for column in ("sequence", "source", "frames", "status"):
            table.add_column(column, overflow="fold")
        for check in shown:
            status = check.error or check.window or "ok"
            table.add_row(check.sequence_id, str(check.source),
                          "" if check.frames is None else str(check.frames),
                          f"[red]{status}[/red]" if not check.ok else status)
        console.print(table)
        if len(shown) < len(failed):
            console.print(f"... and {len(failed) - len(shown):,} more sources with problems"
                          f"{where}", highlight=False)
    for error in listed:
        console.print(f"[red]error:[/red] {error}", highlight=False)
        if error in left_out:
            console.print(f"... and {left_out[error]:,} more problems like the one above"
                          f"{where}", highlight=False)
    if full_list and not cut:
        console.print(f"every problem is listed in {full_list}", highlight=False)
    if errors:
        console.print(f"[red bold]{len(errors)} problem(s) to fix[/red bold] "
                      f"({info['sources_failed']} of {len(report.sources)} sources failed)")
    else:
        console.print(f"[green bold]ok[/green bold]: {info['sequences']} sequences, "
                      f"{info['clips']} clips, every source opens")



def _list_adapters(value: bool) -> None:
    """``check-data --list``: the dataset adapters, one per line, then exit."""
    if value:
        from mefuse.data.adapters import ADAPTERS

        echo_listing(ADAPTERS)


def check_data_command(
    dataset: Annotated[list[str], typer.Option(
        "--dataset", "-d", help=DATASET_HELP)],
    root: Annotated[Path | None, typer.Option("--root", "-r", help="dataset root folder")
                    ] = None,
    labels: Annotated[list[str] | None, typer.Option("--labels", help=PART_LABELS_HELP)
                      ] = None,
    composite: Annotated[str | None, typer.Option(help=COMPOSITE_HELP)] = None,
    views: Annotated[str, typer.Option(help=VIEWS_HELP)] = "auto",
    option: Annotated[list[str] | None, typer.Option(
        "--dataset-option", help="adapter setting KEY=VALUE, e.g. composite=true or "
        "frames=Cropped (see docs/guide/datasets.md); NAME.KEY=VALUE with several datasets")
    ] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="list every source, not only the failed ones")] = False,
    problems: Annotated[Path | None, typer.Option(
        "--problems", help="write every problem to this file, one a line (default: a new "
        "temporary file, when there are too many to print)")] = None,
    list_: Annotated[bool, typer.Option(
        "--list", callback=_list_adapters, is_eager=True, expose_value=False,
        help="list the dataset adapters and exit")] = False,
) -> None:
    """Validate a dataset root: what is missing or inconsistent (exit status 1 if anything)."""
    from mefuse.api import check_data
    from mefuse.data.adapters.composite import dataset_parts
    from mefuse.data.check import check_parts
    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.preprocess.views import views_for

    parts = dataset_parts(dataset, root, labels, option)
    if len(parts) == 1 and composite is None:
        part = parts[0]
        report = check_data(part.name, part.root, part.labels, views,
                            options=dict(part.options))
    else:
        choice = resolve_part_views(views, [p.name for p in parts])
        report = check_parts(parts, views_for(choice), min_frames=PreprocessConfig.min_frames,
                             composite=composite, views_choice=choice)
    print_report(report, make_console(), verbose=verbose, problems_file=problems)
    if not report.ok:
        # SystemExit, not typer.Exit: the CLI runs click with standalone_mode=False, which turns
        # typer.Exit into a return value that mefuse.cli.main.main() drops (status 0).
        raise SystemExit(1)


def __getattr__(name: str) -> Any:
    """``check_data`` from its old home here (PEP 562; loaded on use so that the CLI's start
    does not import the Python API)."""
    if name == "check_data":
        from mefuse.api import check_data

        return check_data
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CheckReport", "SourceCheck", "check_data_command", "check_source",
           "print_report"]
