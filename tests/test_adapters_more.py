"""The SMIC, CAS(ME)^3 and MMEW adapters on fake folders in each release's own layout, with real
.xlsx sheets and a few real face frames."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, grace_hopper
from mefuse.data.adapters import clip_table, list_adapters, load_dataset
from mefuse.errors import ConfigError

_FACES: list[np.ndarray] = []


def _face(index: int) -> np.ndarray:
    """Two real faces, 64x64 BGR, alternating (cached: decoded once per session)."""
    if not _FACES:
        for image in (astronaut()[20:220, 140:340], grace_hopper()):
            small = cv2.resize(np.ascontiguousarray(image[..., :3]), (64, 64),
                               interpolation=cv2.INTER_AREA)
            _FACES.append(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return _FACES[index % 2]


def _frames(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        assert cv2.imwrite(str(folder / name), _face(i))
    return folder


def _xlsx(path: Path, rows: list[dict], sheet: str = "Sheet1", before: str | None = None
          ) -> Path:
    """A real workbook; ``before`` adds an unrelated first sheet of that name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        if before:
            pd.DataFrame([{"readme": "not the labels"}]).to_excel(writer, sheet_name=before,
                                                                  index=False)
        pd.DataFrame(rows).to_excel(writer, sheet_name=sheet, index=False)
    return path


# --------------------------------------------------------------------------- smic
@pytest.fixture
def smic(tmp_path) -> Path:
    root = tmp_path / "SMIC"
    hs = root / "HS"
    _frames(hs / "s1" / "micro" / "negative" / "s1_ne_01",
            [f"image{n:06d}.bmp" for n in range(101, 106)])
    _frames(hs / "s1" / "micro" / "positive" / "s1_po_01",
            [f"image{n:06d}.bmp" for n in range(201, 205)])
    _frames(hs / "s1" / "non_micro" / "s1_nm_01", ["image000001.bmp", "image000002.bmp"])
    _frames(hs / "s2" / "micro" / "surprise" / "s2_sur_01",
            [f"image{n:06d}.bmp" for n in range(7, 10)])
    _frames(hs / "s2" / "micro" / "happy_maybe" / "s2_x_01", ["image1.bmp", "image2.bmp"])
    (hs / "s2" / "micro" / "negative" / "s2_ne_02").mkdir(parents=True)  # no frames
    _frames(root / "VIS" / "s1" / "micro" / "negative" / "s1_ne_01",
            [f"image{n}.bmp" for n in range(1, 4)])
    return root


def test_smic_reads_its_emotion_folders(smic):
    data = load_dataset("smic", smic)
    assert data.classes == ("Negative", "Positive", "Surprise") and data.task == "singlelabel"
    by_id = {r.sequence_id: r for r in data.records}
    assert list(by_id) == ["s1_ne_01", "s1_po_01", "s2_sur_01"]
    assert by_id["s1_po_01"].labels == {"Negative": 0, "Positive": 1, "Surprise": 0}
    assert by_id["s2_sur_01"].subject == "s2"
    ne = by_id["s1_ne_01"]
    assert (ne.start, ne.end) == (None, None)  # the clip folder is the micro-expression
    assert ne.extra["apex_index"] == 2 and ne.extra["apex"] == 103
    assert (ne.extra["onset"], ne.extra["offset"], ne.extra["fps"]) == (101, 105, 100.0)
    assert by_id["s1_po_01"].extra["apex_index"] == 1  # middle of 4 frames, rounded down
    text = "\n".join(data.errors)
    assert "happy_maybe" in text and "unknown emotion" in text
    assert "s2_ne_02: clip folder holds no image files; skipped" in text
    assert any("middle frame" in n and "not a label" in n for n in data.notes)
    table = clip_table(data, ("full",))
    assert list(table.frame["apex_index"]) == [2, 1, 1]
    assert set(table.frame["fps"]) == {100.0}


