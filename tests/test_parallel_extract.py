"""``extract --jobs N``: worker processes write exactly the store one process writes, and a run
killed with -9 resumes to that same store, byte for byte."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, similarity
from mefuse.data.clips import ClipTable
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.parallel import extract_parallel
from mefuse.extraction.specs import ExtractorSpec
from mefuse.preprocess.config import PreprocessConfig

PRE = PreprocessConfig(views="both", crop_size=128)
SPECS = [ExtractorSpec("mesh3d"), ExtractorSpec("flow", {"size": 64})]


def _frames(count: int, shift: float) -> list[np.ndarray]:
    base = cv2.resize(astronaut()[0:300, 100:400], (192, 192))
    views = [similarity(base, 0.3 * t, 1.0, (shift * t, 0)) for t in range(count)]
    return [np.concatenate([v, v[:, ::-1]], axis=1) for v in views]  # two views per frame


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Six two-view sequences, one with a corrupt frame, as a clip table with sources."""
    root = tmp_path_factory.mktemp("parallel_data")
    rows = []
    for s in range(6):
        folder = root / f"seq{s}"
        folder.mkdir()
        for t, frame in enumerate(_frames(4 + s % 3, 0.4 + 0.1 * s)):
            cv2.imwrite(str(folder / f"{t + 1}.png"), frame[:, :, ::-1])
        for view in ("left", "right"):
            rows.append({"clip_id": f"seq{s}_{view}", "sequence_id": f"seq{s}", "view": view,
                         "subject": f"p{s % 3}", "source": str(folder), "Negative": s % 2,
                         "Positive": 1 - s % 2, "Repression": 0, "Surprise": 0, "Others": 0})
    (root / "seq3" / "2.png").write_bytes(b"not a png")
    ClipTable.from_frame(pd.DataFrame(rows)).write(root / "clips.csv")
    return root / "clips.csv"


def _files(store: Path) -> dict[str, bytes]:
    """Every file that defines the store's content (not the run log extract.json, with its
    timings, nor hidden files: the lock and a temporary that a kill -9 left half-written)."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.name != "extract.json" and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def one_process(dataset, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("one") / "store"
    summary = extract_parallel(ClipTable.read(dataset), store, SPECS,
                               ExtractionJob(PRE, jobs=1, progress=False))
    assert summary.written == 10 and {f.clip_id for f in summary.failures} == {
        "seq3_left", "seq3_right"}
    return store


def test_two_processes_write_the_store_of_one_byte_for_byte(dataset, one_process, tmp_path):
    store = tmp_path / "store"
    summary = extract_parallel(ClipTable.read(dataset), store, SPECS,
                               ExtractionJob(PRE, jobs=2, progress=False))
    assert summary.written == 10 and len(summary.failures) == 2
    expected = _files(one_process)
    assert {k for k in expected if k.endswith(".npy")} >= {"mesh3d/seq0_left.npy",
                                                         "flow/seq5_right.npy"}
    assert _files(store) == expected
    again = extract_parallel(ClipTable.read(dataset), store, SPECS,
                             ExtractionJob(PRE, jobs=2, progress=False))
    assert again.written == 0 and again.skipped == 10


def test_kill_9_midway_then_rerun_gives_the_same_bytes(dataset, one_process, tmp_path):
    store = tmp_path / "store"
    code = ("import sys; from mefuse.data.clips import ClipTable; "
            "from mefuse.preprocess.config import PreprocessConfig; "
            "from mefuse.extraction.job import ExtractionJob; "
            "from mefuse.extraction.parallel import extract_parallel; "
            "from mefuse.extraction.specs import ExtractorSpec; "
            "extract_parallel(ClipTable.read(sys.argv[1]), sys.argv[2], "
            "[ExtractorSpec('mesh3d'), ExtractorSpec('flow', {'size': 64})], "
            "ExtractionJob(PreprocessConfig(views='both', crop_size=128), jobs=2, "
            "progress=False))")
    process = subprocess.Popen([sys.executable, "-c", code, str(dataset), str(store)],
                               start_new_session=True)
    deadline = time.time() + 120
    while len(list((store / "flow").glob("*.npy"))) < 2 and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # the parent only: its workers must notice and stop
    process.wait(timeout=30)
    partial = len(list((store / "flow").glob("*.npy")))
    assert 2 <= partial < 10
    deadline = time.time() + 20
    while _children_alive(process.pid) and time.time() < deadline:
        time.sleep(0.2)
    assert not _children_alive(process.pid), "worker processes outlived their killed parent"
    subprocess.run([sys.executable, "-c", code, str(dataset), str(store)], check=True,
                   timeout=300)
    # quality.csv is written once, at the end of a run, for the clips that run prepared: the
    # clips finished before the kill have no row (as in the one-process path); the rest is equal
    resumed, clean = _files(store), _files(one_process)
    assert set(resumed) == set(clean)
    assert {k: v for k, v in resumed.items() if k != "quality.csv"} == {
        k: v for k, v in clean.items() if k != "quality.csv"}


def _children_alive(pid: int) -> bool:
    """Whether any process still has ``pid`` as its process group (the workers do)."""
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pid)], capture_output=True, text=True)
    return bool(out.stdout.strip())


def test_cli_refuses_several_jobs_for_a_model_extractor(dataset, tmp_path):
    result = subprocess.run(
        ["mefuse", "extract", "--clips", str(dataset), "--store", str(tmp_path / "s"),
         "-e", "flow", "-e", "radio", "--jobs", "2"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: --jobs 2 runs weight-free extractors")
    assert "Traceback" not in result.stderr
