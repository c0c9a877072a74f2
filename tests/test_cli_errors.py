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


# Configuration mistakes that once ended in a traceback, were silently accepted, or got the
# process killed for memory: each is now one error line naming the problem (issue 18).
CONFIG_CASES: dict[str, tuple[str | bytes | None, list[str], str]] = {
    # id: (content of c.yaml, or None; arguments after 'cv -s STORE'; expected in the message)
    "seed-too-large": (None, ["-m", "signal", "--seeds", "4294967296"], "largest seed"),
    "seeds-too-many": (None, ["-m", "signal", "--seeds", "0-100000"], "more than 1000 seeds"),
    "yaml-seed-too-large": ("modalities: [signal]\nseeds: [99999999999]\n", [], "seeds.0"),
    "modality-mapping": ("modalities: [signal, {a: 1}]\n", [], "extractor keys (text)"),
    "modality-list": ("modalities: [signal, [noise]]\n", [], "extractor keys (text)"),
    "not-utf8": (b"modalities: [signal]\n# caf\xe9\n", [], "not UTF-8"),
    "epochs-true": ("modalities: [signal]\noptim: {epochs: true}\n", [], "optim.epochs"),
    "duplicate-key": ("modalities: [signal]\nstrategy: single\nstrategy: gated\n", [],
                      "'strategy' appears twice (lines 2 and 3)"),
    "dim-huge": ("modalities: [signal]\nmodel: {dim: 100000000}\n", [], "model.dim"),
    "classes-empty": (None, ["-m", "signal", "--classes", ",,"], "names no class"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES), ids=list(CONFIG_CASES))
def test_configuration_mistakes_are_one_error_line(case: str, demo_store, tmp_path: Path
                                                   ) -> None:
    content, extra, expected = CONFIG_CASES[case]
    args = ["cv", "-s", str(demo_store[0]), "-q", "-o", str(tmp_path / "out"), *extra]
    if content is not None:
        path = tmp_path / "c.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        args += ["-c", str(path)]
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["cv", "-s", MISSING, "-c", "."], "is a folder, not a YAML file"),
    (["predict", "--model", ".", "-s", MISSING], "is a folder, not a file"),
    (["extract", "-s", MISSING, "-e", "flow", "--clips", f"{MISSING}.csv", "--face-search", "-1"],
     "--face-search"),
    (["train", "-s", MISSING, "-m", "x", "--seed", "4294967296"], "--seed"),
], ids=["config-folder", "model-folder", "face-search-negative", "train-seed-too-large"])
def test_folders_and_out_of_range_options_are_named(args: list[str], expected: str,
                                                    tmp_path: Path) -> None:
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]


def test_a_run_too_large_for_memory_is_refused_with_its_figure(tmp_path: Path) -> None:
    """Widths, batch and stack within their bounds but far beyond any machine's memory: refused
    before the first step with the estimate, instead of the process being killed (exit 137)."""
    from mefuse.demo.features import DemoSpec, make_demo_store

    store = tmp_path / "wide"
    make_demo_store(store, DemoSpec(subjects=6, sequences_per_subject=2, signal_dim=2048,
                                    noise_dim=2048, min_frames=4, max_frames=6))
    config = tmp_path / "c.yaml"
    config.write_text("modalities: [signal, noise]\nmodel: {dim: 4096, hidden: 4096}\n"
                      "optim: {batch_size: 65536}\n", encoding="utf-8")
    result = run_mefuse(["cv", "-s", str(store), "-c", str(config), "--seeds", "0-9",
                         "--frames", "512", "-q", "-o", str(tmp_path / "out")], tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: this run needs about "), result.stderr
    assert "GiB" in lines[0] and "free now" in lines[0] and "--max-stack" in lines[0]
    assert not (tmp_path / "out").exists()


def test_submit_refuses_training_settings_without_a_training_store(tmp_path: Path) -> None:
    """``--preset``/``--config`` and the training flags shape a model trained by submit; with a
    ready ``--model`` they would be silently ignored."""
    result = run_mefuse(["submit", "--model", f"{MISSING}/m.pt", "-s", MISSING, "--preset",
                         "paper"], tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--preset sets how a model is trained" in lines[0], result.stderr
