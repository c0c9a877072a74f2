"""One progress display for every long loop (extraction, cross-validation, training, the bench).

On a terminal it is a rich bar on stderr; when stderr is not a terminal (cluster logs, a pipe)
a bar would show only its final state, so plain lines are written instead, one every
``MEFUSE_PROGRESS_SECONDS`` seconds (default 30) and one at the end. The periodic lines come from
a timer thread, not from the loop's steps: a step that takes minutes (a stack of fits training,
one long video) still shows the run alive in the log. ``0`` writes a line at every step instead.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
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
        self.started = time.monotonic()
        self._written: tuple[int, int, str] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None

    def advance(self, steps: int = 1, description: str | None = None,
                total: int | None = None) -> None:
        with self._lock:
            self.done += steps
            if total is not None:
                self.total = total
            if description is not None:
                self.description = _plain(description)
        if self.interval <= 0:
            self.write()

    def start(self) -> None:
        """Write a line every ``interval`` seconds from a daemon thread until :meth:`stop`."""
        if self.interval > 0 and self._timer is None:
            self._timer = threading.Thread(target=self._tick, name=f"progress-{self.label}",
                                           daemon=True)
            self._timer.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.write()

    def stop(self) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
            self._timer = None

    def finish(self) -> None:
        """The closing line, unless the last line written already said the same."""
        self.stop()
        if self._written != (self.done, self.total, self.description):
            self.write()

    def write(self, now: float | None = None) -> None:
        with self._lock:
            elapsed = (now or time.monotonic()) - self.started
            share = self.done / self.total if self.total else 1.0
            left = elapsed * (1 - share) / share if share > 0 else None
            text = (f"{self.label}: {self.done}/{self.total} {self.unit} ({share:.0%}), "
                    f"{timedelta(seconds=round(elapsed))} elapsed")
            if left is not None and self.done < self.total:
                text += f", about {timedelta(seconds=round(left))} left"
            if self.description:
                text += f"; {self.description}"
            self._written = (self.done, self.total, self.description)
            print(text, file=self.stream, flush=True)


def _plain(description: str) -> str:
    """A description without rich markup (``[red]failed[/red]``), for a log."""
    from rich.errors import MarkupError
    from rich.text import Text

    try:
        return Text.from_markup(description).plain
    except MarkupError:
        return description


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
        plain.start()
        try:
            yield plain.advance
        finally:
            plain.stop()
        plain.finish()
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
