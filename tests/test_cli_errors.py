"""Every verb of the installed ``mefuse`` command answers a user error with one ``error:`` line
on stderr and exit status 2, never a traceback (run as a subprocess: an in-process runner would
bypass the entry point that does this)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MISSING = "/nonexistent/mefuse-test"

# verb -> (bad flag, missing required option, bad value); None where the verb has no such case.
CASES: dict[str, tuple[list[str], list[str] | None, list[str]]] = {
    "cv": (["cv", "-s", MISSING, "--bogus"], ["cv"], ["cv", "-s", MISSING, "--seeds", "abc"]),
    "train": (["train", "--bogus"], ["train", "-m", "x"],
              ["train", "-s", MISSING, "-m", "x", "--device", "gpu"]),
    "predict": (["predict", "--bogus"], ["predict", "-s", MISSING],
                ["predict", "--model", f"{MISSING}/m.pt", "-s", MISSING]),
    "demo-store": (["demo-store", "out", "--bogus"], ["demo-store"],
                   ["demo-store", "out", "--seed", "abc"]),
    "check-data": (["check-data", "--bogus"], ["check-data", "-r", MISSING],
                   ["check-data", "-d", "nosuch", "-r", MISSING]),
    "extract": (["extract", "--bogus"], ["extract", "-s", MISSING],
                ["extract", "-s", MISSING, "-e", "flow", "--option", "flow.x=[1"]),
    "demo": (["demo", "--bogus"], None, ["demo", "--seeds", "0,,1"]),
    "import-coeffs": (["import-coeffs", "--bogus"], ["import-coeffs", "-s", MISSING],
                      ["import-coeffs", MISSING, "-s", MISSING, "--layout", "bogus"]),
    "bench": (["bench", "--bogus"], ["bench"], ["bench", "-s", MISSING, "--seeds", "2-0"]),
    "report": (["report", MISSING, "--bogus"], ["report"], ["report", MISSING]),
    "submit": (["submit", "--bogus"], ["submit"], ["submit", "--validate", MISSING]),
    "config": (["config", "show", "--bogus"], None, ["config", "show", "nosuch"]),
    "top": (["--bogus"], None, ["frob"]),
}

PARAMS = [pytest.param(args, id=f"{verb}-{kind}")
          for verb, cases in CASES.items()
          for kind, args in zip(("bad-flag", "missing", "bad-value"), cases, strict=True)
          if args is not None]


def mefuse_command() -> list[str]:
    """The installed console script (the entry point users run)."""
    script = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
    return [script]


def run_mefuse(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([*mefuse_command(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


@pytest.mark.parametrize("args", PARAMS)
def test_user_error_is_one_line_and_status_2(args: list[str], tmp_path: Path) -> None:
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_version_and_bare_command(tmp_path: Path) -> None:
    from mefuse import __version__

    result = run_mefuse(["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"mefuse {__version__}"
    result = run_mefuse([], tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_extract_list_and_help_defaults(tmp_path: Path) -> None:
    result = run_mefuse(["extract", "--list"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert {"flow", "mesh3d"} <= {line.split()[0] for line in result.stdout.splitlines()}
    helptext = run_mefuse(["cv", "--help"], tmp_path).stdout
    for default in ("(default: mskf)", "(default: 60)", "(default: gated)", "(default: 0)"):
        assert default in helptext


def test_short_flags_have_one_meaning() -> None:
    """A short flag means the same long option in every verb (``-o`` is always ``--out``)."""
    import typer.main

    from mefuse.cli.main import app

    group = typer.main.get_command(app)
    meanings: dict[str, set[str]] = {}

    def walk(command) -> None:
        for sub in getattr(command, "commands", {}).values():
            walk(sub)
        for param in command.params:
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in (o for o in param.opts if not o.startswith("--")):
                meanings.setdefault(short, set()).update(longs[:1])

    walk(group)
    clashes = {short: names for short, names in meanings.items() if len(names) > 1}
    assert not clashes
    assert meanings["-o"] == {"--out"}


def test_seeds_and_devices_parse() -> None:
    from mefuse.errors import ConfigError
    from mefuse.utils.options import check_device, parse_seeds

    assert parse_seeds("0,1,2") == parse_seeds("0-2") == [0, 1, 2]
    assert parse_seeds("0-1, 5") == [0, 1, 5]
    for bad in ("abc", "0,,1", "2-0", "1,1", "", "-1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)
    assert check_device("CUDA:1") == "cuda:1"
    for bad in ("gpu", "cuda:", "cuda:x", "tpu"):
        with pytest.raises(ConfigError, match="unknown device"):
            check_device(bad)
