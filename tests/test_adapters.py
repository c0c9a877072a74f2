"""Dataset adapters on tiny fake layouts, the clip table they make, and ``check-data``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from mefuse import FOURDMR_CLASSES
from mefuse.cli.check_data import check_data, check_data_command
from mefuse.data.adapters import ADAPTERS, clip_table, load_dataset
from mefuse.data.adapters.base import parse_action_units, safe_id
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, DataError


def _frames(folder: Path, names: list[str], value: int = 50) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        assert cv2.imwrite(str(folder / name), np.full((6, 8, 3), value, np.uint8))
    return folder


def _labels(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _fourdmr_row(sequence: int, positives: tuple[str, ...], **more) -> dict:
    return {"Id": sequence, **{c: int(c in positives) for c in FOURDMR_CLASSES}, **more}


# --------------------------------------------------------------------------- 4dmr
@pytest.fixture
def fourdmr(tmp_path) -> Path:
    root = tmp_path / "4dmr"
    for sequence in (1, 2, 3):
        _frames(root / "train" / f"{sequence:03d}", [f"{sequence:03d}_{t}.png" for t in range(5)])
    _frames(root / "test" / "seq_012", ["0.jpg", "1.jpg"])
    _labels([
        _fourdmr_row(1, ("Negative",), Subject="s1", onset=1),
        _fourdmr_row(2, ("Positive", "Surprise"), Subject="s1", onset=2),
        _fourdmr_row(3, ("Others",), Subject="s2", onset=0),
        _fourdmr_row(7, ("Others",), Subject="s2", onset=0),  # no folder: skipped, named
    ]).to_csv(root / "train_labels.csv", index=False)
    _labels([_fourdmr_row(12, ())]).to_csv(root / "sample_submission.csv", index=False)
    return root


def test_4dmr_reads_labelled_and_test_sequences(fourdmr):
    data = load_dataset("4dmr", fourdmr)  # labels auto-found, the submission file passed over
    assert data.task == "multilabel" and data.classes == FOURDMR_CLASSES
    assert [r.sequence_id for r in data.records] == ["1", "2", "3", "12"]
    by_id = {r.sequence_id: r for r in data.records}
    assert by_id["2"].labels == {"Negative": 0, "Positive": 1, "Repression": 0, "Surprise": 1,
                                 "Others": 0}
    assert by_id["2"].subject == "s1" and by_id["3"].subject == "s2"
    assert by_id["2"].extra == {"split": "train", "onset": 2}
    assert by_id["12"].labels is None and by_id["12"].extra["split"] == "test"
    assert by_id["12"].source == fourdmr / "test" / "seq_012"
    assert len(data.errors) == 1 and "Id 7" in data.errors[0] and "skipped" in data.errors[0]


def test_4dmr_label_problems_are_named_and_the_rest_goes_on(fourdmr):
    _labels([
        _fourdmr_row(1, ("Negative",)),
        {**_fourdmr_row(2, ()), "Positive": 2},  # not 0/1
        _fourdmr_row(1, ("Others",)),  # duplicate Id
        _fourdmr_row(3, ("Surprise",)),
    ]).to_csv(fourdmr / "train_labels.csv", index=False)
    data = load_dataset("4dmr", fourdmr, labels=fourdmr / "train_labels.csv")
    text = "\n".join(data.problems)
    assert "Positive=" in text and "must be 0 or 1" in text
    assert "Id 1 already labelled" in text
    assert "note: " in text and "own subject" in text  # no subject column
    by_id = {r.sequence_id: r for r in data.records}
    assert by_id["1"].labels["Negative"] == 1  # the first row wins
    assert by_id["2"].labels is None  # its only label row was bad: unlabelled
    assert by_id["3"].subject == "3"  # its own subject
    assert "own subject" not in "".join(data.errors)  # notes are not errors


def test_4dmr_missing_class_column_is_an_error(fourdmr):
    pd.DataFrame({"Id": [1], "Negative": [1]}).to_csv(fourdmr / "train_labels.csv", index=False)
    with pytest.raises(DataError, match="Positive"):
        load_dataset("4dmr", fourdmr)


def test_4dmr_flat_layout_and_videos(tmp_path):
    root = tmp_path / "flat"
    _frames(root / "5", ["1.png", "2.png"])
    writer = cv2.VideoWriter(str(root / "clip_6.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (8, 6))
    for _ in range(3):
        writer.write(np.zeros((6, 8, 3), np.uint8))
    writer.release()
    (root / "9").mkdir()  # empty sequence folder: named
    data = load_dataset("4dmr", root)
    assert [r.sequence_id for r in data.records] == ["5", "6"]
    assert all(r.labels is None for r in data.records)
    assert any("9 holds no image files" in p for p in data.errors)
    assert any(p.startswith("note: no labels CSV") for p in data.problems)


# --------------------------------------------------------------------------- clip table
def test_clip_table_with_two_views_and_with_none(fourdmr, tmp_path):
    data = load_dataset("4dmr", fourdmr)
    table = clip_table(data, ("left", "right"))
    assert isinstance(table, ClipTable) and len(table) == 8
    frame = table.frame
    assert frame["clip_id"].tolist()[:2] == ["1_left", "1_right"]
    assert list(frame.columns[:12]) == ["clip_id", "sequence_id", "view", "subject",
                                        *FOURDMR_CLASSES, "source", "start", "end"]
    assert "split" in frame.columns and "onset" in frame.columns
    assert frame.loc[frame["sequence_id"] == "12", "Negative"].isna().all()
    assert table.labelled.sum() == 6
    assert frame.loc[frame["clip_id"] == "2_right", "Surprise"].item() == 1
    assert Path(frame["source"].iloc[0]).is_absolute()
    table.write(tmp_path / "clips.csv")  # round trip through the CSV contract
    back = ClipTable.read(tmp_path / "clips.csv")
    assert back.clip_ids == table.clip_ids and back.frame["onset"].iloc[0] == 1
    full = clip_table(data, ("full",))
    assert full.clip_ids == ["1", "2", "3", "12"]
    assert set(full.frame["view"]) == {"full"}
    with pytest.raises(ConfigError):
        clip_table(data, ("left", "left"))


# --------------------------------------------------------------------------- 4dme
def test_4dme_windows_emotions_and_action_units(tmp_path):
    root = tmp_path / "4dme"
    _frames(root / "gray_micro" / "S01" / "M01", [f"{n:04d}.png" for n in range(100, 111)])
    _frames(root / "gray_micro" / "S02" / "M03", [f"{n}.png" for n in range(1, 9)])
    _labels([
        {"sub_ID": "S01", "fold_name": "M01", "Emotion": "Negative", "Onset": 102,
         "Apex": 105, "Offset": 108, "AUs": "4+7(k)"},
        {"sub_ID": "S02", "fold_name": "M03", "Emotion": "positive+Surprise", "Onset": 0,
         "Apex": 4, "Offset": 6, "AUs": "AU12"},  # onset 0 has no file: clamped, named
        {"sub_ID": "S02", "fold_name": "M09", "Emotion": "Others", "Onset": 1, "Apex": 2,
         "Offset": 3, "AUs": "1"},  # missing folder
        {"sub_ID": "S01", "fold_name": "M01", "Emotion": "bored", "Onset": 1, "Apex": 2,
         "Offset": 3, "AUs": "1"},  # unknown emotion
    ]).to_excel(root / "4DME_Labelling_Micro_release v1.xlsx", index=False)
    data = load_dataset("4dme", root)
    assert data.task == "multilabel" and data.classes == FOURDMR_CLASSES
    assert [r.sequence_id for r in data.records] == ["S01_M01", "S02_M03"]
    first, second = data.records
    assert (first.start, first.end) == (2, 8)  # frame numbers 102..108 -> positions 2..8
    assert first.extra["apex_index"] == 5 and first.extra["onset"] == 102
    assert first.labels == {"Negative": 1, "Positive": 0, "Repression": 0, "Surprise": 0,
                            "Others": 0}
    assert first.extra["aus"] == "4+7(k)"
    assert (first.extra["AU4"], first.extra["AU7"], first.extra["AU12"]) == (1, 1, 0)
    assert second.labels["Positive"] == 1 and second.labels["Surprise"] == 1
    assert (second.start, second.end) == (0, 5) and second.extra["AU12"] == 1
    text = "\n".join(data.errors)
    assert "onset frame 0 has no file" in text
    assert "M09" in text and "missing" in text
    assert "'bored'" in text
    dropped = load_dataset("4dme", root, drop_k_aus=True)
    assert "AU7" not in dropped.records[0].extra and dropped.records[0].extra["AU4"] == 1
    table = clip_table(data, ("left", "right"))
    assert table.frame.loc[0, "AU4"] == 1 and table.frame.loc[0, "start"] == 2


def test_4dme_frames_option_and_csv_sheet(tmp_path):
    root = tmp_path / "4dme"
    _frames(root / "texture" / "1" / "a", ["5.png", "6.png"])
    _labels([{"sub_ID": 1, "fold_name": "a", "Emotion": "Repression", "Onset": 5,
              "Apex": 5, "Offset": 6, "AUs": ""}]).to_csv(root / "sheet.csv", index=False)
    data = load_dataset("4dme", root, frames="texture")
    assert data.records[0].labels["Repression"] == 1 and data.records[0].subject == "1"
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("4dme", root, frames="nowhere")


# --------------------------------------------------------------------------- casme2
@pytest.fixture
def casme2(tmp_path) -> Path:
    root = tmp_path / "casme2"
    raw = root / "CASME2_RAW_selected"
    _frames(raw / "sub01" / "EP02_01f", [f"img{n}.jpg" for n in range(46, 60)])
    _frames(raw / "sub01" / "EP03_02", [f"img{n}.jpg" for n in range(1, 12)])
    _frames(raw / "sub02" / "EP01_11f", [f"img{n}.jpg" for n in range(100, 110)])
    _frames(raw / "sub02" / "EP09_01", [f"img{n}.jpg" for n in range(1, 6)])
    _labels([
        {"Subject": 1, "Filename": "EP02_01f", "Unnamed: 2": None, "OnsetFrame": 46,
         "ApexFrame": 59, "OffsetFrame": 59, "Action Units": "12", "Estimated Emotion":
         "happiness"},
        {"Subject": 1, "Filename": "EP03_02", "Unnamed: 2": None, "OnsetFrame": 2,
         "ApexFrame": "/", "OffsetFrame": 10, "Action Units": "R4+L10", "Estimated Emotion":
         "disgust"},
        {"Subject": 2, "Filename": "EP01_11f", "Unnamed: 2": None, "OnsetFrame": 101,
         "ApexFrame": 104, "OffsetFrame": 108, "Action Units": "1+2", "Estimated Emotion":
         "others"},
        {"Subject": 2, "Filename": "EP09_01", "Unnamed: 2": None, "OnsetFrame": 1,
         "ApexFrame": 2, "OffsetFrame": 4, "Action Units": "14", "Estimated Emotion": "fear"},
        {"Subject": 3, "Filename": "EP01_01", "Unnamed: 2": None, "OnsetFrame": 1,
         "ApexFrame": 2, "OffsetFrame": 4, "Action Units": "14", "Estimated Emotion":
         "surprise"},  # no frames for sub03
    ]).to_excel(root / "CASME2-coding-20140508.xlsx", index=False)
    return root


def test_casme2_single_label_from_the_sheet(casme2):
    data = load_dataset("casme2", casme2)
    assert data.task == "singlelabel"
    assert data.classes == ("Disgust", "Fear", "Happiness", "Others")
    assert [r.sequence_id for r in data.records] == ["sub01_EP02_01f", "sub01_EP03_02",
                                                     "sub02_EP01_11f", "sub02_EP09_01"]
    first, second = data.records[:2]
    assert first.subject == "sub01" and (first.start, first.end) == (0, 13)
    assert second.extra["apex"] is None and (second.start, second.end) == (1, 9)
    assert sum(first.labels.values()) == 1 and first.labels["Happiness"] == 1
    assert (second.extra["AU4"], second.extra["AU10"], second.extra["AU12"]) == (1, 1, 0)
    assert any("sub03" in p and "missing" in p for p in data.errors)


def test_casme2_composite_and_chosen_classes(casme2):
    data = load_dataset("casme2", casme2, composite=True)
    assert data.classes == ("Negative", "Positive", "Surprise")
    assert {r.sequence_id: [c for c, v in r.labels.items() if v] for r in data.records} == {
        "sub01_EP02_01f": ["Positive"], "sub01_EP03_02": ["Negative"]}
    assert any(n.startswith("2 sample(s) left out") for n in data.notes)  # others, fear
    chosen = load_dataset("casme2", casme2, classes="Happiness,Disgust,Others")
    assert chosen.classes == ("Happiness", "Disgust", "Others") and len(chosen.records) == 3
    with pytest.raises(ConfigError):
        load_dataset("casme2", casme2, classes="Happiness,Grumpy")


# --------------------------------------------------------------------------- samm
def test_samm_sheet_with_a_header_block(tmp_path):
    root = tmp_path / "samm"
    _frames(root / "SAMM" / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5560, 5570)])
    _frames(root / "SAMM" / "007" / "007_3_1", [f"007_{n:05d}.jpg" for n in range(10, 20)])
    header = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
              "Offset Frame", "Duration", "Type", "Action Units", "Notes", "Estimated Emotion"]
    rows = [
        ["SAMM micro-movement FACS codes", *[None] * 10],
        ["Copyright notice and description", *[None] * 10],
        [None] * 11,
        header,
        ["006", "006_1_2", 1, 5562, 5565, 5568, 7, "Micro - 1/2", "R12+R15", None, "Anger"],
        ["007", "007_3_1", 3, 11, -1, 18, 8, "Micro - 1/2", "A1+A2", None, "Other"],
        ["008", "008_1_1", 1, 1, 2, 3, 3, "Micro - 1/2", "4", None, "Sadness"],
    ]
    pd.DataFrame(rows).to_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", index=False,
                                header=False)
    data = load_dataset("samm", root)
    assert [r.sequence_id for r in data.records] == ["006_1_2", "007_3_1"]
    first, second = data.records
    assert first.subject == "006" and (first.start, first.end) == (2, 8)
    assert first.labels == {"Anger": 1, "Others": 0}
    assert (first.extra["AU12"], first.extra["AU15"], first.extra["AU1"]) == (1, 1, 0)
    assert second.extra["apex"] is None and second.labels["Others"] == 1
    assert any("008" in p for p in data.errors)
    composite = load_dataset("samm", root, composite=True)
    assert [r.sequence_id for r in composite.records] == ["006_1_2"]
    assert composite.records[0].labels["Negative"] == 1


def test_sheet_missing_columns_are_named(tmp_path):
    root = tmp_path / "casme2"
    root.mkdir()
    _labels([{"Subject": 1, "Filename": "x", "OnsetFrame": 1}]).to_excel(
        root / "CASME2-coding.xlsx", index=False)
    with pytest.raises(DataError, match="OffsetFrame.*Emotion|Offset.*Emotion"):
        load_dataset("casme2", root)


# --------------------------------------------------------------------------- folder
def test_folder_adapter(tmp_path):
    root = tmp_path / "generic"
    _frames(root / "clips" / "a", ["1.png", "2.png", "3.png"])
    _frames(root / "clips" / "b", ["1.png", "2.png"])
    _frames(root / "clips" / "c", ["1.png"])
    pd.DataFrame([
        {"path": "clips/a", "subject": "p1", "start": 1, "end": 2, "Happy": 1, "Sad": 0,
         "note": "x"},
        {"path": str(root / "clips" / "b"), "subject": "p2", "sequence_id": "bee",
         "Happy": 0, "Sad": 1},
        {"path": "clips/c", "subject": "p2"},  # unlabelled
        {"path": "clips/missing", "subject": "p3", "Happy": 1, "Sad": 0},
        {"path": "clips/c", "subject": "p3", "Happy": 3, "Sad": 0, "sequence_id": "c2"},
        {"path": "clips/c", "subject": "p3", "Happy": 1, "Sad": 1, "sequence_id": "c3"},
    ]).to_csv(root / "clips.csv", index=False)
    data = load_dataset("folder", root, classes="Happy,Sad", task="singlelabel")
    assert data.classes == ("Happy", "Sad")
    assert [r.sequence_id for r in data.records] == ["a", "bee", "c"]
    a, bee, c = data.records
    assert (a.start, a.end, a.labels, a.extra["note"]) == (1, 2, {"Happy": 1, "Sad": 0}, "x")
    assert bee.source == root / "clips" / "b" and bee.start is None
    assert c.labels is None
    text = "\n".join(data.errors)
    assert "missing" in text and "Happy=" in text and "exactly one 1, got 2" in text
    table = clip_table(data, ("full",))
    assert table.labelled.tolist() == [True, True, False]
    with pytest.raises(DataError, match="Angry"):
        load_dataset("folder", root, classes=["Angry"])


def test_folder_defaults_to_the_4dmr_classes(tmp_path):
    root = tmp_path / "generic"
    _frames(root / "x", ["1.png"])
    pd.DataFrame([{"path": "x", "subject": "s", **_fourdmr_row(1, ("Others",))}]).to_csv(
        root / "list.csv", index=False)
    data = load_dataset("folder", root)
    assert data.classes == FOURDMR_CLASSES and data.records[0].labels["Others"] == 1
    assert data.records[0].extra == {"Id": 1}


# --------------------------------------------------------------------------- registry
def test_load_dataset_refuses_unknown_kinds_and_options(fourdmr):
    assert set(ADAPTERS) == {"4dmr", "4dme", "casme2", "samm", "folder", "smic", "casme3",
                             "mmew"}
    with pytest.raises(ConfigError, match="casme2"):
        load_dataset("casme9", fourdmr)
    with pytest.raises(ConfigError, match="subject_column"):
        load_dataset("4dmr", fourdmr, subjects="x")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("4dmr", fourdmr / "nope")


def test_helpers():
    assert parse_action_units("4+7(k)") == [4, 7]
    assert parse_action_units("4+7(k)", drop_k=True) == [4]
    assert parse_action_units("AU1 + R12A + L14") == [1, 12, 14]
    assert parse_action_units(float("nan")) == []
    assert safe_id("S 01/../M1") == "S_01_.._M1"
    assert safe_id(".hidden") == "hidden"


# --------------------------------------------------------------------------- check-data
def test_check_data_reports_counts_sources_and_errors(fourdmr):
    report = check_data("4dmr", fourdmr, None, "both")
    info = report.summary()
    assert (info["sequences"], info["subjects"], info["labelled"], info["unlabelled"]) == (
        4, 3, 3, 1)
    assert info["clips"] == 8 and info["label_counts"]["Others"] == 1
    assert (info["frames_min"], info["frames_max"]) == (2, 5)
    assert not report.ok and any("Id 7" in e for e in report.errors)
    (fourdmr / "train" / "002" / "002_0.png").write_bytes(b"broken")
    report = check_data("4dmr", fourdmr, None, ("full",))
    failed = [c for c in report.sources if not c.ok]
    assert [c.sequence_id for c in failed] == ["2"] and "002_0.png" in failed[0].error


def test_check_data_flags_windows_that_do_not_fit(tmp_path):
    root = tmp_path / "generic"
    _frames(root / "a", ["1.png", "2.png"])
    pd.DataFrame([{"path": "a", "subject": "s", "start": 0, "end": 5}]).to_csv(
        root / "clips.csv", index=False)
    report = check_data("folder", root, views=("full",))
    assert not report.ok and "does not fit the 2 frames" in report.errors[-1]


def test_check_data_command_exit_codes(fourdmr, tmp_path):
    app = typer.Typer()
    app.command()(check_data_command)
    runner = CliRunner()
    bad = runner.invoke(app, ["--dataset", "4dmr", "--root", str(fourdmr)])
    assert bad.exit_code == 1, bad.output
    assert "Id 7" in bad.output and "sequences" in bad.output
    good_root = tmp_path / "good"
    _frames(good_root / "train" / "1", ["1.png"])
    _labels([_fourdmr_row(1, ("Negative",), Subject="a")]).to_csv(
        good_root / "labels.csv", index=False)
    short = runner.invoke(app, ["-d", "4dmr", "-r", str(good_root), "--views", "none"])
    assert short.exit_code == 1 and "1 problem(s) to fix" in short.output  # as extract
    assert "extract needs at least 2" in check_data("4dmr", good_root, views="none").errors[0]
    _frames(good_root / "train" / "1", ["1.png", "2.png"])
    good = runner.invoke(app, ["-d", "4dmr", "-r", str(good_root), "-v"])
    assert good.exit_code == 0, good.output
    assert "ok" in good.output
    assert "views: both: each frame is split into left and right halves" in good.output


def test_4dmr_never_takes_a_sample_submission_for_labels(fourdmr):
    (fourdmr / "train_labels.csv").unlink()
    data = load_dataset("4dmr", fourdmr)
    assert all(r.labels is None for r in data.records)
    assert any("every sequence is unlabelled" in n for n in data.notes)
    for name in ("a.csv", "b.csv"):
        _labels([_fourdmr_row(1, ())]).to_csv(fourdmr / name, index=False)
    with pytest.raises(DataError, match="several labels CSV"):
        load_dataset("4dmr", fourdmr)


def test_check_data_summarises_many_problems_of_one_kind(tmp_path):
    """A label sheet with thousands of bad rows prints five per kind and a count; the complete
    list goes to the --problems file (issue 18, item 15). Run as users run it."""
    import os
    import shutil
    import subprocess
    import sys

    root = tmp_path / "4dmr"
    _frames(root / "train" / "001", [f"001_{t}.png" for t in range(3)])
    rows = [_fourdmr_row(1, ("Negative",), Subject="s1")]
    rows += [{**_fourdmr_row(0, ("Negative",), Subject="s1"), "Id": f"x{i}"} for i in range(3000)]
    rows += [_fourdmr_row(i, ("Others",), Subject="s1") for i in range(2, 9)]
    _labels(rows).to_csv(root / "train_labels.csv", index=False)
    mefuse = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
    listing = tmp_path / "problems.txt"
    result = subprocess.run([mefuse, "check-data", "-d", "4dmr", "-r", str(root), "--problems",
                             str(listing)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"}, check=False)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert len(out.splitlines()) < 60, out
    assert out.count("is not an integer") == 5 and out.count("no sequence folder") == 5
    assert "... and 2,995 more problems like the one above" in out
    assert "... and 2 more problems like the one above" in out
    assert str(listing) in out and "3007 problem(s) to fix" in out
    listed = listing.read_text(encoding="utf-8").splitlines()
    assert len(listed) == 3007 and sum("is not an integer" in line for line in listed) == 3000