def test_smic_parts_sheet_and_options(smic):
    vis = load_dataset("smic", smic, part="vis", composite=True)
    assert [r.extra["fps"] for r in vis.records] == [25.0] and not vis.errors
    with pytest.raises(ConfigError, match="part must be one of HS, VIS, NIR"):
        load_dataset("smic", smic, part="IR")
    with pytest.raises(ConfigError, match="has no option"):
        load_dataset("smic", smic, classes=3)
    with pytest.raises(ConfigError, match="composite takes true or false"):
        load_dataset("smic", smic, composite="yes")
    _xlsx(smic / "smic.xlsx", [
        {"subject": "s1", "material": "s1_ne_01", "onset": 102, "offset": 104},
        {"subject": "s1", "material": "s1_ne_09", "onset": 1, "offset": 3},
    ])
    data = load_dataset("smic", smic)
    ne = next(r for r in data.records if r.sequence_id == "s1_ne_01")
    assert (ne.start, ne.end, ne.extra["apex_index"], ne.extra["apex"]) == (1, 3, 2, 103)
    assert any("s1_ne_09): no clip folder of that name; skipped" in e for e in data.errors)
    # The root may be the part folder itself; a cropped release keeps HS under SMIC_all_cropped.
    assert len(load_dataset("smic", smic / "HS").records) == 3
    shutil.move(smic / "HS", smic / "SMIC_all_cropped" / "HS")
    assert len(load_dataset("smic", smic).records) == 3


# --------------------------------------------------------------------------- casme3
def _casme3_row(subject: str, video: str, onset, apex, offset, emotion: str, au="4,7"
                ) -> dict:
    return {"Subject": subject, "Filename": video, "Onset": onset, "Apex": apex,
            "Offset": offset, "AU": au, "Objective class": 1, "emotion": emotion}


@pytest.fixture
def casme3(tmp_path) -> Path:
    root = tmp_path / "CASME3"
    full = root / "part_A" / "data" / "part_A"
    _frames(full / "spNo.1" / "a" / "color", [f"{n}.jpg" for n in range(0, 10)])
    _frames(full / "spNo.1" / "b" / "color", [f"{n}.jpg" for n in range(0, 5)])
    _frames(root / "Part_A_ME_clip" / "frame" / "spNO.2_c_10", [f"{n}.jpg" for n in range(10, 14)])
    _xlsx(root / "part_A" / "annotation" / "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", [
        _casme3_row("spNO.1", "a", 2, 3, 5, "happy"),
        _casme3_row("spNO.1", "a", 6, 8, 9, "disgust", au="L4+R12"),  # same task video
        _casme3_row("spNO.1", "b", 0, 2, 4, "others"),
        _casme3_row("spNO.2", "c", 10, 12, 13, "surprise"),
        _casme3_row("spNO.2", "c", "/", 12, 13, "sad"),  # bad onset
        _casme3_row("spNO.3", "a", 1, 2, 3, "fear"),  # no frames
        _casme3_row("spNO.1", "a", 2, 4, 5, "anger"),  # same sample again
    ], sheet="label", before="readme")
    return root


def test_casme3_seven_classes_windows_and_aus(casme3):
    data = load_dataset("casme3", casme3)
    assert data.classes == ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise",
                            "Others")
    by_id = {r.sequence_id: r for r in data.records}
    assert list(by_id) == ["spNO.1_a_2", "spNO.1_a_6", "spNO.1_b_0", "spNO.2_c_10"]
    happy, disgust = by_id["spNO.1_a_2"], by_id["spNO.1_a_6"]
    assert happy.source == disgust.source and happy.source.name == "color"
    assert (happy.start, happy.end, happy.extra["apex_index"]) == (2, 5, 3)
    assert (disgust.start, disgust.end, disgust.extra["apex_index"]) == (6, 9, 8)
    assert happy.labels is not None and happy.labels["Happiness"] == 1
    assert disgust.extra["AU4"] == 1 and disgust.extra["AU12"] == 1 and happy.extra["AU12"] == 0
    assert happy.extra["fps"] == 30.0 and happy.extra["objective_class"] == 1
    clip = by_id["spNO.2_c_10"]  # from the cut-clip layout
    assert clip.source.name == "spNO.2_c_10" and (clip.start, clip.extra["apex_index"]) == (0, 2)
    text = "\n".join(data.errors)
    assert "row 6 (spNO.2/c): Onset '/'" in text and "skipped" in text
    assert "row 7 (spNO.3/a): no frames" in text
    assert "row 8 (spNO.1/a): sample spNO.1_a_2 already given" in text


def test_casme3_four_and_three_classes(casme3):
    four = load_dataset("casme3", casme3, classes=4)
    assert four.classes == ("Negative", "Positive", "Surprise", "Others")
    labels = {r.sequence_id: r.labels for r in four.records}
    assert labels["spNO.1_a_6"] == {"Negative": 1, "Positive": 0, "Surprise": 0, "Others": 0}
    assert labels["spNO.1_b_0"] == {"Negative": 0, "Positive": 0, "Surprise": 0, "Others": 1}
    three = load_dataset("casme3", casme3, classes=3)
    assert three.classes == ("Negative", "Positive", "Surprise")
    assert "spNO.1_b_0" not in {r.sequence_id for r in three.records}
    assert any("1 sample(s) left out" in n and "others (1x)" in n for n in three.notes)
    composite = load_dataset("casme3", casme3, composite=True)
    assert composite.classes == three.classes
    with pytest.raises(ConfigError, match="classes must be 7, 4 or 3"):
        load_dataset("casme3", casme3, classes=5)
    with pytest.raises(ConfigError, match="has no option"):
        load_dataset("casme3", casme3, part="A")


