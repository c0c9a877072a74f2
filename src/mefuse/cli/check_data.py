"""``mefuse check-data``: say what is missing or inconsistent in a dataset before extracting.

Extraction on a real dataset takes hours; a missing folder or a label typo found at the end
wastes them. This verb runs the dataset adapter, opens every sequence's frame source (a folder
listing, or a video's header and last frame; one frame decoded to prove the files are images)
and checks each onset-offset window against the frames really there. It prints counts, the
label distribution, the adapter's problems and every source that failed, and exits with status
1 when anything must be fixed (notes alone do not count).
"""

from __future__ import annotations

import os
import re
import statistics
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from mefuse.cli.options import DATASET_HELP, echo_listing
from mefuse.errors import MefuseError
from mefuse.preprocess.views import VIEWS_HELP
from mefuse.utils.console import make_console
from mefuse.utils.options import parse_key_values


@dataclass
class SourceCheck:
    """What opening one sequence's frame source showed."""

    sequence_id: str
    source: Path
    frames: int | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    error: str | None = None
    window: str | None = None  # a start/end that does not fit the frames

    @property
    def ok(self) -> bool:
        return self.error is None and self.window is None


@dataclass
class CheckReport:
    """The result of :func:`check_data`; ``errors`` empty means the dataset is usable."""

    dataset: Any  # mefuse.data.adapters.Dataset (imported lazily)
    views: tuple[str, ...]
    clips: int = 0
    sources: list[SourceCheck] = field(default_factory=list)
    table_error: str | None = None
    views_choice: str | None = None
    """The resolved ``--views`` choice (``auto`` made concrete), when given as a choice."""
    labels_given: bool = False

    @property
    def errors(self) -> list[str]:
        out = list(self.dataset.errors)
        if not self.dataset.records:
            out.append("no usable sequence")
        if self.labels_given and self.dataset.records and not self.dataset.labelled:
            out.append("the label file labels no sequence (empty, header only, or no id "
                       "matches the frames on disk)")
        if self.table_error:
            out.append(f"clip table: {self.table_error}")
        for check in self.sources:
            if check.error:
                out.append(f"{check.sequence_id}: {check.error}")
            if check.window:
                out.append(f"{check.sequence_id}: {check.window}")
        return list(dict.fromkeys(out))

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """Counts as plain data (for tests, logs and JSON)."""
        data = self.dataset
        frames = [c.frames for c in self.sources if c.frames is not None]
        return {
            "dataset": data.name,
            "root": str(data.root),
            "task": data.task,
            "classes": list(data.classes),
            "sequences": len(data.records),
            "subjects": len(data.subjects),
            "labelled": len(data.labelled),
            "unlabelled": len(data.records) - len(data.labelled),
            "clips": self.clips,
            "views": list(self.views),
            "label_counts": data.label_counts(),
            "sources_ok": sum(c.ok for c in self.sources),
            "sources_failed": sum(not c.ok for c in self.sources),
            "frames_min": min(frames) if frames else None,
            "frames_median": statistics.median(frames) if frames else None,
            "frames_max": max(frames) if frames else None,
            "errors": len(self.errors),
            "notes": len(data.notes),
        }


def _views(views: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(views, str):
        from mefuse.preprocess.views import views_for

        return views_for(views)
    return tuple(views)


def check_source(record: Any, *, read_first: bool = True, min_frames: int = 2) -> SourceCheck:
    """Open one record's frame source, count its frames and check its window.

    Only the first frame of the window is decoded (``read_first``), to prove the files are
    images of the expected kind; nothing else is. A window shorter than ``min_frames`` is refused
    here as ``extract`` refuses it.
    """
    from mefuse.data.frames import open_frames

    check = SourceCheck(record.sequence_id, Path(record.source))
    try:
        with open_frames(record.source) as source:
            check.frames = len(source)
            start = 0 if record.start is None else int(record.start)
            end = check.frames - 1 if record.end is None else int(record.end)
            if not 0 <= start <= end < check.frames:
                check.window = (f"window {start}..{end} does not fit the {check.frames} frames "
                                f"of {record.source}")
            elif end - start + 1 < min_frames:
                check.window = (f"{end - start + 1} frame(s) in the window {start}..{end}; "
                                f"extract needs at least {min_frames} (no motion in one frame)")
            elif read_first:
                frame = source.read(start)
                check.shape, check.dtype = tuple(frame.shape), str(frame.dtype)
    except MefuseError as exc:
        check.error = str(exc)
    except Exception as exc:  # a broken codec or file system must not stop the check
        check.error = f"{type(exc).__name__}: {exc}"
    return check


def check_data(kind: str, root: str | Path, labels: str | Path | None = None,
               views: Sequence[str] | str = "auto", *, options: dict[str, Any] | None = None,
               read_first: bool = True) -> CheckReport:
    """Validate a dataset root: adapter problems, clip table, every frame source and window.

    Raises only for what stops the adapter itself (unknown kind, missing root or label sheet,
    missing columns); everything else is collected in the report.
    """
    from mefuse.data.adapters import clip_table, load_dataset
    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.preprocess.views import resolve_views

    dataset = load_dataset(kind, root, labels=labels, **(options or {}))
    choice = resolve_views(views, kind) if isinstance(views, str) else None
    report = CheckReport(dataset=dataset, views=_views(choice or views), views_choice=choice,
                         labels_given=labels is not None)
    try:
        report.clips = len(clip_table(dataset, report.views))
    except MefuseError as exc:
        report.table_error = str(exc)
    min_frames = PreprocessConfig.min_frames
    report.sources = [check_source(r, read_first=read_first, min_frames=min_frames)
                      for r in dataset.records]
    return report


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
    dataset: Annotated[str, typer.Option(
        "--dataset", "-d", help=DATASET_HELP)],
    root: Annotated[Path, typer.Option("--root", "-r", help="dataset root folder")],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="label sheet or CSV (default: the adapter's usual file under --root)")
    ] = None,
    views: Annotated[str, typer.Option(help=VIEWS_HELP)] = "auto",
    option: Annotated[list[str] | None, typer.Option(
        "--dataset-option", help="adapter setting KEY=VALUE, e.g. composite=true or "
        "frames=Cropped (see docs/guide/datasets.md)")] = None,
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
    report = check_data(dataset, root, labels, views,
                        options=parse_key_values(option, "--dataset-option"))
    print_report(report, make_console(), verbose=verbose, problems_file=problems)
    if not report.ok:
        # SystemExit, not typer.Exit: the CLI runs click with standalone_mode=False, which turns
        # typer.Exit into a return value that mefuse.cli.main.main() drops (status 0).
        raise SystemExit(1)


__all__ = ["CheckReport", "SourceCheck", "check_data", "check_data_command", "check_source",
           "print_report"]
