"""The README's Python API examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def api_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_has_api_examples():
    blocks = api_blocks()
    assert len(blocks) >= 2 and "cross_val_score" in blocks[-1]


@pytest.mark.slow
def test_readme_api_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in api_blocks():  # one namespace: later blocks use earlier names
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("(") and "[24, 40]" in printed[0]
    assert 0 <= float(printed[1]) <= 1
