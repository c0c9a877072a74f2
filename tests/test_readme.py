"""The README and the documentation site: their examples are real and their reference is complete.

- The Python examples (the README's, and the Python API page's) run as written.
- Every ``mefuse ...`` command line in a ``bash`` block of the README or of ``docs/`` names a
  verb that exists and only options that verb has, so a renamed or removed option cannot linger
  in the documentation (``-o KEY=VALUE`` for dataset options once did).
- The CLI reference page, generated at build time from the command definitions, lists every
  verb and every option with its default.
- Every relative link of the README points to a file of the project.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
API_PAGE = DOCS / "guide" / "python_api.md"
CLI_PAGE = DOCS / "reference" / "cli.md"
HOOK = DOCS / "hooks" / "cli_reference.py"


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def documentation_pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mefuse_docs_cli_reference", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Python examples -------------------------------------------------------------------------


def test_documentation_has_api_examples():
    blocks = python_blocks(API_PAGE)
    assert len(blocks) >= 2 and "cross_val_score" in blocks[-1]
    assert len(python_blocks(README)) == 1


@pytest.mark.slow
def test_api_page_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in python_blocks(API_PAGE):  # one namespace: later blocks use earlier names
        exec(compile(block, str(API_PAGE), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("(") and "[24, 40]" in printed[0]
    assert 0 <= float(printed[1]) <= 1


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks(README)
    exec(compile(block, str(README), "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert 0 <= float(printed[-1]) <= 1


# --- command lines in the documentation ----------------------------------------------------------


def bash_command_lines(path: Path) -> list[str]:
    """Every line of the file's ``bash`` blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
        lines += block.replace("\\\n", " ").splitlines()
    return lines


_OPTION = re.compile(r"^[\[(]*(--?[A-Za-z][\w-]*)")
_NAMES = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")


