"""Issue 18 (HIGH 2, item 20): outputs never destroy inputs or files the user did not name, and
user-facing CSVs cannot run as spreadsheet formulas, yet read back unchanged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError
from mefuse.store import FeatureStore
from mefuse.utils.csvsafe import neutralise, read_csv, restore, write_csv
from mefuse.utils.outputs import OutputPlan, header_starts

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
FORMULA = "=cmd|' /C calc'!A0"


def mefuse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ------------------------------------------------------------------ item 20: CSV injection
@pytest.mark.parametrize("text", [FORMULA, "+1+1", "-x", "@SUM(A1)", "\tcmd", "\rcmd",
                                  "'=already", "''@twice"])
def test_formula_cells_get_an_apostrophe_and_read_back_unchanged(text):
    assert neutralise(text).startswith("'")
    assert restore(neutralise(text)) == text


@pytest.mark.parametrize("text", ["-0.5", "+3", "1e-3", "plain", "'quoted", ""])
def test_numbers_and_plain_text_are_left_alone(text):
    assert neutralise(text) == text
    assert restore(text) == text


def test_a_clip_table_with_a_formula_subject_round_trips(tmp_path):
    frame = pd.DataFrame({"clip_id": ["a"], "sequence_id": ["s"], "view": ["full"],
                          "subject": [FORMULA], "Negative": [1], "Positive": [0],
                          "Repression": [0], "Surprise": [0], "Others": [0]})
    ClipTable.from_frame(frame).write(tmp_path / "clips.csv")
    assert f",'{FORMULA}," in (tmp_path / "clips.csv").read_text()
    assert ClipTable.read(tmp_path / "clips.csv").frame["subject"].tolist() == [FORMULA]
    write_csv(pd.DataFrame({"x": [FORMULA, "-0.5"], "y": [-0.5, 2.0]}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[1:] == [f"'{FORMULA},-0.5", "-0.5,2.0"]
    assert read_csv(tmp_path / "t.csv", dtype={"x": str})["x"].tolist() == [FORMULA, "-0.5"]


# ------------------------------------------------------------------ HIGH 2: the output plan
def test_an_output_that_is_an_input_is_refused_through_links_and_relative_paths(tmp_path,
                                                                                monkeypatch):
    model = tmp_path / "m.pt"
    model.write_bytes(b"model")
    (tmp_path / "link.pt").symlink_to(model)
    os.link(model, tmp_path / "hard.pt")
    monkeypatch.chdir(tmp_path)
    for out in ("m.pt", "./sub/../m.pt", "link.pt", "hard.pt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        plan = OutputPlan().reads(model, "the model file")
        plan.writes(Path(out), "predictions -o")
        with pytest.raises(ConfigError, match="is the model file"):
            plan.check()
    assert model.read_bytes() == b"model"


def test_a_derived_output_that_exists_is_refused_unless_forced_or_ours(tmp_path):
    derived = tmp_path / "x_sequences.csv"
    derived.write_text("my own notes\n")
    plan = OutputPlan()
    plan.writes(tmp_path / "x.csv", "predictions -o")
    plan.writes(derived, "per-sequence predictions", named=False,
                previous=header_starts("sequence_id", "p_"))
    with pytest.raises(ConfigError, match="already exists.*--force"):
        plan.check()
    plan.force = True
    plan.check()
    derived.write_text("sequence_id,p_Negative\ns1,0.5\n")  # written by an earlier run
    plan.force = False
    plan.check()


def test_store_files_and_two_outputs_on_one_file_are_refused(tmp_path):
    store = tmp_path / "store"
    (store / "flow").mkdir(parents=True)
    (store / "clips.csv").write_text("clip_id\n")
    for out, words in ((store / "clips.csv", "store's clips.csv"),
                       (store / "flow" / "a.npy", "inside the feature store's features")):
        plan = OutputPlan().uses_store(FeatureStore(store))
        plan.writes(out, "predictions -o")
        with pytest.raises(ConfigError, match=words):
            plan.check()
    plan = OutputPlan().uses_store(FeatureStore(store))
    plan.writes(store / "predictions.csv", "predictions -o")  # beside the store's files: fine
    plan.writes(tmp_path / "a.csv", "submission -o")
    plan.writes(tmp_path / "a.csv", "model file --save-model")
    with pytest.raises(ConfigError, match="are the same file"):
        plan.check()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    store = root / "store"
    assert mefuse("demo-store", str(store)).returncode == 0
    path = root / "m.pt"
    result = mefuse("train", "-s", str(store), "-m", "signal", "--strategy", "single",
                    "--epochs", "1", "--frames", "8", "--thresholds", "tuned", "-o", str(path),
                    "-q")
    assert result.returncode == 0, result.stderr
    return store, path


def test_predict_refuses_outputs_that_would_destroy_inputs(model, tmp_path):
    store, path = model
    before = path.read_bytes(), (store / "clips.csv").read_bytes()
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not really a video")
    for out in (path, store / "clips.csv"):
        line = one_error_line(mefuse("predict", "--model", str(path), "-s", str(store),
                                     "-o", str(out)))
        assert "would destroy it" in line
    line = one_error_line(mefuse("predict", "--model", str(path), str(video), "-o", str(video)))
    assert "is an input" in line and video.read_bytes() == b"not really a video"
    # x_sequences.csv is not named by the user: never silently replaced, even by the model
    (tmp_path / "x_sequences.csv").write_text("keep me\n")
    line = one_error_line(mefuse("predict", "--model", str(path), "-s", str(store),
                                 "-o", str(tmp_path / "x.csv")))
    assert "x_sequences.csv already exists" in line and "--force" in line
    assert (tmp_path / "x_sequences.csv").read_text() == "keep me\n"
    assert not (tmp_path / "x.csv").exists()  # nothing written before the check
    model_copy = tmp_path / "y_sequences.csv"  # the derived output is the model itself
    model_copy.write_bytes(path.read_bytes())
    line = one_error_line(mefuse("predict", "--model", str(model_copy), "-s", str(store),
                                 "-o", str(tmp_path / "y.csv")))
    assert "is the model file" in line and model_copy.read_bytes() == path.read_bytes()
    result = mefuse("predict", "--model", str(path), "-s", str(store),
                    "-o", str(tmp_path / "x.csv"), "--force")
    assert result.returncode == 0, result.stderr
    assert (path.read_bytes(), (store / "clips.csv").read_bytes()) == before
    again = mefuse("predict", "--model", str(path), "-s", str(store),
                   "-o", str(tmp_path / "x.csv"))  # a rerun replaces its own outputs
    assert again.returncode == 0, again.stderr


def test_predictions_neutralise_a_formula_subject(model, tmp_path):
    store, path = model
    table = ClipTable.read(store / "clips.csv")
    frame = table.frame.copy()
    frame["subject"] = FORMULA
    frame["sequence_id"] = "s1"
    ClipTable.from_frame(frame).write(tmp_path / "clips.csv")
    out = tmp_path / "p.csv"
    result = mefuse("predict", "--model", str(path), "-s", str(store), "--clips",
                    str(tmp_path / "clips.csv"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    cells = pd.read_csv(out, dtype=str)["subject"]
    assert (cells == "'" + FORMULA).all()
    assert "=cmd" not in out.read_text().replace("'=cmd", "")


def test_train_submit_and_cv_refuse_to_overwrite_their_inputs(model, tmp_path):
    store, path = model
    before = path.read_bytes()
    line = one_error_line(mefuse("train", "-s", str(store), "-m", "signal", "--epochs", "1",
                                 "-o", str(store / "clips.csv"), "-q"))
    assert "clips.csv" in line
    line = one_error_line(mefuse("submit", "--model", str(path), "-s", str(store),
                                 "-o", str(path)))
    assert "is the model file" in line
    assert path.read_bytes() == before
    line = one_error_line(mefuse("cv", "-s", str(store), "-m", "signal", "--epochs", "1",
                                 "-o", str(store / "signal"), "-q"))
    assert "lies inside the feature store's features" in line
    assert not (store / "signal" / "results.json").exists()
