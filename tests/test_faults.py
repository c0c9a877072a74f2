"""Issue 11: every bad input and fault gets a clear answer. One regression test (at least) per
defect found by the attack; each reproduced the defect before its fix."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mefuse.data.clips import ClipTable, is_safe_id
from mefuse.errors import DataError, StorageError, StoreConfigMismatch
from mefuse.store import FeatureStore
from mefuse.utils import atomic
from mefuse.utils.npyfile import inspect_npy

CONFIG = {"extractor": "toy", "params": {"size": 4}, "weights": None, "preprocess": None}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def mefuse(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it."""
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, timeout=timeout,
                          env=ENV)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    return result.stderr


def write_store(root: Path, clips: dict[str, int], dim: int = 3, key: str = "toy"):
    store = FeatureStore(root)
    with store.writer(key, CONFIG) as writer:
        for index, (clip, frames) in enumerate(clips.items()):
            writer.write(clip, np.full((frames, dim), index + 0.5, dtype=np.float32))
    return store


def huge_header(path: Path, shape=(100_000_000_000, 24)) -> None:
    """A .npy whose header claims a shape far larger than memory, with no data."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)


# ------------------------------------------------------------------ 2 and 10: bad .npy files
@pytest.mark.parametrize("damage, words", [
    ("empty", "the file is empty"),
    ("truncated", "truncated"),
    ("huge", "truncated: the header announces shape (100000000000, 24)"),
    ("complex", "complex numbers"),
])
def test_bad_feature_files_are_named_not_crashed_on(tmp_path, damage, words):
    store = write_store(tmp_path, {"a": 3, "b": 4})
    path = tmp_path / "toy" / "b.npy"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-7])
    elif damage == "huge":
        huge_header(path)
    else:
        np.save(path, np.ones((4, 3), dtype=np.complex64) * 1j)
    with pytest.raises(DataError) as info:
        store.load("toy", ["a", "b"])
    assert str(path) in str(info.value) and words in str(info.value)


def test_cv_names_a_corrupt_feature_file_instead_of_saying_interrupted(demo_store, tmp_path):
    root, _ = demo_store
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    victim = sorted((copy / "signal").glob("*.npy"))[3]
    victim.write_bytes(b"")
    result = mefuse("cv", "--store", str(copy), "-m", "signal", "--strategy", "single",
                    "--epochs", "1", "--seeds", "0", "--out", str(tmp_path / "run"), "--quiet")
    stderr = one_error_line(result)
    assert str(victim) in stderr and "interrupted" not in stderr


def test_a_resumed_writer_redoes_corrupt_outputs(tmp_path):
    write_store(tmp_path, {"a": 3, "b": 4, "c": 5, "d": 2})
    folder = tmp_path / "toy"
    (folder / "b.npy").write_bytes(b"")
    (folder / "c.npy").write_bytes((folder / "c.npy").read_bytes()[:-5])
    huge_header(folder / "d.npy")
    with FeatureStore(tmp_path).writer("toy", CONFIG) as writer:
        assert writer.has("a")
        assert not any(writer.has(c) for c in "bcd")
        assert not any((folder / f"{c}.npy").exists() for c in "bcd")
        writer.write("b", np.zeros((4, 3), np.float32))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["clips"] == {"a": 3, "b": 4}
    assert [x.shape for x in FeatureStore(tmp_path).load("toy", ["a", "b"])] == [(3, 3), (4, 3)]


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_an_invalid_manifest_is_named_and_overwrite_replaces_it(tmp_path, text):
    write_store(tmp_path, {"a": 3})
    manifest = tmp_path / "toy" / "manifest.json"
    manifest.write_text(text)
    with pytest.raises(StoreConfigMismatch) as info:
        FeatureStore(tmp_path).writer("toy", CONFIG)
    assert str(manifest) in str(info.value) and "--overwrite" in str(info.value)
    with pytest.raises(DataError, match="manifest.json"):
        FeatureStore(tmp_path).info("toy")
    with FeatureStore(tmp_path).writer("toy", CONFIG, overwrite=True) as writer:
        assert not writer.has("a")
        writer.write("a", np.zeros((2, 3), np.float32))
    assert json.loads(manifest.read_text())["clips"] == {"a": 2}


def test_extract_resume_redoes_a_corrupt_output_and_a_garbled_manifest_is_named(tmp_path):
    from mefuse.extraction.local import extract_table
    from mefuse.features.appearance.flow import FlowExtractor
    from test_extract import JOB, face_frames, table_for, write_clip

    sources = {f"c{i}": write_clip(tmp_path / "src" / f"c{i}", face_frames(3)) for i in range(2)}
    table = table_for(sources)
    store = tmp_path / "store"
    extract_table(table, store, [FlowExtractor(size=64)], JOB)
    good = np.load(store / "flow" / "c1.npy")
    (store / "flow" / "c1.npy").write_bytes(b"\x93NUMPY")
    again = extract_table(table, store, [FlowExtractor(size=64)], JOB)
    assert (again.written, again.skipped) == (1, 1)
    np.testing.assert_array_equal(np.load(store / "flow" / "c1.npy"), good)
    (store / "flow" / "manifest.json").write_text("{")
    with pytest.raises(StoreConfigMismatch, match="manifest.json is not valid JSON"):
        extract_table(table, store, [FlowExtractor(size=64)], JOB)


def test_complex_coefficients_are_refused_on_import(tmp_path):
    from mefuse.extraction.importers import import_coefficients

    source = tmp_path / "src"
    source.mkdir()
    np.save(source / "c1.npy", np.ones((3, 4)) + 2j)
    np.save(source / "c2.npy", np.ones((3, 4)))
    report = import_coefficients(source, tmp_path / "store", "imp")
    assert report.written == ["c2"] and "complex" in report.failed["c1"]


def test_npy_checks_accept_what_numpy_writes(tmp_path):
    for dtype in (np.float32, np.float64, np.int16):
        np.save(tmp_path / "x.npy", np.arange(12, dtype=dtype).reshape(3, 4))
        assert inspect_npy(tmp_path / "x.npy").shape == (3, 4)
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((3, 4), np.float32)))
    assert inspect_npy(tmp_path / "f.npy").fortran_order


# ------------------------------------------------------------------ 3: workers die with parent
BENCH_PARENT = textwrap.dedent("""
    import sys
    from mefuse.bench.runner import plan_bench, run_bench
    from mefuse.demo.features import DemoSpec, make_demo_store

    root, out = sys.argv[1], sys.argv[2]
    spec = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                    min_frames=10, max_frames=16)
    table = make_demo_store(root, spec, seed=1)
    slow = {"seeds": [0], "optim": {"epochs": 100000, "batch_size": 16, "warmup_epochs": 0},
            "model": {"frames": 8, "dim": 16, "hidden": 16, "queries": 2}}
    plan = plan_bench(root, table, slow, variants=["single"], kinds={})
    run_bench(plan, table, out, jobs=2)
