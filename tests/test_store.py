"""The feature store: atomic writes, manifests, resume, configuration guard, read checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mefuse.errors import DataError, StoreConfigMismatch
from mefuse.store import FeatureStore

CONFIG = {"extractor": "toy", "params": {"size": 4}, "weights": None,
          "preprocess": {"crop": 256}}


def write_clips(root, clips, config=CONFIG, key="toy", dim=3):
    store = FeatureStore(root)
    with store.writer(key, config) as writer:
        for clip, frames in clips.items():
            writer.write(clip, np.full((frames, dim), 0.5, dtype=np.float32))
    return store


def test_round_trip_and_manifest(tmp_path):
    store = write_clips(tmp_path, {"a": 3, "b": 5})
    arrays = store.load("toy", ["b", "a"])
    assert [a.shape for a in arrays] == [(5, 3), (3, 3)]
    assert arrays[0].dtype == np.float32
    manifest = json.loads((tmp_path / "toy" / "manifest.json").read_text())
    assert manifest["clips"] == {"a": 3, "b": 5}
    assert manifest["dim"] == 3
    assert manifest["params"] == {"size": 4} and manifest["preprocess"] == {"crop": 256}
    assert "mefuse_version" in manifest
    assert not list((tmp_path / "toy").glob("*.tmp"))
    assert store.extractor_keys() == ["toy"]


def test_changed_configuration_is_refused_unless_overwrite(tmp_path):
    write_clips(tmp_path, {"a": 3})
    other = {**CONFIG, "params": {"size": 8}}
    with pytest.raises(StoreConfigMismatch, match="params.*size"):
        FeatureStore(tmp_path).writer("toy", other)
    with FeatureStore(tmp_path).writer("toy", other, overwrite=True) as writer:
        assert not writer.has("a")
    assert not (tmp_path / "toy" / "a.npy").exists()


def test_resume_skips_written_clips_and_reconciles_a_crash(tmp_path):
    write_clips(tmp_path, {"a": 3})
    # a crash after a file write but before the manifest flush leaves an uncounted file
    np.save(tmp_path / "toy" / "b.npy", np.zeros((7, 3), dtype=np.float32))
    writer = FeatureStore(tmp_path).writer("toy", CONFIG)
    assert writer.has("a") and writer.has("b") and not writer.has("c")
    manifest = json.loads((tmp_path / "toy" / "manifest.json").read_text())
    assert manifest["clips"] == {"a": 3, "b": 7}


def test_writer_refuses_nan_and_a_second_width(tmp_path):
    with FeatureStore(tmp_path).writer("toy", CONFIG) as writer:
        writer.write("a", np.zeros((2, 3)))
        with pytest.raises(DataError, match="'b'.*4 features"):
            writer.write("b", np.zeros((2, 4)))
        with pytest.raises(DataError, match="'c'.*NaN"):
            writer.write("c", np.full((2, 3), np.nan))
    assert not (tmp_path / "toy" / "b.npy").exists()
    assert not (tmp_path / "toy" / "c.npy").exists()


def test_missing_clip_is_named(tmp_path):
    store = write_clips(tmp_path, {"a": 3})
    with pytest.raises(DataError, match="no file for clip.*'?zz"):
        store.load("toy", ["a", "zz"])


def test_different_widths_name_both_clips(tmp_path):
    (tmp_path / "imp").mkdir()
    np.save(tmp_path / "imp" / "c1.npy", np.zeros((4, 3), dtype=np.float32))
    np.save(tmp_path / "imp" / "c2.npy", np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(DataError, match="'c2' has 5 features.*'c1' has 3"):
        FeatureStore(tmp_path).load("imp", ["c1", "c2"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_clip_and_position(tmp_path, bad):
    (tmp_path / "imp").mkdir()
    array = np.zeros((4, 3), dtype=np.float32)
    array[2, 1] = bad
    np.save(tmp_path / "imp" / "c1.npy", array)
    with pytest.raises(DataError, match="'c1' has NaN or Inf.*frame 2, feature 1"):
        FeatureStore(tmp_path).load("imp", ["c1"])


def test_imported_features_without_manifest_load(tmp_path):
    (tmp_path / "ext").mkdir()
    np.save(tmp_path / "ext" / "x.npy", np.ones((6, 2), dtype=np.float64))
    store = FeatureStore(tmp_path)
    assert store.extractor_keys() == ["ext"]
    assert store.load("ext", ["x"])[0].dtype == np.float32
    assert store.info("ext").manifest["extractor"] == "ext"


def test_unknown_extractor_and_missing_store(tmp_path):
    write_clips(tmp_path, {"a": 3})
    with pytest.raises(DataError, match="no extractor 'nope' \\(available: toy\\)"):
        FeatureStore(tmp_path).load("nope", ["a"])
    with pytest.raises(DataError, match="does not exist"):
        FeatureStore(tmp_path / "missing").load("toy", ["a"])


def test_wrong_shape_and_unreadable_file(tmp_path):
    (tmp_path / "imp").mkdir()
    np.save(tmp_path / "imp" / "c1.npy", np.zeros((2, 3, 4), dtype=np.float32))
    (tmp_path / "imp" / "c2.npy").write_bytes(b"not numpy")
    store = FeatureStore(tmp_path)
    with pytest.raises(DataError, match=r"'c1' has shape \(2, 3, 4\)"):
        store.load("imp", ["c1"])
    with pytest.raises(DataError, match="c2.npy: cannot be read"):
        store.load("imp", ["c2"])


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from mefuse.utils.atomic import write_json

    write_json(tmp_path / "x.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    mode = stat.S_IMODE((tmp_path / "x.json").stat().st_mode)
    assert mode == 0o666 & ~mask


def test_a_clip_id_from_another_source_is_refused_and_the_same_source_is_not(tmp_path):
    """Issue 18 HIGH 1: one store, several clip tables; an id clash is an error."""
    import pandas as pd

    from mefuse.data.clips import ClipTable
    from mefuse.errors import DataError
    from mefuse.store.reports import check_clip_sources

    def table(source: str) -> ClipTable:
        return ClipTable.for_prediction(pd.DataFrame(
            {"clip_id": ["a"], "sequence_id": ["a"], "view": ["full"], "subject": ["s"],
             "source": [source]}), ["Negative"], source="test")

    pd.DataFrame({"clip_id": ["a"], "source": ["videos/a.mp4"]}).to_csv(
        tmp_path / "clips.csv", index=False)
    check_clip_sources(tmp_path, table("/data/videos/a.mp4"))  # relative: written elsewhere
    check_clip_sources(tmp_path, table("videos/a.mp4"))
    with pytest.raises(DataError, match="clip 'a' is already in the store .* from videos/a.mp4"):
        check_clip_sources(tmp_path, table("/data/videos/b.mp4"))


# --------------------------------------------------------------------------- the door
def test_feature_store_opens_at_the_door_and_owns_its_files(tmp_path):
    from mefuse.demo.features import DemoSpec, make_demo_store
    from mefuse.store import layout

    with pytest.raises(DataError, match="does not exist"):
        FeatureStore.open(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file, not a folder"):
        FeatureStore.open(tmp_path / "file")
    created = FeatureStore.create(tmp_path / "new" / "store")
    assert created.root.is_dir() and FeatureStore.open(created) is created
    root = tmp_path / "demo"
    table = make_demo_store(root, DemoSpec(subjects=3, sequences_per_subject=2))
    store = FeatureStore.open(root)
    assert store.clips_path == root / layout.CLIPS == root / "clips.csv"
    assert store.task_path.name == "task.json" and "clips.csv" in store.own_files
    assert store.clips().clip_ids == table.clip_ids
    assert list(store.clips(classes=list(table.classes)[:2]).classes) == list(table.classes)[:2]
    assert store.resolve(["signal", "noise"]) == (["signal", "noise"], [])
    data = store.load_modalities(table.clip_ids[:4], ["signal", "noise"], 6)
    assert data.names == ["signal", "noise"] and data.clip_ids == table.clip_ids[:4]
    assert [a.shape[:2] for a in data.arrays] == [(4, 6), (4, 6)]
    assert all(a.dtype == np.float32 for a in data.arrays)
