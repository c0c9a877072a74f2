"""MkDocs hook: the command-line reference, generated from mefuse's command definitions.

The page ``reference/cli.md`` holds only a marker; at build time this hook walks the typer/click
command tree (``typer.main.get_command``) and puts in its place, for every verb, the usage line,
the help text and a table of every argument and option with its default. Written by hand, such a
page drifts from the code with the first new option; generated, it cannot (and
``tests/test_readme.py`` checks that every verb and option is on it).

typer 0.29 carries its own copy of click, whose command objects are not ``click.Command``s, so a
plugin written for the ``click`` package (mkdocs-click) cannot read them; this hook only uses the
attributes both copies share (``commands``, ``params``, ``opts``, ``get_help_record``).
"""

from __future__ import annotations

import re
from typing import Any

MARKER = "<!-- mefuse-cli-reference -->"

# Verbs in the order a user meets them; verbs not named here follow, alphabetically, so a new verb
# appears on the page without touching this file.
WORKFLOW_ORDER: tuple[str, ...] = (
    "demo", "check-data", "extract", "import-coeffs", "cv", "train", "predict", "bench",
    "report", "submit", "config", "demo-store",
)

_DEFAULT = re.compile(r"\s*\[default:\s*(.*?)\]\s*$")
_REQUIRED = re.compile(r"\s*\[required\]\s*$")
_INLINE_DEFAULT = re.compile(r"\(default:\s*([^()]*(?:\([^()]*\)[^()]*)*)\)")


def root_command() -> Any:
    """The click command tree of ``mefuse`` (imports the CLI modules, not torch)."""
    import typer.main

    from mefuse.cli.main import app

    return typer.main.get_command(app)


def walk(command: Any, path: tuple[str, ...] = ("mefuse",)) -> list[tuple[tuple[str, ...], Any]]:
    """Every runnable verb under ``command`` as (words of its command line, command object)."""
    subcommands: dict[str, Any] = getattr(command, "commands", None) or {}
    if not subcommands:
        return [(path, command)]
    names = [name for name in WORKFLOW_ORDER if name in subcommands]
    names += sorted(name for name in subcommands if name not in names)
    found: list[tuple[tuple[str, ...], Any]] = []
    for name in names:
        if getattr(subcommands[name], "hidden", False):
            continue
        found += walk(subcommands[name], (*path, name))
    return found


def _context(path: tuple[str, ...], command: Any, root: Any) -> Any:
    """A click context for ``command`` (needed to render its parameters' help records)."""
    context = root.make_context(path[0], [], resilient_parsing=True)
    parent = root
    for name in path[1:]:
        parent = parent.commands[name]
        context = parent.make_context(name, [], parent=context, resilient_parsing=True)
    return context


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "&#124;").replace("\n", " "))


def parameter_row(param: Any, context: Any) -> tuple[str, str, str]:
    """(how it is written, default, description) of one argument or option."""
    record = param.get_help_record(context)
    if param.param_type_name == "argument":
        name, description = param.name.upper(), getattr(param, "help", None) or ""
        if record is not None:
            description = record[1]
        if param.nargs == -1:
            name += " ..."
    else:
        name, description = record if record is not None else (", ".join(param.opts), "")
    description = description or ""
    default = "—"
    if _REQUIRED.search(description) or (param.required and param.param_type_name == "argument"):
        default = "required"
        description = _REQUIRED.sub("", description)
    match = _DEFAULT.search(description)
    if match:
        default = f"`{match.group(1)}`"
        description = description[:match.start()]
    else:
        inline = _INLINE_DEFAULT.search(description)
        if inline:
            default = f"`{inline.group(1).strip()}`"
            description = description[:inline.start()] + description[inline.end():]
    if default == "—" and getattr(param, "is_flag", False) and not param.secondary_opts:
        default = "on" if param.default else "off"
    description = _REQUIRED.sub("", description).strip()
    description = re.sub(r"\s+", " ", description)
    return name.replace("|", "/"), default, description


def usage(path: tuple[str, ...], command: Any) -> str:
    """The usage line, from the command's parameters."""
    words = [*path, "[OPTIONS]"]
    for param in command.params:
        if param.param_type_name != "argument":
            continue
        word = param.name.upper() + (" ..." if param.nargs == -1 else "")
        words.append(word if param.required else f"[{word}]")
    return " ".join(words)


def _help_text(command: Any) -> str:
    """The command's docstring help as Markdown paragraphs (click's ``\\b`` markers removed)."""
    text = (command.help or command.short_help or "").strip()
    lines = [line for line in text.splitlines() if line.strip() != "\b"]
    return "\n".join(lines).strip()


def render_cli_reference() -> str:
    """Markdown for every verb: heading, help, usage and a table of its parameters."""
    root = root_command()
    parts: list[str] = []
    for path, command in [(("mefuse",), root), *walk(root)]:
        context = _context(path, command, root)
        parts.append(f"## `{' '.join(path)}`\n")
        help_text = _help_text(command)
        if help_text:
            parts.append(help_text + "\n")
        line = usage(path, command) + (" COMMAND ..." if path == ("mefuse",) else "")
        parts.append(f"```text\n{line}\n```\n")
        rows = [parameter_row(param, context) for param in command.params
                if not getattr(param, "hidden", False)]
        if rows:
            parts.append("| argument or option | default | what it does |")
            parts.append("|---|---|---|")
            for name, default, description in rows:
                parts.append(f"| `{name}` | {default} | {_cell(description)} |")
            parts.append("")
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    """MkDocs event: put the generated reference where the page holds the marker."""
    if MARKER in markdown:
        return markdown.replace(MARKER, render_cli_reference())
    return markdown
