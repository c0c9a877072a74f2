"""``extract``: per-clip failures, resume after a kill, and the configuration guard."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, similarity
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, StoreConfigMismatch
from mefuse.extraction.job import ExtractionJob, parse_shard, shard_clips
from mefuse.extraction.local import extract_table
from mefuse.features.appearance.flow import FlowExtractor
from mefuse.features.geometry.mesh3d import Mesh3DExtractor
from mefuse.preprocess.config import PreprocessConfig
from mefuse.store import FeatureStore

PRE = PreprocessConfig(views="none", crop_size=128)
JOB = ExtractionJob(PRE, progress=False)


def write_clip(folder: Path, frames: list[np.ndarray], ext: str = "png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        image = frame[:, :, ::-1] if frame.ndim == 3 else frame
        cv2.imwrite(str(folder / f"frame{t + 1}.{ext}"), image)
    return folder


def face_frames(count: int, size: int = 256) -> list[np.ndarray]:
    base = cv2.resize(astronaut()[0:300, 100:400], (size, size))
    return [similarity(base, 0.3 * t, 1.0, (0.5 * t, 0)) for t in range(count)]


def table_for(sources: dict[str, Path]) -> ClipTable:
    rows = [{"clip_id": clip, "sequence_id": clip, "view": "full", "subject": f"s{i % 3}",
             "source": str(path), "Negative": 1, "Positive": 0, "Repression": 0,
             "Surprise": 0, "Others": 0} for i, (clip, path) in enumerate(sources.items())]
    return ClipTable.from_frame(pd.DataFrame(rows))


@pytest.fixture(scope="module")
def good_clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return {f"c{i}": write_clip(root / f"c{i}", face_frames(4 + i % 3)) for i in range(6)}


def test_bad_input_is_reported_per_clip_and_the_others_finish(tmp_path, good_clips):
    frames = face_frames(4)
    sources = dict(list(good_clips.items())[:2])
    broken = write_clip(tmp_path / "broken", frames)
    (broken / "frame2.png").write_bytes(b"this is not a png")
    sources["unreadable"] = broken
    (tmp_path / "empty").mkdir()
    sources["empty"] = tmp_path / "empty"
    noise = np.random.default_rng(0).integers(0, 255, (4, 256, 256, 3), dtype=np.uint8)
    sources["noface"] = write_clip(tmp_path / "noface", list(noise))
    sources["single"] = write_clip(tmp_path / "single", frames[:1])
    sources["grey"] = write_clip(tmp_path / "grey", [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
                                                     for f in frames])
    sources["deep"] = write_clip(tmp_path / "deep", [f.astype(np.uint16) * 257 for f in frames])
    store = tmp_path / "store"
    summary = extract_table(table_for(sources), store, [Mesh3DExtractor(), FlowExtractor(size=64)],
                            JOB)
    failed = {f.clip_id: f for f in summary.failures}
    assert set(failed) == {"unreadable", "empty", "noface", "single"}
    assert "frame2.png" in failed["unreadable"].reason
    assert failed["noface"].stage == "detect"
    assert "1 frame" in failed["single"].reason
    written = set(FeatureStore(store).clip_ids("mesh3d"))
    assert written == {"c0", "c1", "grey", "deep"}
    assert set(FeatureStore(store).clip_ids("flow")) == written
    report = pd.read_csv(store / "failures.csv")
    assert set(report["clip_id"]) == set(failed)
    assert set(ClipTable.read(store / "clips.csv").clip_ids) == written
    # grey and 16-bit frames give the same features as the 8-bit colour clip they came from
    grey, deep = FeatureStore(store).load("flow", ["grey", "deep"])
    assert grey.shape == deep.shape == (4, 192)
    np.testing.assert_allclose(deep, grey, atol=0.02)


def _store_contents(root: Path) -> dict[str, np.ndarray]:
    return {f"{p.parent.name}/{p.stem}": np.load(p) for p in sorted(root.glob("*/*.npy"))}


def test_kill_midway_then_rerun_equals_an_uninterrupted_run(tmp_path, good_clips):
    clips_csv = tmp_path / "clips.csv"
    table_for(good_clips).write(clips_csv)
    script = textwrap.dedent(f"""
        import sys, time
        from mefuse.data.clips import ClipTable
        from mefuse.features.appearance.flow import FlowExtractor
        from mefuse.extraction.job import ExtractionJob
        from mefuse.extraction.local import extract_table
        from mefuse.preprocess.config import PreprocessConfig

        class Slow(FlowExtractor):
            def extract_clip(self, frames):
                time.sleep(float(sys.argv[2]))
                return super().extract_clip(frames)

        extract_table(ClipTable.read({str(clips_csv)!r}), sys.argv[1], [Slow(size=64)],
                      ExtractionJob(PreprocessConfig(views="none", crop_size=128), progress=False))
    """)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run([sys.executable, "-c", script, str(clean), "0"], check=True, timeout=300)
    process = subprocess.Popen([sys.executable, "-c", script, str(killed), "1.0"],
                               start_new_session=True)
    deadline = time.time() + 120
    while len(list((killed / "flow").glob("*.npy"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(list((killed / "flow").glob("*.npy")))
    assert 2 <= partial < len(good_clips)
    assert not list((killed / "flow").glob("*.tmp"))  # atomic writes leave no half file behind
    subprocess.run([sys.executable, "-c", script, str(killed), "0"], check=True, timeout=300)
    first, second = _store_contents(clean), _store_contents(killed)
    assert first.keys() == second.keys() and len(first) == len(good_clips)
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])
    manifests = [json.loads((root / "flow" / "manifest.json").read_text())
                 for root in (clean, killed)]
    assert manifests[0]["clips"] == manifests[1]["clips"]
    assert manifests[0]["params"] == manifests[1]["params"]
    # quality.csv covers the clips finished before the kill too (issue 18 item 11)
    from mefuse.store.quality import read_quality

    assert sorted(read_quality(killed)["clip_id"]) == sorted(good_clips)
    assert read_quality(killed).equals(read_quality(clean))


def test_changed_configuration_is_refused_unless_overwrite(tmp_path, good_clips):
    table = table_for(dict(list(good_clips.items())[:2]))
    store = tmp_path / "store"
    extract_table(table, store, [FlowExtractor(size=64)], JOB)
    with pytest.raises(StoreConfigMismatch, match="size"):
        extract_table(table, store, [FlowExtractor(size=96)], JOB)
    with pytest.raises(StoreConfigMismatch, match="crop_size"):
        extract_table(table, store, [FlowExtractor(size=64)],
                      ExtractionJob(PreprocessConfig(views="none", crop_size=160), progress=False))
    summary = extract_table(table, store, [FlowExtractor(size=96)],
                            dataclasses.replace(JOB, overwrite=True))
    assert summary.written == 2
    again = extract_table(table, store, [FlowExtractor(size=96)], JOB)
    assert again.written == 0 and again.skipped == 2


def test_shards_split_the_clips_without_overlap():
    clips = [f"c{i:02d}" for i in range(11)]
    parts = [shard_clips(clips, parse_shard(f"{k}/3")) for k in (0, 1, 2)]
    assert set().union(*parts) == set(clips)
    assert sum(len(p) for p in parts) == len(clips)
    assert parse_shard(None) == (0, 1)
    with pytest.raises(ConfigError, match="0 <= K < N"):
        parse_shard("3/3")


def test_cli_extract_from_a_4dmr_layout_reports_a_label_row_without_frames(tmp_path):
    from typer.testing import CliRunner

    from mefuse.cli.main import app

    root = tmp_path / "4dmr"
    frames = face_frames(3)
    pairs = [np.concatenate([f, f[:, ::-1]], axis=1) for f in frames]  # two views per frame
    for sequence in (1, 2):
        write_clip(root / "train" / f"{sequence:03d}", pairs)
    labels = root / "train_labels.csv"
    labels.write_text("Id,Subject,Negative,Positive,Repression,Surprise,Others\n"
                      "1,a,1,0,0,0,0\n2,b,0,1,0,0,0\n7,c,0,0,1,0,0\n")
    store = tmp_path / "store"
    result = CliRunner().invoke(app, [
        "extract", "--dataset", "4dmr", "--root", str(root), "--labels", str(labels),
        "--store", str(store), "-e", "flow", "--option", "flow.size=64", "--crop-size", "128",
        "--quiet"])
    assert result.exit_code == 0, result.output
    assert "4 extracted" in result.output
    table = ClipTable.read(store / "clips.csv")
    assert sorted(table.clip_ids) == ["1_left", "1_right", "2_left", "2_right"]
    report = pd.read_csv(store / "failures.csv")
    assert (report["stage"] == "dataset").any()
    assert report["reason"].str.contains("7").any()
    manifest = json.loads((store / "flow" / "manifest.json").read_text())
    assert manifest["params"]["size"] == 64


# ---------------------------------------------------------- issue 18: one store, many tables
def test_a_second_clip_table_is_merged_into_the_store_never_replacing_it(tmp_path, good_clips):
    from mefuse.errors import DataError

    store = tmp_path / "store"
    first = dict(list(good_clips.items())[:4])
    extract_table(table_for(first), store, [FlowExtractor(size=64)], JOB)
    labelled = ClipTable.read(store / "clips.csv")
    assert labelled.labelled.all() and len(labelled) == 4
    second = table_for(dict(list(good_clips.items())[4:])).frame
    second[["Negative", "Positive", "Repression", "Surprise", "Others"]] = np.nan
    extract_table(ClipTable.from_frame(second), store, [FlowExtractor(size=64)], JOB)
    merged = ClipTable.read(store / "clips.csv")
    assert merged.clip_ids == [*first, "c4", "c5"]
    assert int(merged.labelled.sum()) == 4  # every label is kept
    pd.testing.assert_frame_equal(merged.frame.iloc[:4], labelled.frame, check_dtype=False)
    # a rerun of the first table (unlabelled this time) keeps the labels it had
    again = table_for(first).frame
    again[["Negative", "Positive", "Repression", "Surprise", "Others"]] = np.nan
    extract_table(ClipTable.from_frame(again), store, [FlowExtractor(size=64)], JOB)
    assert int(ClipTable.read(store / "clips.csv").labelled.sum()) == 4
    # one id from another source is an error, before anything is extracted or written
    before = (store / "clips.csv").read_bytes()
    clash = table_for({"c0": good_clips["c5"]})
    with pytest.raises(DataError, match=r"clip 'c0' is already in the store .* from "):
        extract_table(clash, store, [FlowExtractor(size=64)], JOB)
    assert (store / "clips.csv").read_bytes() == before


def test_extract_cli_takes_a_clip_table_without_class_columns(tmp_path, good_clips):
    table = tmp_path / "clips.csv"
    pd.DataFrame({"clip_id": ["c0", "c1"], "sequence_id": ["c0", "c1"], "view": "full",
                  "subject": ["s0", "s1"], "source": [str(good_clips["c0"]),
                                                      str(good_clips["c1"])]}).to_csv(
        table, index=False)
    store = tmp_path / "store"
    result = subprocess.run(["mefuse", "extract", "--clips", str(table), "-s", str(store),
                             "-e", "flow", "--option", "flow.size=64", "--crop-size", "128",
                             "-q"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    stored = ClipTable.read(store / "clips.csv")
    assert stored.clip_ids == ["c0", "c1"] and not stored.labelled.any()


def test_an_extraction_job_is_checked_once_when_made():
    """Every run option is checked where the job is made, with the flag's name, so a typo fails
    before any data is read, whichever door (CLI, Python, predict, demo, Ray) made the job."""
    job = ExtractionJob(PRE, shard="2/8", save_crops="crops", workers=0)
    assert job.shard == (2, 8) and job.save_crops == Path("crops") and job.workers == 0
    assert ExtractionJob(PRE, save_crops="").save_crops is None
    assert ExtractionJob().preprocess == PreprocessConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.overwrite = True  # type: ignore[misc]
    for options, words in [({"jobs": 0}, "--jobs must be at least 1, got 0"),
                           ({"workers": -1}, "--workers must be 0 or more"),
                           ({"batch_clips": 0}, "--batch-clips must be at least 1"),
                           ({"shard": "3/3"}, "0 <= K < N"),
                           ({"shard": (3, 3)}, "0 <= K < N, got 3/3"),
                           ({"shard": "x"}, "--shard takes K/N"),
                           ({"preprocess": {"crop_size": 64}}, "must be a PreprocessConfig")]:
        with pytest.raises(ConfigError, match=words):
            ExtractionJob(**{"preprocess": PRE, **options})  # type: ignore[arg-type]


def test_extract_cli_refuses_a_bad_run_option_before_reading_data(tmp_path):
    for flags, words in [(["--batch-clips", "0"], "Invalid value for '--batch-clips': Input "
                          "should be greater than or equal to 1 (see 'mefuse extract --help')"),
                         (["--shard", "2/2"], "--shard K/N needs 0 <= K < N, got '2/2'"),
                         (["--jobs", "0"], "--jobs must be at least 1, got 0")]:
        result = subprocess.run(["mefuse", "extract", "-s", str(tmp_path / "s"), "-e", "flow",
                                 "--clips", str(tmp_path / "none.csv"), *flags],
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [f"error: {words}"]
        assert not (tmp_path / "s").exists()
