"""One progress display for every long loop (extraction, cross-validation, training, the bench).

On a terminal it is a rich bar on stderr; when stderr is not a terminal (cluster logs, a pipe)
a bar would show only its final state, so plain lines are written instead, one every
``MEFUSE_PROGRESS_SECONDS`` seconds (default 30) and one at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TextIO


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("MEFUSE_PROGRESS_SECONDS", "30")))
    except ValueError:
        return 30.0


class PlainProgress:
    """Periodic ``label: done/total unit (pct), elapsed, left`` lines for non-terminals."""

    def __init__(self, label: str, total: int, unit: str, stream: TextIO,
                 interval: float) -> None:
        self.label, self.total, self.unit, self.stream = label, total, unit, stream
        self.interval = interval
        self.done = 0
        self.description = ""
        self.started = self.last = time.monotonic()

    def advance(self, steps: int = 1, description: str | None = None,
                total: int | None = None) -> None:
        self.done += steps
        if total is not None:
            self.total = total
        if description is not None:
            self.description = description
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.write(now)

    def write(self, now: float | None = None) -> None:
        elapsed = (now or time.monotonic()) - self.started
        share = self.done / self.total if self.total else 1.0
        left = elapsed * (1 - share) / share if share > 0 else None
        text = (f"{self.label}: {self.done}/{self.total} {self.unit} ({share:.0%}), "
                f"{timedelta(seconds=round(elapsed))} elapsed")
        if left is not None and self.done < self.total:
            text += f", about {timedelta(seconds=round(left))} left"
        if self.description:
            text += f"; {self.description}"
        print(text, file=self.stream, flush=True)


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool = True, *, unit: str = "",
                 stream: TextIO | None = None) -> Iterator[Callable[..., None]]:
    """Yield ``advance(steps=1, description=None, total=None)``; a no-op when disabled or
    empty. ``total`` re-estimates the total (extraction counts frames it has not read yet).

    Columns on a terminal: label, bar, done/total, elapsed, remaining, and the last description
    (for example the score of the fold just finished).
    """
    if not enabled or total <= 0:
        yield lambda steps=1, description=None, total=None: None
        return
    stream = stream or sys.stderr
    if not stream.isatty():
        plain = PlainProgress(label, total, unit or "steps", stream, _interval())
        yield plain.advance
        plain.write()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn(f"[bold]{label}[/bold]"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    with Progress(*columns, TimeElapsedColumn(), TimeRemainingColumn(),
                  TextColumn("{task.description}"), console=Console(file=stream)) as bar:
        task = bar.add_task("", total=total)

        def advance(steps: int = 1, description: str | None = None,
                    total: int | None = None) -> None:
            # rich leaves a field unchanged when it is given as None
            bar.update(task, advance=steps, description=description, total=total)

        yield advance
