"""Importing coefficients made by other tools: FaceVerse's per-frame dicts, generic per-frame
files and per-clip files, with provenance, resumption, safe unpickling and the CLI verb."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mefuse.errors import DataError, StoreConfigMismatch
from mefuse.extraction.importers import first_integer, import_coefficients, read_npy
from mefuse.store import FeatureStore


def write_faceverse_run(root, clips=("c1", "c2"), frames=3, seed=0):
    """What FaceVerse v4's run.py --save_results writes: a pickled dict per frame."""
    rng = np.random.default_rng(seed)
    truth = {}
    for clip in clips:
        folder = root / clip
        folder.mkdir(parents=True)
        rows = rng.normal(size=(frames, 621)).astype(np.float32)
        truth[clip] = rows
        # names whose text order differs from frame order
        for index in range(frames):
            name = f"frame_{index * 5}"
            np.save(folder / name, {"coeffs": rows[index:index + 1],
                                    "bbox_list": np.array([[1, 2, 3, 4]], np.int32)})
    return truth


def test_faceverse_dicts_import_the_171_expression_values(tmp_path):
    truth = write_faceverse_run(tmp_path / "src")
    report = import_coefficients(tmp_path / "src", tmp_path / "store", "faceverse",
                                 layout="faceverse")
    assert report.written == ["c1", "c2"] and report.dim == 171 and not report.failed
    store = FeatureStore(tmp_path / "store")
    (c1,) = store.load("faceverse", ["c1"])
    assert np.allclose(c1, truth["c1"][:, 156:327])  # frame 0, 5, 10 in numeric order
    manifest = json.loads((tmp_path / "store" / "faceverse" / "manifest.json").read_text())
    assert manifest["extractor"] == "import:faceverse"
    assert manifest["params"]["columns"] == [156, 327]
    assert manifest["preprocess"]["imported_from"].endswith("src")
    assert manifest["clips"] == {"c1": 3, "c2": 3}


def test_rerun_skips_and_changed_settings_are_refused(tmp_path):
    write_faceverse_run(tmp_path / "src")
    import_coefficients(tmp_path / "src", tmp_path / "store", "fv", layout="faceverse")
    again = import_coefficients(tmp_path / "src", tmp_path / "store", "fv", layout="faceverse")
    assert again.skipped == ["c1", "c2"] and not again.written
    with pytest.raises(StoreConfigMismatch):
        import_coefficients(tmp_path / "src", tmp_path / "store", "fv", layout="generic")
    replaced = import_coefficients(tmp_path / "src", tmp_path / "store", "fv",
                                   layout="generic", overwrite=True)
    assert replaced.dim == 621


def test_generic_per_frame_csv_and_npy_with_columns(tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "b").mkdir()
    for index in (10, 2, 1):
        (src / "a" / f"img{index}.csv").write_text(f"x,y,z\n{index},{index + 1},{index + 2}\n")
        np.save(src / "b" / f"{index}.npy", np.array([index, 0, -index], np.float64))
    report = import_coefficients(src, tmp_path / "store", "mine", columns="0:2")
    assert report.written == ["a", "b"] and report.dim == 2
    a, b = FeatureStore(tmp_path / "store").load("mine", ["a", "b"])
    assert a.tolist() == [[1, 2], [2, 3], [10, 11]]
    assert b[:, 0].tolist() == [1, 2, 10]


def test_one_file_per_clip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "clipA.npy", np.ones((4, 5), np.float32))
    (src / "clipB.csv").write_text("1 2 3 4 5\n6 7 8 9 10\n")
    report = import_coefficients(src, tmp_path / "store", "k")
    assert report.written == ["clipA", "clipB"]
    assert FeatureStore(tmp_path / "store").load("k", ["clipB"])[0].shape == (2, 5)


def test_a_bad_clip_is_reported_and_the_others_go_on(tmp_path):
    src = tmp_path / "src"
    write_faceverse_run(src, clips=("good",))
    (src / "bad").mkdir()
    np.save(src / "bad" / "0.npy", {"other": np.zeros(3)})
    report = import_coefficients(src, tmp_path / "store", "fv", layout="faceverse")
    assert report.written == ["good"]
    assert "no 'coeffs' entry" in report.failed["bad"]


def test_wrong_width_for_faceverse_is_explained(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    np.save(src / "c.npy", np.zeros((2, 50), np.float32))
    report = import_coefficients(src, tmp_path / "store", "fv", layout="faceverse")
    assert "FaceVerse v4 writes 621" in report.failed["c"]


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_with_anything_but_arrays_are_refused_unless_trusted(tmp_path, capsys):
    path = tmp_path / "0.npy"
    np.save(path, np.array({"coeffs": np.zeros((1, 3)), "x": Evil()}, dtype=object),
            allow_pickle=True)
    with pytest.raises(DataError, match=r"--trust-pickle"):
        read_npy(path)
    assert "pwned" not in capsys.readouterr().out
    assert isinstance(read_npy(path, trust_pickle=True), dict)  # the user's explicit choice


def test_safe_unpickler_reads_faceverse_dicts_without_allow_pickle(tmp_path, monkeypatch):
    np.save(tmp_path / "0.npy", {"coeffs": np.arange(6, dtype=np.float32)[None]})

    def no_pickle(*args, **kwargs):
        if kwargs.get("allow_pickle"):
            raise AssertionError("allow_pickle=True was used")
        return real_load(*args, **kwargs)

    real_load = np.load
    monkeypatch.setattr(np, "load", no_pickle)
    content = read_npy(tmp_path / "0.npy")
    assert content["coeffs"].tolist() == [[0, 1, 2, 3, 4, 5]]


def test_first_integer_orders_frames():
    names = ["f10.npy", "f2.npy", "x.npy", "f1_7.npy"]
    assert sorted(names, key=first_integer) == ["f1_7.npy", "f2.npy", "f10.npy", "x.npy"]


def test_mixed_layouts_and_empty_sources_are_errors(tmp_path):
    (tmp_path / "clip").mkdir()
    np.save(tmp_path / "other.npy", np.zeros((2, 2)))
    with pytest.raises(DataError, match="mixes clip folders"):
        import_coefficients(tmp_path, tmp_path / "store", "k")
    with pytest.raises(DataError, match="is not a folder"):
        import_coefficients(tmp_path / "missing", tmp_path / "store", "k")


def test_cli_import_coeffs(tmp_path):
    from typer.testing import CliRunner

    from mefuse.cli.main import app

    write_faceverse_run(tmp_path / "src")
    result = CliRunner().invoke(app, ["import-coeffs", str(tmp_path / "src"), "--store",
                                      str(tmp_path / "store"), "--layout", "faceverse"])
    assert result.exit_code == 0, result.output
    assert "2 clip(s) imported (171 values per frame)" in result.output
    assert FeatureStore(tmp_path / "store").clip_ids("faceverse") == ["c1", "c2"]
