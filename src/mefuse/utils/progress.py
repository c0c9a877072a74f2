"""One rich progress bar for every long loop (extraction, cross-validation, the bench grid)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool = True
                 ) -> Iterator[Callable[..., None]]:
    """Yield ``advance(steps=1, description=None)``; a no-op when disabled or empty.

    Columns: label, bar, done/total, elapsed, remaining, and the last description (for example
    the score of the fold just finished).
    """
    if not enabled or total <= 0:
        yield lambda steps=1, description=None: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}")) as bar:
        task = bar.add_task("", total=total)

        def advance(steps: int = 1, description: str | None = None) -> None:
            if description is None:
                bar.update(task, advance=steps)
            else:
                bar.update(task, advance=steps, description=description)

        yield advance