""")


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_bench_workers_die_with_a_killed_parent(tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", BENCH_PARENT, str(tmp_path / "store"),
                               str(tmp_path / "bench")], env=ENV)
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(workers) < 2:
            workers = {p for p in _children(parent.pid)
                       if "spawn_main" in Path(f"/proc/{p}/cmdline").read_text(errors="ignore")}
            time.sleep(0.5)
        assert len(workers) == 2, "the bench did not start two workers"
        time.sleep(8)  # let the workers import torch and start their cells
        assert all(_alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "workers outlived their parent"
    finally:
        for pid in [parent.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        parent.wait(timeout=10)


# ------------------------------------------------------------------ 4 and 11: shards
def _broken_table(tmp_path: Path, count: int) -> ClipTable:
    rows = []
    for i in range(count):
        (tmp_path / "src" / f"b{i}").mkdir(parents=True)  # no frames: fails at "read"
        rows.append({"clip_id": f"b{i}", "sequence_id": f"b{i}", "view": "full",
                     "subject": f"s{i}", "source": str(tmp_path / "src" / f"b{i}"),
                     "Negative": 1, "Positive": 0, "Repression": 0, "Surprise": 0,
                     "Others": 0})
    return ClipTable.from_frame(pd.DataFrame(rows))


def test_failures_csv_is_merged_across_shards(tmp_path):
    from mefuse.extraction.job import ExtractionJob
    from mefuse.extraction.local import extract_table
    from mefuse.features.appearance.flow import FlowExtractor
    from mefuse.preprocess.config import PreprocessConfig

    table = _broken_table(tmp_path, 4)
    store = tmp_path / "store"
    pre = PreprocessConfig(views="none", crop_size=64)

    def job(**options):
        return ExtractionJob(pre, progress=False, **options)
    for shard in ((0, 2), (1, 2)):
        extract_table(table, store, [FlowExtractor(size=32)], job(shard=shard))
    failures = pd.read_csv(store / "failures.csv")
    assert sorted(failures["clip_id"]) == ["b0", "b1", "b2", "b3"]
    # a rerun of one shard replaces that shard's rows only, without duplicating them
    extract_table(table, store, [FlowExtractor(size=32)], job(shard=(1, 2)))
    assert sorted(pd.read_csv(store / "failures.csv")["clip_id"]) == ["b0", "b1", "b2", "b3"]


def test_overwrite_with_shards_says_the_true_rule(tmp_path):
    from mefuse.extraction.job import ExtractionJob
    from mefuse.extraction.local import extract_table
    from mefuse.features.appearance.flow import FlowExtractor
    from mefuse.preprocess.config import PreprocessConfig

    table = _broken_table(tmp_path, 4)
    store = tmp_path / "store"
    pre = PreprocessConfig(views="none", crop_size=64)

    def job(**options):
        return ExtractionJob(pre, progress=False, **options)
    extract_table(table, store, [FlowExtractor(size=32)], job())
    with pytest.raises(StoreConfigMismatch) as info:
        extract_table(table, store, [FlowExtractor(size=48)], job(shard=(1, 2), overwrite=True))
    message = str(info.value)
    assert "applied by shard 0/2 only" in message and "size" in message
    assert "pass --overwrite" not in message
    extract_table(table, store, [FlowExtractor(size=48)], job(shard=(0, 2), overwrite=True))
    extract_table(table, store, [FlowExtractor(size=48)],
                  job(shard=(1, 2), overwrite=True))  # now the store has this configuration


# ------------------------------------------------------------------ 5: read-only, disk full
def test_a_failed_write_names_the_path_and_cause_and_keeps_what_was_written(tmp_path,
                                                                             monkeypatch):
    store = write_store(tmp_path, {"a": 3})
    before = (tmp_path / "toy" / "a.npy").read_bytes()
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with store.writer("toy", CONFIG) as writer:
        monkeypatch.setattr(atomic.os, "replace", full)
        with pytest.raises(StorageError) as info:
            writer.write("b", np.zeros((2, 3), np.float32))
        monkeypatch.setattr(atomic.os, "replace", real_replace)
    message = str(info.value)
    assert str(tmp_path / "toy" / "b.npy") in message and "No space left on device" in message
    assert (tmp_path / "toy" / "a.npy").read_bytes() == before
    assert not list((tmp_path / "toy").glob(".*.tmp")) and not (tmp_path / "toy/b.npy").exists()
    short = atomic.storage_error(tmp_path / "x", OSError("4800 requested and 2016 written"))
    assert "only 2016 of 4800 bytes" in str(short) and "full" in str(short)


def test_a_folder_that_cannot_be_made_is_one_storage_error(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(StorageError, match=r"cannot write .*out: Read-only file system"):
        atomic.make_dirs(tmp_path / "out")
    with pytest.raises(StorageError, match="Read-only file system"):
        FeatureStore(tmp_path / "store").writer("toy", CONFIG)


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 256 KiB tmpfs (root only; skipped elsewhere: the test above injects the same fault)."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_import_into_a_full_then_read_only_disk_is_one_error_line(tmp_path, small_tmpfs):
    source = tmp_path / "coeffs"
    source.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        np.save(source / f"c{i:02d}.npy", rng.normal(size=(100, 100)))  # 40 KB each as float32
    store = small_tmpfs / "store"
    stderr = one_error_line(mefuse("import-coeffs", str(source), "--store", str(store),
                                   "--key", "imp"))
    assert "No space left on device" in stderr or "bytes could be written" in stderr
    assert str(store / "imp") in stderr
    written = FeatureStore(store).clip_ids("imp")
    assert written  # what fitted before the disk filled is intact
    for clip, array in zip(written, FeatureStore(store).load("imp", written), strict=True):
        expected = np.load(source / f"{clip}.npy").astype(np.float32)
        np.testing.assert_array_equal(array, expected)
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    stderr = one_error_line(mefuse("import-coeffs", str(source), "--store", str(store),
                                   "--key", "other"))
    assert "Read-only file system" in stderr and str(store / "other") in stderr


# ------------------------------------------------------------------ 7: stale temporaries
def test_stale_temporaries_of_the_store_are_removed_on_the_next_run(tmp_path):
    import fcntl

    write_store(tmp_path, {"a": 3})
    folder = tmp_path / "toy"
    stale = [folder / ".b.npy.k2j3h4.tmp", folder / ".manifest.json.x1y2z3.tmp",
             tmp_path / ".clips.csv.q9w8e7.tmp"]
    live, fresh = folder / ".c.npy.aaaaaa.tmp", folder / ".d.npy.bbbbbb.tmp"
    old = time.time() - 3600
    for path in [*stale, live, fresh]:
        path.write_bytes(b"partial")
    for path in [*stale, live]:
        os.utime(path, (old, old))
    keep = folder / "notes.tmp"
    keep.write_text("not ours")
    os.utime(keep, (old, old))
    with open(live, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a live writer in another process
        with FeatureStore(tmp_path).writer("toy", CONFIG):
            pass
    assert not any(p.exists() for p in stale)
    assert live.exists() and fresh.exists() and keep.exists()


# ------------------------------------------------------------------ 8: import-coeffs escapes
@pytest.mark.parametrize("key", ["../../escaped", "/abs/key", "..", ".hidden", "a/b", "-rf"])
def test_import_key_cannot_escape_the_store(tmp_path, key):
    source = tmp_path / "src"
    source.mkdir()
    np.save(source / "c1.npy", np.ones((3, 4)))
    store = tmp_path / "deep" / "store"
    stderr = one_error_line(mefuse("import-coeffs", str(source), "--store", str(store),
                                   "--key", key))
    assert "extractor key" in stderr
    assert not list(tmp_path.rglob("c1.npy"))[1:]  # only the source file exists
    assert not (tmp_path / "escaped").exists()


def test_imported_clip_ids_follow_the_clip_table_rule(tmp_path):
    from mefuse.extraction.importers import import_coefficients

    source = tmp_path / "src"
    source.mkdir()
    for name in ("good_1", "clip with space", ".hidden", "-rf", "naïve"):
        np.save(source / f"{name}.npy", np.ones((3, 4)))
    report = import_coefficients(source, tmp_path / "store", "imp")
    assert report.written == ["good_1"]
    assert set(report.failed) == {"clip with space", ".hidden", "-rf", "naïve"}
    assert FeatureStore(tmp_path / "store").clip_ids("imp") == ["good_1"]
    for name in ("clip with space", ".hidden", "-rf", "naïve", "..", ""):
        assert not is_safe_id(name)
    frame = pd.DataFrame([{"clip_id": "-rf", "sequence_id": "s", "view": "full",
                           "subject": "p", **dict.fromkeys(
                               ["Negative", "Positive", "Repression", "Surprise", "Others"],
                               0)}])
    with pytest.raises(DataError, match="cannot name a file"):
        ClipTable.from_frame(frame)


# ------------------------------------------------------------------ 9 and 15: submissions
HEADER = "Id,Negative,Positive,Repression,Surprise,Others"


def test_submit_validate_ascii_ids_spaces_and_final_newline(tmp_path):
    from mefuse.submit import submission_problems

    rows = "1,0,1,0,0,0\n2,1,0,0,0,1\n3,0,0,1,0,0\n"
    assert submission_problems(HEADER + "\n" + rows + "\n") == []  # an extra final newline
    arabic = submission_problems(HEADER + "\n" + rows + "\u0664,0,0,0,0,1\n")
    assert any("ASCII digits" in p for p in arabic)
    spaced = submission_problems(HEADER.replace(",", ", ") + "\n" + rows)
    assert len(spaced) == 1 and "spaces" in spaced[0] and "order" not in spaced[0]
    blank_inside = submission_problems(HEADER + "\n1,0,1,0,0,0\n\n2,1,0,0,0,1\n")
    assert blank_inside == ["line 3 is blank"]
    path = tmp_path / "sub.csv"
    path.write_text(HEADER + "\n" + rows.replace("3,", "\u0663,"))
    stderr = one_error_line(mefuse("submit", "--validate", str(path)))
    assert "ASCII" in stderr


def test_the_submission_id_is_the_last_integer_and_agrees_with_the_adapter(tmp_path):
    from mefuse.data.adapters.fourdmr import discover_sequences
    from mefuse.submit import sequence_number

    assert sequence_number("12") == 12  # the challenge's names: first == last
    assert sequence_number("4DMR_12") == 12  # the authors' first-integer rule would give 4
    assert sequence_number("seq_012") == 12
    with pytest.raises(DataError):
        sequence_number("\u0661\u0662")  # non-ASCII digits are not an Id
    for name in ("4DMR_12", "7"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "frame1.png").write_bytes(b"")
    found, _ = discover_sequences(tmp_path)
    assert sorted(found) == [7, 12]


# ------------------------------------------------------------------ 12: header-only labels
def test_check_data_refuses_a_header_only_labels_csv(tmp_path):
    root = tmp_path / "4dmr"
    (root / "train" / "001").mkdir(parents=True)
    import cv2

    cv2.imwrite(str(root / "train" / "001" / "frame1.png"), np.zeros((8, 16, 3), np.uint8))
    labels = tmp_path / "labels.csv"
    labels.write_text(HEADER + "\n")
    stderr = one_error_line(mefuse("check-data", "--dataset", "4dmr", "--root", str(root),
                                   "--labels", str(labels)))
    assert str(labels) in stderr and "no rows" in stderr


# ------------------------------------------------------------------ 14: single-label merge
def test_single_label_sequences_get_one_class_from_merged_probabilities():
    from mefuse.train.cv import _scored

    # view L is sure of class a (0.9); view R prefers b (0.6 vs 0.3): OR of the two arg-max
    # decisions would give the sequence both a and b; the merged probabilities give a only.
    frame = pd.DataFrame({
        "sequence_id": ["s", "s", "t", "t"],
        "p_a": [0.9, 0.3, 0.1, 0.2], "p_b": [0.05, 0.6, 0.8, 0.7],
        "p_c": [0.05, 0.1, 0.1, 0.1],
        "y_a": [1, 1, 0, 0], "y_b": [0, 0, 1, 1], "y_c": [0, 0, 0, 0],
        "pred_a": [1, 0, 0, 0], "pred_b": [0, 1, 1, 1], "pred_c": [0, 0, 0, 0],
        "t_a": 0.5, "t_b": 0.5, "t_c": 0.5})
    _, pred = _scored(frame, ["a", "b", "c"], "sequence", "singlelabel")
    assert pred.tolist() == [[1, 0, 0], [0, 1, 0]] and (pred.sum(axis=1) == 1).all()
    _, multi = _scored(frame, ["a", "b", "c"], "sequence", "multilabel")
    assert multi.tolist() == [[1, 1, 0], [0, 1, 0]]  # multi-label: per-class OR, as before


def test_predict_merges_single_label_views_into_one_class(demo_store, tmp_path):
    from mefuse.train.config import CVConfig
    from mefuse.train.fit import fit_on_store, predict_store

    root, table = demo_store
    config = CVConfig(modalities=["signal"], strategy="single", task="singlelabel",
                      optim={"epochs": 1, "batch_size": 16, "warmup_epochs": 0},
                      model={"frames": 8, "dim": 16, "hidden": 16, "queries": 2})
    classes = list(table.classes)
    frame = table.frame.copy()
    codes = pd.factorize(frame["sequence_id"])[0] % len(classes)  # one class per sequence
    for c, name in enumerate(classes):
        frame[name] = (codes == c).astype(int)
    single = ClipTable.from_frame(frame, classes)
    estimator = fit_on_store(root, single, config, seed=0)
    _, sequence_frame = predict_store(estimator, root, single)
    assert (sequence_frame[classes].sum(axis=1) == 1).all()
    merged = sequence_frame[[f"p_{c}" for c in classes]].to_numpy().argmax(axis=1)
    assert (sequence_frame[classes].to_numpy().argmax(axis=1) == merged).all()


# ------------------------------------------------------------------ 15: documented choices
def test_sampling_rounds_half_up_unlike_the_authors_round():
    from mefuse.preprocess import sampling
    from mefuse.preprocess.sampling import uniform_indices

    authors = [round(i * 5 / 2) for i in range(3)]  # Python's round: half to even
    assert authors == [0, 2, 5]
    assert uniform_indices(6, 3).tolist() == [0, 3, 5]
    assert "half to even" in sampling.__doc__ and "0, 3, 5" in sampling.__doc__


def test_docstrings_name_no_file_outside_the_repository():
    root = Path(__file__).resolve().parents[1]
    for path in (root / "src").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "DESIGN.md" not in text and "FACTS.md" not in text, path
