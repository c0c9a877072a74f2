"""Output read from a log or a pipe: full tables, table files, progress lines, clear messages.

The CLI tests run ``mefuse`` with stdout and stderr as pipes and without ``COLUMNS`` (as a
batch job's log is), which is where rich used to cut tables to 80 columns.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from rich.table import Table

from mefuse.cli.shared_options import plain_docstring
from mefuse.extraction.local import _FrameCount
from mefuse.extraction.prepare import PreparedClip
from mefuse.store.reports import Failure
from mefuse.train.config import CVConfig, OptimConfig
from mefuse.train.cv import run_cv
from mefuse.train.protocols import optimism_note
from mefuse.utils.console import LOG_WIDTH, make_console, table_markdown, write_tables
from mefuse.utils.progress import progress_bar


def _mefuse_in_a_log(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    environment.update({"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env})
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, cwd=cwd,
                          env=environment, timeout=300, check=False)


# ------------------------------------------------------------------------------ cv in a log
@pytest.fixture(scope="module")
def cv_log(demo_store, tmp_path_factory):
    root, _ = demo_store
    out = tmp_path_factory.mktemp("cv_log") / "run"
    done = _mefuse_in_a_log(["cv", "-s", str(root), "-m", "signal", "-m", "noise",
                             "--epochs", "3", "-o", str(out)], out.parent,
                            MEFUSE_PROGRESS_SECONDS="0.05")
    assert done.returncode == 0, done.stderr
    return done, out


def test_cv_table_is_not_cut_in_a_log(cv_log):
    done, out = cv_log
    assert "…" not in done.stdout
    summary = json.loads((out / "results.json").read_text())["summary"]
    gate = "/".join(f"{v:.2f}" for v in summary["gate_mean"].values())
    assert gate in done.stdout  # the last column, whole
    assert f"pooled UF1 {summary['uf1_mean']:.3f}  UAR {summary['uar_mean']:.3f}" in done.stdout


def test_cv_writes_its_table_beside_results_json(cv_log):
    done, out = cv_log
    summary = json.loads((out / "results.json").read_text())["summary"]
    mean = f"{summary['macro_f1_mean']:.3f}±{summary['macro_f1_std']:.3f}"
    text = (out / "table.txt").read_text()
    markdown = (out / "table.md").read_text()
    assert mean in text and "…" not in text and "\x1b" not in text
    assert f"| mean | {mean} |" in markdown
    assert "table.txt" in done.stdout and "table.md" in done.stdout


def test_cv_progress_lines_in_a_log(cv_log):
    done, _ = cv_log
    lines = [line for line in done.stderr.splitlines() if line.startswith("cv: ")]
    final = [line for line in lines if line.startswith("cv: 9/9 epochs of 3 fits (100%)")]
    assert len(final) == 1, done.stderr  # the closing line once, not twice
    assert lines[-1] == final[0]
    assert len(lines) >= 2, done.stderr  # lines while it trained, not only the end
    assert "\x1b" not in done.stderr


def test_mskf_run_is_flagged_optimistic(cv_log):
    done, _ = cv_log
    assert "note: mskf splits by labels, not by people" in done.stdout
    assert "optimistic for people the model has not seen" in done.stdout


def test_optimism_note_counts_people_on_both_sides():
    folds = [{"seed": 0, "test_subjects": ["a", "b"]}, {"seed": 0, "test_subjects": ["b", "c"]},
             {"seed": 1, "test_subjects": ["a"]}, {"seed": 1, "test_subjects": ["b", "c"]}]
    note = optimism_note("mskf", folds)
    assert note is not None and "1 of 3 subjects" in note
    assert optimism_note("mskf", [{"seed": 0, "test_subjects": ["a"]},
                                  {"seed": 0, "test_subjects": ["b"]}]) is None
    assert optimism_note("subject-kfold", folds) is None
    assert optimism_note("loso", folds) is None


# ------------------------------------------------------------------------ cv progress ticks
@pytest.mark.parametrize("engine", ["batched", "loop"])
def test_cv_progress_moves_every_epoch(demo_store, engine, capsys, monkeypatch):
    """The batched engine finishes all fits at once; its progress still moves per epoch."""
    monkeypatch.setenv("MEFUSE_PROGRESS_SECONDS", "0")  # a line at every step
    root, table = demo_store
    config = CVConfig(modalities=["signal", "noise"], strategy="gated", protocol="mskf",
                      folds=3, seeds=[0], engine=engine,
                      optim=OptimConfig(epochs=3, warmup_epochs=1))
    run_cv(root, table, config, progress=True)
    done = [int(m.group(1)) for m in re.finditer(r"^cv: (\d+)/9 epochs of 3 fits",
                                                 capsys.readouterr().err, re.MULTILINE)]
    expected = [3, 6, 9] if engine == "batched" else list(range(1, 10))
    assert done == expected


# ------------------------------------------------------------------------ progress lines
def test_progress_writes_lines_while_a_step_runs(monkeypatch):
    """A step of minutes (a stack of fits, one long video) must not leave the log silent."""
    monkeypatch.setenv("MEFUSE_PROGRESS_SECONDS", "0.05")
    stream = io.StringIO()
    with progress_bar("cv", 3, unit="fits", stream=stream) as advance:
        time.sleep(0.4)
        advance(3)
    lines = stream.getvalue().splitlines()
    assert sum(line.startswith("cv: 0/3 fits (0%)") for line in lines) >= 2
    assert lines[-1].startswith("cv: 3/3 fits (100%)")
    assert sum(line.startswith("cv: 3/3") for line in lines) == 1


def test_progress_final_line_is_not_repeated(monkeypatch):
    monkeypatch.setenv("MEFUSE_PROGRESS_SECONDS", "0")
    stream = io.StringIO()
    with progress_bar("bench", 2, stream=stream) as advance:
        advance(description="cell a")
        advance(description="[red]failed[/red] cell b")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[-1].endswith("; failed cell b")  # no rich markup in a log


# ------------------------------------------------------------------------ extract progress
def _clip(frames: int) -> PreparedClip:
    if frames:
        return PreparedClip("c", np.zeros((frames, 2, 2, 3), np.uint8), quality={"frames": frames})
    return PreparedClip("c", None, Failure("c", "read", "unreadable"), {"frames": 0})


def test_extract_progress_total_holds_when_clips_fail():
    totals: list[int] = []
    counted: list[int] = []
    count = _FrameCount(6, None, lambda steps, total: (counted.append(steps),
                                                       totals.append(total)))
    for frames in (100, 0, 100, 0, 0, 100):
        count.done(_clip(frames))
    assert totals == [600] * 6  # the remaining time does not jump as clips fail
    assert sum(counted) == 600


# ------------------------------------------------------------------------ consoles and files
def test_console_is_wide_off_a_terminal_and_follows_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert make_console().width == LOG_WIDTH  # pytest's stdout is not a terminal
    monkeypatch.setenv("COLUMNS", "60")
    assert make_console().width == 60


def test_table_files_keep_every_column(tmp_path):
    table = Table(title="[bold]runs[/bold]")
    table.add_column("run")
    table.add_column("macro-F1", justify="right")
    for index in range(30):
        table.add_column(f"class{index}", justify="right")
    table.add_row("a|b", "[bold]0.512[/bold]", *(f"0.{i:02d}" for i in range(30)))
    text_path, markdown_path = write_tables(tmp_path, [table])
    text = text_path.read_text()
    assert "0.29" in text and "…" not in text
    markdown = markdown_path.read_text()
    assert markdown == table_markdown(table)
    assert markdown.startswith("**runs**\n\n| run | macro-F1 | class0 |")
    assert "| a\\|b | 0.512 | 0.00 |" in markdown
    assert "|---|---:|---:|" in markdown


# ------------------------------------------------------------------------ extractor options
def test_extractor_option_typo_lists_the_valid_keys(tmp_path):
    done = _mefuse_in_a_log(["extract", "-s", str(tmp_path / "store"), "-e", "flow",
                             "--option", "flow.gird=4", "--clips", "missing.csv"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert "no option 'gird' (did you mean 'grid'?)" in done.stderr
    assert "grid, preset, remove_global, size" in done.stderr
    assert "__init__" not in done.stderr and "Traceback" not in done.stderr


def test_create_extractor_refuses_unknown_options_of_forwarding_extractors():
    from mefuse.errors import ConfigError
    from mefuse.features.base import create_extractor, extractor_options, list_extractors

    registry = list_extractors()
    if "clip" in registry:  # clip passes **options on to the Hugging Face base class
        assert {"output", "device", "batch_size"} <= set(extractor_options(registry["clip"]))
        with pytest.raises(ConfigError, match="has no option 'batchsize'.*'batch_size'"):
            create_extractor("clip", batchsize=4)
    with pytest.raises(ConfigError, match="its options: min_confidence"):
        create_extractor("mesh3d", confidence=0.5)


def test_device_reaches_extractors_that_forward_their_options():
    from mefuse.extraction.specs import build_extractor_kwargs
    from mefuse.features.base import list_extractors

    registry = list_extractors()
    for name in ("clip", "siglip2", "dinov2"):
        if name in registry:
            assert build_extractor_kwargs(registry[name], {}, "cpu") == {"device": "cpu"}
    assert build_extractor_kwargs(registry["flow"], {}, "cpu") == {}


# ------------------------------------------------------------------------ help and listings
@pytest.mark.parametrize("verb", ["extract", "bench"])
def test_help_keeps_the_pip_extra(verb, tmp_path):
    done = _mefuse_in_a_log([verb, "--help"], tmp_path, COLUMNS="300")
    assert done.returncode == 0
    assert "pip install 'mefuse[ray]'" in done.stdout


def test_extractor_list_has_no_sphinx_markup(tmp_path):
    done = _mefuse_in_a_log(["extract", "--list"], tmp_path)
    assert done.returncode == 0 and "mesh3d" in done.stdout
    assert ":data:" not in done.stdout and "``" not in done.stdout and ":class:" not in done.stdout


def test_plain_docstring():
    assert plain_docstring("reduced to :data:`DIM` (see :class:`~a.b.Fusion`)") == (
        "reduced to DIM (see Fusion)")
    assert plain_docstring("``3ddfa``: from ``net_recon.pth``") == "3ddfa: from net_recon.pth"
    assert plain_docstring(":func:`load <mefuse.x.load>`") == "load"


def test_failure_reasons_keep_their_brackets(tmp_path):
    """Rich reads ``[left]`` in a printed reason as a style tag and drops it."""
    classes = "Negative,Positive,Repression,Surprise,Others"
    (tmp_path / "clips.csv").write_text(f"clip_id,sequence_id,subject,view,source,{classes}\n"
                                        "c1,s1,p1,left,video[left].mp4,1,0,0,0,0\n")
    done = _mefuse_in_a_log(["extract", "-s", "store", "-e", "flow", "--clips", "clips.csv",
                             "-q", "-j", "1"], tmp_path)
    assert "failed c1 at read: frame source video[left].mp4 does not exist" in done.stdout


def test_bench_note_comes_from_a_computed_cell(tmp_path):
    from mefuse.cli.bench_verbs import _protocol_note

    folds = [{"seed": 0, "test_subjects": ["a", "b"]}, {"seed": 0, "test_subjects": ["b"]}]
    for cell, protocol in (("c1", "mskf"), ("c2", "loso")):
        (tmp_path / cell).mkdir()
        (tmp_path / cell / "results.json").write_text(json.dumps(
            {"config": {"protocol": protocol}, "folds": folds}))
    assert "1 of 2 subjects" in (_protocol_note(tmp_path, ["missing", "c1"]) or "")
    assert _protocol_note(tmp_path, ["c2", "c1"]) is None
    assert _protocol_note(tmp_path, ["missing"]) is None
