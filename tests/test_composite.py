"""Composites of several datasets (issue 21): the merged clip table, per-part scores and
leave-one-dataset-out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, similarity
from mefuse.data.adapters import clip_table
from mefuse.data.adapters.composite import (
    DatasetPart,
    dataset_parts,
    load_composite,
    load_parts,
)
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError

MEFUSE = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
ENV = {**os.environ, "COLUMNS": "200"}


def _mefuse(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MEFUSE, *args], capture_output=True, text=True, timeout=timeout,
                          env=ENV, check=False)


def _face_frames(count: int, size: int = 160) -> list[np.ndarray]:
    base = cv2.resize(astronaut()[0:300, 100:400], (size, size))
    return [similarity(base, 0.3 * t, 1.0, (0.5 * t, 0))[:, :, ::-1] for t in range(count)]


def _write(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, _face_frames(len(names)), strict=True):
        assert cv2.imwrite(str(folder / name), image)


def _casme2(root: Path) -> Path:
    """Two subjects; a disgust and a happiness clip map into the composite, 'others' does
    not."""
    raw = root / "CASME2_RAW_selected"
    _write(raw / "sub01" / "EP02_01f", [f"img{n}.jpg" for n in range(46, 50)])
    _write(raw / "sub02" / "EP03_02", [f"img{n}.jpg" for n in range(1, 5)])
    _write(raw / "sub02" / "EP04_01", [f"img{n}.jpg" for n in range(1, 5)])
    pd.DataFrame([
        {"Subject": 1, "Filename": "EP02_01f", "OnsetFrame": 46, "ApexFrame": 47,
         "OffsetFrame": 49, "Action Units": "12", "Estimated Emotion": "happiness"},
        {"Subject": 2, "Filename": "EP03_02", "OnsetFrame": 1, "ApexFrame": 2,
         "OffsetFrame": 4, "Action Units": "4", "Estimated Emotion": "disgust"},
        {"Subject": 2, "Filename": "EP04_01", "OnsetFrame": 1, "ApexFrame": 2,
         "OffsetFrame": 4, "Action Units": "1", "Estimated Emotion": "others"},
    ]).to_excel(root / "CASME2-coding-20140508.xlsx", index=False)
    return root


def _samm(root: Path) -> Path:
    _write(root / "SAMM" / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(10, 14)])
    _write(root / "SAMM" / "007" / "007_3_1", [f"007_{n:05d}.jpg" for n in range(20, 24)])
    pd.DataFrame([
        {"Subject": "006", "Filename": "006_1_2", "Onset Frame": 10, "Apex Frame": 11,
         "Offset Frame": 13, "Action Units": "R12", "Estimated Emotion": "Anger"},
        {"Subject": "007", "Filename": "007_3_1", "Onset Frame": 20, "Apex Frame": 22,
         "Offset Frame": 23, "Action Units": "A1", "Estimated Emotion": "Surprise"},
    ]).to_excel(root / "SAMM_Micro_FACS_Codes_v2.xlsx", index=False)
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("parts")
    return {"casme2": _casme2(base / "CASME2"), "samm": _samm(base / "SAMM")}


def _parts(roots: dict[str, Path]) -> list[DatasetPart]:
    return [DatasetPart("casme2", roots["casme2"], options={"composite": True}),
            DatasetPart("samm", roots["samm"], options={"composite": True})]


# --------------------------------------------------------------------------- the merge
def test_composite_prefixes_ids_and_names_each_part(roots):
    data = load_composite(_parts(roots))
    assert data.name == "casme2+samm" and data.classes == ("Negative", "Positive", "Surprise")
    assert [r.sequence_id for r in data.records] == [
        "casme2_sub01_EP02_01f", "casme2_sub02_EP03_02", "samm_006_1_2", "samm_007_3_1"]
    assert [r.subject for r in data.records] == ["casme2_sub01", "casme2_sub02", "samm_006",
                                                 "samm_007"]
    assert any(n.startswith("casme2: 1 sample(s) left out") for n in data.notes)
    table = clip_table(data, ("full",))
    assert table.frame["dataset"].tolist() == ["casme2", "casme2", "samm", "samm"]
    assert table.clip_ids[0] == "casme2_sub01_EP02_01f"
    assert table.frame["apex_index"].tolist() == [1, 1, 1, 2]  # the parts' own extras kept
    assert table.task == "singlelabel"


def test_parts_must_agree_on_classes(roots):
    with pytest.raises(ConfigError, match="disagree on classes: casme2 has Disgust.*samm has "
                                          "Negative, Positive, Surprise"):
        load_composite([DatasetPart("casme2", roots["casme2"]), _parts(roots)[1]])


def test_megc2019_needs_exactly_its_parts_and_sets_the_mapping(roots):
    with pytest.raises(ConfigError, match="needs exactly the parts smic, casme2, samm "
                                          r"\(missing smic\)"):
        load_composite([DatasetPart("casme2", roots["casme2"]),
                        DatasetPart("samm", roots["samm"])], composite="megc2019")
    with pytest.raises(ConfigError, match="contradicts"):
        load_composite([DatasetPart("smic", roots["samm"]),
                        DatasetPart("casme2", roots["casme2"], options={"composite": False}),
                        DatasetPart("samm", roots["samm"])], composite="megc2019")
    with pytest.raises(ConfigError, match="unknown composite"):
        load_composite(_parts(roots), composite="megc2018")


def test_command_line_forms_of_the_parts(tmp_path):
    one = dataset_parts(["casme2"], tmp_path, [str(tmp_path / "s.xlsx")], ["frames=A.b"])
    assert one == [DatasetPart("casme2", tmp_path, tmp_path / "s.xlsx", {"frames": "A.b"})]
    assert dataset_parts([f"casme2:{tmp_path}"])[0].root == tmp_path
    two = dataset_parts([f"casme2:{tmp_path}", f"samm:{tmp_path}"],
                        labels=[f"samm:{tmp_path}/x.csv"],
                        options=["casme2.composite=true", "samm.frames=SAMM.v2"])
    assert two[0].options == {"composite": True} and two[1].options == {"frames": "SAMM.v2"}
    assert two[1].labels == tmp_path / "x.csv" and two[0].labels is None
    for datasets, root, options, message in [
        (["casme2", "samm"], None, None, "a root each"),
        (["casme2"], None, None, "needs --root"),
        ([f"casme2:{tmp_path}"], tmp_path, None, "--root goes with one"),
        ([f"casme2:{tmp_path}", "samm"], None, None, "'samm' has no root"),
        ([f"casme2:{tmp_path}", f"samm:{tmp_path}"], None, ["composite=true"],
         "NAME.KEY=VALUE"),
    ]:
        with pytest.raises(ConfigError, match=message):
            dataset_parts(datasets, root, None, options)
    with pytest.raises(ConfigError, match="given twice"):
        load_parts([DatasetPart("casme2", tmp_path), DatasetPart("casme2", tmp_path)])


def test_check_data_and_extract_a_composite(roots, tmp_path):
    """One check-data and one extract run, as users run them."""
    parts = ["--dataset", f"casme2:{roots['casme2']}", "--dataset", f"samm:{roots['samm']}",
             "--dataset-option", "casme2.composite=true", "--dataset-option",
             "samm.composite=true"]
    check = _mefuse("check-data", *parts)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "casme2+samm" in check.stdout and "dataset parts" in check.stdout
    assert "ok: 4 sequences, 4 clips" in check.stdout
    store = tmp_path / "store"
    run = _mefuse("extract", *parts, "-s", str(store), "-e", "flow", "--option",
                  "flow.size=32", "--crop-size", "96", "--quiet", "--jobs", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    table = ClipTable.read(store / "clips.csv", ["Negative", "Positive", "Surprise"])
    assert set(table.frame["dataset"]) == {"casme2", "samm"}
    assert all(c.startswith(("casme2_", "samm_")) for c in table.clip_ids)
    bad = _mefuse("check-data", *parts[:4], "--dataset-option", "composite=true")
    assert bad.returncode == 2 and bad.stderr.count("error:") == 1, bad.stderr
    assert "NAME.KEY=VALUE" in bad.stderr
    missing = _mefuse("check-data", *parts[:4], "--composite", "megc2019")
    assert missing.returncode == 2 and "missing smic" in missing.stderr, missing.stderr
