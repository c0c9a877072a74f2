"""Rich consoles for the command line, and tables written out as text and markdown files.

Why a factory: rich fits its output to 80 columns when the stream is not a terminal, so a
table printed into a log or a pipe had its numbers cut to ``0.…``. Off a terminal the console
here is as wide as a log line can be (:data:`LOG_WIDTH`), so tables keep their natural width;
``COLUMNS`` still sets the width when given (rich reads it), on a terminal or not.

Why files: a table is the result a user reads and pastes into notes; ``table.txt`` (as printed)
and ``table.md`` (a markdown table) beside ``results.json`` keep it without re-running.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console, RenderableType
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

from mefuse.utils.atomic import atomic_open

LOG_WIDTH = 1000
"""Columns of a console whose stream is not a terminal: wider than any table mefuse prints, so
nothing is cut, and a log line is never wrapped."""
TABLE_TEXT = "table.txt"
TABLE_MARKDOWN = "table.md"


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr): the terminal's width on a terminal, :data:`LOG_WIDTH`
    elsewhere, ``COLUMNS`` when it is set."""
    stream = sys.stderr if stderr else sys.stdout
    wide = "COLUMNS" not in os.environ and not _is_terminal(stream)
    return Console(stderr=stderr, width=LOG_WIDTH if wide else None)


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def render_text(renderables: Iterable[RenderableType]) -> str:
    """The renderables as plain text at full width (no colour, no trailing blanks)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=LOG_WIDTH, color_system=None, force_terminal=False,
                      force_jupyter=False, highlight=False, emoji=False)
    for renderable in renderables:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def plain(value: object) -> str:
    """A cell, title or caption as plain text: rich markup (``[bold]0.52[/bold]``) removed."""
    if value is None:
        return ""
    if isinstance(value, Text):
        return value.plain
    if isinstance(value, str):
        try:
            return Text.from_markup(value).plain
        except MarkupError:
            return value
    return render_text([value]).strip()  # type: ignore[list-item]


def table_markdown(table: Table) -> str:
    """A rich table as a markdown (GitHub) table: the title in bold above, the caption below,
    numbers right-aligned as in the table. Sections (a separated summary row) become rows."""
    align = {"right": "---:", "center": ":---:"}
    headers = [plain(c.header).replace("\n", " ") or " " for c in table.columns]
    lines = []
    if table.title:
        lines += [f"**{_cell(plain(table.title))}**", ""]
    lines.append("| " + " | ".join(_cell(h) for h in headers) + " |")
    lines.append("|" + "|".join(align.get(c.justify, "---") for c in table.columns) + "|")
    rows = zip(*(list(c.cells) for c in table.columns), strict=True)
    lines += ["| " + " | ".join(_cell(plain(v)) for v in row) + " |" for row in rows]
    if table.caption:
        lines += ["", _cell(plain(table.caption))]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def write_tables(folder: str | Path, tables: Iterable[Table]) -> list[Path]:
    """Write ``tables`` into ``folder`` as :data:`TABLE_TEXT` (as printed, full width) and
    :data:`TABLE_MARKDOWN`; returns both paths. Replaced atomically, as ``results.json`` is."""
    tables = list(tables)
    folder = Path(folder)
    text_path, markdown_path = folder / TABLE_TEXT, folder / TABLE_MARKDOWN
    with atomic_open(text_path, "w", encoding="utf-8") as handle:
        handle.write(render_text(tables))
    with atomic_open(markdown_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(table_markdown(t) for t in tables))
    return [text_path, markdown_path]