# --------------------------------------------------------------------------- mmew
def _mmew_row(subject: str, clip: str, onset, apex, offset, emotion: str) -> dict:
    return {"Subject": subject, "Filename": clip, "OnsetFrame": onset, "ApexFrame": apex,
            "OffsetFrame": offset, "Action Units": "AU4+AU7", "Estimated Emotion": emotion,
            "remarks": None}


@pytest.fixture
def mmew(tmp_path) -> Path:
    root = tmp_path / "MMEW_Final"
    micro = root / "Micro_Expression"
    _frames(micro / "happiness" / "S01_happy_1", [f"{n}.jpg" for n in range(1, 6)])
    _frames(micro / "disgust" / "S01_disgust_1", [f"{n}.jpg" for n in range(1, 5)])
    _frames(micro / "others" / "S02_others_1", [f"{n}.jpg" for n in range(1, 4)])
    _frames(micro / "surprise" / "S02_surprise_1", [f"{n}.jpg" for n in range(1, 4)])
    _xlsx(root / "MMEW_Micro_Exp.xlsx", [
        _mmew_row("S01", "S01_happy_1", 1, 3, 5, "happiness"),
        _mmew_row("S01", "S01_disgust_1", 2, None, 4, "disgust"),
        _mmew_row("S02", "S02_others_1", 1, 2, 3, "others"),
        _mmew_row("S02", "S02_surprise_1", 3, 2, 1, "surprise"),  # offset before onset
    ])
    return root


def test_mmew_emotion_folders_and_sheet(mmew):
    data = load_dataset("mmew", mmew)
    assert data.classes == ("Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise",
                            "Others")
    by_id = {r.sequence_id: r for r in data.records}
    assert list(by_id) == ["S01_happy_1", "S01_disgust_1", "S02_others_1"]
    happy = by_id["S01_happy_1"]
    assert happy.labels is not None and happy.labels["Happiness"] == 1
    assert (happy.start, happy.end, happy.extra["apex_index"]) == (0, 4, 2)
    assert happy.extra["AU4"] == 1 and happy.extra["fps"] == 90.0
    assert by_id["S01_disgust_1"].extra["apex_index"] is None  # no apex in the sheet
    assert any("S02_surprise_1): offset 1 comes before onset 3; skipped" in e
               for e in data.errors)
    composite = load_dataset("mmew", mmew, composite=True)
    assert composite.classes == ("Negative", "Positive", "Surprise")
    assert [r.sequence_id for r in composite.records] == ["S01_happy_1", "S01_disgust_1"]
    chosen = load_dataset("mmew", mmew, classes="happiness,others")
    assert chosen.classes == ("Happiness", "Others") and len(chosen.records) == 2
    with pytest.raises(ConfigError, match="not one of MMEW's emotions"):
        load_dataset("mmew", mmew, classes="repression")


# --------------------------------------------------------------------------- the CLI
def test_new_adapters_are_listed_and_checked(smic):
    assert {"smic", "casme3", "mmew"} <= set(list_adapters())
    mefuse = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
    env = {**os.environ, "COLUMNS": "200"}
    listing = subprocess.run([mefuse, "check-data", "--list"], capture_output=True, text=True,
                             timeout=120, env=env, check=True).stdout
    assert any(line.startswith("smic ") and "SMIC" in line for line in listing.splitlines())
    assert any(line.startswith("casme3 ") for line in listing.splitlines())
    shutil.rmtree(smic / "HS" / "s2" / "micro" / "happy_maybe")
    shutil.rmtree(smic / "HS" / "s2" / "micro" / "negative")
    result = subprocess.run([mefuse, "check-data", "--dataset", "smic", "--root", str(smic)],
                            capture_output=True, text=True, timeout=120, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 3 sequences, 3 clips" in result.stdout
    bad = subprocess.run([mefuse, "check-data", "-d", "smic", "-r", str(smic),
                          "--dataset-option", "part=IR"], capture_output=True, text=True,
                         timeout=120, env=env, check=False)
    assert bad.returncode == 2 and "error: smic: part must be one of" in bad.stderr
