"""Long-video adapters (CAS(ME)^2, SAMM Long Videos, CAS(ME)^3 part A) on tiny fake layouts:
real .xlsx sheets laid out as the datasets ship them, frames cut from a real face photograph."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut
from mefuse.data.adapters import list_long_video_kinds, load_long_videos
from mefuse.errors import ConfigError, DataError
from mefuse.spotting import evaluate_spotting

_FACE = cv2.resize(cv2.cvtColor(astronaut()[20:220, 150:350], cv2.COLOR_RGB2BGR), (24, 24))


def _frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        assert cv2.imwrite(str(folder / name), np.roll(_FACE, i % 3, axis=1))


def _workbook(path: Path, sheets: dict[str, list[list]], header: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, rows in sheets.items():
            pd.DataFrame(rows).to_excel(writer, sheet_name=name, header=False, index=False)
    return path


# --------------------------------------------------------------------------- CAS(ME)^2
@pytest.fixture
def casme2(tmp_path) -> Path:
    root = tmp_path / "CAS(ME)^2"
    raw = root / "rawpic"
    _frames(raw / "s15" / "15_0101disgustingteeth", [f"img{i}.jpg" for i in range(1, 13)])
    _frames(raw / "s15" / "15_0102eatingworms", [f"img{i}.jpg" for i in range(1, 9)])
    _frames(raw / "s16" / "16_0101disgustingteeth", [f"img{i}.jpg" for i in range(1, 11)])
    _workbook(root / "CAS(ME)^2code_final.xlsx", {
        "CASFEcode_final": [
            [1, "disgust1_1", 2, 4, 6, "4+7", "disgust", "micro-expression", "disgust"],
            [1, "disgust1_2", 7, 9, 0, "12", "others", "macro-expression", None],
            [2, "disgust1_1", 3, 5, 8, "4", "disgust", "micro-expression", None],
            [3, "disgust1_1", 3, 5, 8, "4", "disgust", "micro-expression", None],
            [1, "anger1_1", 1, 2, 3, "4", "anger", "micro-expression", None],
            [1, "disgust1_3", 5, 6, 40, "4", "disgust", "macro-expression", None],
            [1, "disgust1_4", 2, 3, 4, "4", "disgust", "blink", None],
        ],
        "naming rule1": [["s15", "15", 1], ["16", "16", 2]],  # a folder number without its "s"
        "naming rule2": [[101, "disgust1"], [401, "anger1"]],
    })
    return root


def test_casme2_lv_reads_videos_and_intervals(casme2):
    data = load_long_videos("casme2-lv", casme2)
    assert data.name == "casme2-lv" and data.fps == 30.0
    assert [(v.video_id, v.subject, v.n_frames) for v in data.videos] == [
        ("15_0101disgustingteeth", "s15", 12), ("15_0102eatingworms", "s15", 8),
        ("16_0101disgustingteeth", "s16", 10)]  # a video without expressions is kept
    rows = data.intervals[["video", "onset", "apex", "offset", "type", "emotion"]]
    assert rows.astype(object).values.tolist() == [
        ["15_0101disgustingteeth", 1, 3, 5, "ME", "disgust"],       # img2..img6
        ["15_0101disgustingteeth", 6, 8, 8, "MaE", "others"],       # offset 0: the apex ends it
        ["16_0101disgustingteeth", 2, 4, 7, "ME", "disgust"],
        ["15_0101disgustingteeth", 4, 5, 11, "MaE", "disgust"],     # offset 40 clamped to img12
    ]
    assert data.intervals["onset_frame"].tolist() == [2, 7, 3, 5]
    assert data.intervals["aus"].tolist()[0] == "4+7"
    assert data.counts() == {"ME": 2, "MaE": 2}
    errors = "\n".join(data.errors)
    assert "row 4 (disgust1_1): participant 3 is not in the naming rules; skipped" in errors
    assert "row 5 (anger1_1): no frames of video" in errors
    assert "offset frame 40 has no file" in errors
    assert "row 7 (disgust1_4): expression type is neither micro nor macro; skipped" in errors
    assert any("offset not coded" in n for n in data.notes)


def test_casme2_lv_cropped_frames_and_missing_naming_rules(casme2, tmp_path):
    (casme2 / "rawpic").rename(casme2 / "cropped")
    assert len(load_long_videos("casme2-lv", casme2, frames="cropped").videos) == 3
    bare = _workbook(tmp_path / "bare.xlsx", {"only": [[1, "disgust1_1", 2, 4, 6]]})
    with pytest.raises(DataError, match="naming rule1"):
        load_long_videos("casme2-lv", casme2, labels=bare)


# --------------------------------------------------------------------------- SAMM LV
@pytest.fixture
def samm(tmp_path) -> Path:
    root = tmp_path / "SAMM_LV"
    _frames(root / "SAMM_longvideos" / "006_1", [f"006_1_{i:04d}.jpg" for i in range(1, 13)])
    _frames(root / "SAMM_longvideos" / "007_2", [f"007_2_{i:04d}.jpg" for i in range(101, 111)])
    header = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration",
              "Type", "Action Units", "Notes"]
    _workbook(root / "SAMM_LongVideos_V3_Release.xlsx", {"FACS_Movement_Only": [
        ["SAMM Long Videos - FACS codes"] + [None] * 9,
        ["Micro - 1/2 = micro-expression (under half a second)"] + [None] * 9,
        [None] * 10,
        header,
        ["006", "006_1_1", 1, 2, 4, 6, 5, "Micro - 1/2", "R12", None],
        ["006", "006_1_2", 1, 7, 9, 0, None, "Macro", "4", None],
        [7, "007_2_1", 2, 103, -1, 108, 6, "Macro", "12", None],
        ["008", "008_1_1", 1, 3, 4, 5, 3, "Micro - 1/2", "4", None],
        ["006", "006_1_3", 1, 3, 4, 5, 3, "blink", "45", None],
    ]})
    return root


def test_samm_lv_reads_videos_and_intervals(samm):
    data = load_long_videos("samm-lv", samm)
    assert data.fps == 200.0
    assert [(v.video_id, v.subject, v.n_frames) for v in data.videos] == [
        ("006_1", "006", 12), ("007_2", "007", 10)]
    rows = data.intervals[["video", "onset", "apex", "offset", "type"]].astype(object)
    assert rows.where(rows.notna(), None).values.tolist() == [
        ["006_1", 1, 3, 5, "ME"],
        ["006_1", 6, 8, 8, "MaE"],       # offset 0: the apex ends it
        ["007_2", 2, None, 7, "MaE"],    # frames numbered from 101; apex -1 = none
    ]
    assert data.intervals["emotion"].isna().all()  # this sheet has no emotion column
    errors = "\n".join(data.errors)
    assert "row 8 (008_1_1): no frames of video 008_1" in errors
    assert "row 9 (006_1_3): expression type is neither micro nor macro" in errors
    # The truth scores itself perfectly.
    assert evaluate_spotting(data.intervals, data.intervals).f1 == 1.0


# --------------------------------------------------------------------------- CAS(ME)^3
@pytest.fixture
def casme3(tmp_path) -> Path:
    root = tmp_path / "CASME3"
    part = root / "data" / "part_A"
    _frames(part / "spNO.1" / "a" / "color", [f"{i}.jpg" for i in range(12)])
    _frames(part / "spNO.1" / "b" / "color", [f"{i}.jpg" for i in range(10)])
    _frames(part / "spNO.2" / "a" / "color", [f"{i}.jpg" for i in range(10)])
    notes = [["released with the CAS(ME)^3 database"]]
    _workbook(root / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", {
        "notes": notes,
        "label": [["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "emotion"],
                  ["spNO.1", "a", 2, 4, 6, "4+7", "disgust"],
                  ["spNO.2", "a", 0, 1, 3, "12", "happy"],
                  ["spNO.3", "c", 0, 1, 3, "12", "happy"]]})
    _workbook(root / "annotation" / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx", {
        "Sheet1": [["sub", "seq", "onset", "apex", "offset", "emotion"],
                   ["spNO.1", "b", 1, 3, 9, "surprise"]]})
    return root


def test_casme3_lv_reads_me_and_macro_sheets(casme3):
    data = load_long_videos("casme3-lv", casme3)
    assert data.fps == 30.0
    assert [(v.video_id, v.subject, v.n_frames) for v in data.videos] == [
        ("spNO.1_a", "spNO.1", 12), ("spNO.1_b", "spNO.1", 10), ("spNO.2_a", "spNO.2", 10)]
    assert data.videos[0].source.name == "color"
    rows = data.intervals[["video", "onset", "apex", "offset", "type", "emotion"]]
    assert rows.astype(object).values.tolist() == [
        ["spNO.1_a", 2, 4, 6, "ME", "disgust"],   # jpg index = frame number, from 0
        ["spNO.2_a", 0, 1, 3, "ME", "happy"],
        ["spNO.1_b", 1, 3, 9, "MaE", "surprise"],
    ]
    assert data.subjects == ["spNO.1", "spNO.2"]
    assert len(data.errors) == 1 and "row 4 (spNO.3/c): no frames of video" in data.errors[0]


def test_casme3_lv_without_macro_sheet_reads_only_mes(casme3):
    (casme3 / "annotation" / "cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx").unlink()
    data = load_long_videos("casme3-lv", casme3)
    assert data.counts() == {"ME": 2, "MaE": 0}
    assert any("only MEs are read" in n for n in data.notes)


# --------------------------------------------------------------------------- shared
def test_kinds_options_and_roots_are_checked(tmp_path, casme3):
    assert list_long_video_kinds() == ["casme2-lv", "casme3-lv", "samm-lv"]
    with pytest.raises(ConfigError, match="unknown long-video dataset kind 'smic-lv'"):
        load_long_videos("smic-lv", casme3)
    with pytest.raises(ConfigError, match="no option.*fps.*options are frames, macro_labels"):
        load_long_videos("casme3-lv", casme3, fps=25)
    with pytest.raises(DataError, match="is not a folder"):
        load_long_videos("samm-lv", tmp_path / "nowhere")
    with pytest.raises(DataError, match="no SAMM Long Videos label sheet found"):
        load_long_videos("samm-lv", tmp_path)