def mefuse_invocations(line: str) -> list[tuple[list[str], list[str]]]:
    """(verb words, option names) of each ``mefuse`` call on one shell or synopsis line."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return []
    calls: list[tuple[list[str], list[str]]] = []
    index = 0
    while index < len(tokens):
        if tokens[index] != "mefuse":
            index += 1
            continue
        index += 1
        words: list[str] = []
        while index < len(tokens) and re.fullmatch(r"[a-z][a-z-]*", tokens[index]):
            words.append(tokens[index])
            index += 1
        options: list[str] = []
        while index < len(tokens) and tokens[index] not in ("&&", ";", "||"):
            token = tokens[index]
            # "|" is alternation in a synopsis ("| --clips FILE"), a pipe before another command
            if token == "|" and not (index + 1 < len(tokens) and tokens[index + 1][:1] in "-[("):
                break
            match = _OPTION.match(token.split("=", 1)[0])
            if match:
                options.append(match.group(1))
            index += 1
        calls.append((words, options))
    return calls


def command_table() -> dict[tuple[str, ...], Any]:
    hook = load_hook()
    root = hook.root_command()
    table: dict[tuple[str, ...], Any] = {(): root}
    for path, command in hook.walk(root):
        for depth in range(1, len(path)):
            parent = table[tuple(path[1:depth])]
            table[tuple(path[1:depth + 1])] = parent.commands[path[depth]]
        table[tuple(path[1:])] = command
    return table


def option_names(command: Any) -> set[str]:
    names = {"--help"}
    for param in command.params:
        if param.param_type_name == "option":
            names.update(param.opts, param.secondary_opts)
    return names


def test_mefuse_invocations_parse_synopses_and_pipes():
    assert mefuse_invocations("mefuse cv -s S [--seeds 0,1,2] (--a X | --b Y) | head -3") == [
        (["cv"], ["-s", "--seeds", "--a", "--b"])]
    assert mefuse_invocations("mefuse config show paper  # -x in a comment") == [
        (["config", "show", "paper"], [])]
    assert mefuse_invocations("pip install 'mefuse[ray]'") == []


def test_every_documented_command_line_uses_real_verbs_and_options():
    table = command_table()
    checked = 0
    problems: list[str] = []
    for page in documentation_pages():
        for line in bash_command_lines(page):
            for words, options in mefuse_invocations(line):
                command_path: tuple[str, ...] = ()
                for word in words:  # verb, sub-verb; later words are arguments
                    if (*command_path, word) in table:
                        command_path += (word,)
                        continue
                    if getattr(table[command_path], "commands", None):
                        problems.append(f"{page.name}: unknown verb {word!r} in: {line.strip()}")
                    break
                if getattr(table[command_path], "commands", None) and command_path:
                    problems.append(f"{page.name}: no sub-verb in: {line.strip()}")
                    continue
                known = option_names(table[command_path])
                problems += [f"{page.name}: 'mefuse {' '.join(command_path)}' has no {option}: "
                             f"{line.strip()}" for option in options if option not in known]
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 40  # the README's examples and the guides' synopses were all seen


def test_dataset_options_are_documented_with_their_real_flag():
    text = (DOCS / "guide" / "datasets.md").read_text(encoding="utf-8")
    assert "`--dataset-option KEY=VALUE`" in text
    assert "-o KEY=VALUE" not in text


# --- the generated CLI reference ----------------------------------------------------------------


def test_cli_reference_lists_every_verb_and_option_with_its_default():
    hook = load_hook()
    assert hook.MARKER in CLI_PAGE.read_text(encoding="utf-8")
    assert "docs/hooks/cli_reference.py" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    page = hook.render_cli_reference()
    verbs = hook.walk(hook.root_command())
    assert {" ".join(path[1:]) for path, _ in verbs} >= {
        "demo", "check-data", "extract", "import-coeffs", "cv", "train", "predict", "bench",
        "report", "submit", "config show", "demo-store"}
    for path, command in verbs:
        heading = f"## `{' '.join(path)}`"
        assert heading in page, heading
        section = page[page.index(heading):]
        following = section.find("\n## `", 1)
        section = section if following < 0 else section[:following]
        for param in command.params:
            if param.param_type_name == "argument":
                assert f"`{param.name.upper()}" in section, (path, param.name)
                continue
            row = next((line for line in section.splitlines() if line.startswith("| `")
                        and set(param.opts) <= set(_NAMES.findall(line.split("|")[1]))), None)
            assert row is not None, (path, param.opts)
            default = row.split("|")[2].strip()
            assert default, (path, param.opts)
            if param.default is True:  # a flag that is on: its name (or "on") is the default
                expected = param.opts[0].lstrip("-") if param.secondary_opts else "on"
            elif param.default not in (None, False, ()) and not param.required:
                expected = str(param.default)
            else:
                continue
            assert expected.lower() in default.lower(), (path, param.opts, default)


def test_cli_reference_shows_defaults_from_the_help_text():
    page = load_hook().render_cli_reference()
    cv = page[page.index("## `mefuse cv`"):page.index("## `mefuse train`")]
    assert "| `--epochs <int>` | `60` |" in cv  # the configuration's default, from the help
    assert "| `-o, --out <path>` | `runs/cv` |" in cv  # click's own default
    assert "| `-s, --store <path>` | required |" in cv


# --- the README itself ----------------------------------------------------------------------------


def test_readme_is_a_front_page_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 220
    assert "make demo    # create .venv" in text and "make test    # create .venv" in text


def test_readme_links_point_to_files_of_the_project():
    text = README.read_text(encoding="utf-8")
    links = [target for target in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in target]
    assert links
    missing = [target for target in links if not (ROOT / target).exists()]
    assert not missing


def test_documentation_cites_only_what_ships():
    for page in documentation_pages():
        text = page.read_text(encoding="utf-8")
        assert "FACTS" not in text, page
        assert not re.search(r"\bissue \d", text), page
