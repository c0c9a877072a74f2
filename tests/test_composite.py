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


# --------------------------------------------------------------------------- per-part scores
def test_per_part_scores_equal_a_hand_computation():
    from sklearn.metrics import f1_score, recall_score

    from mefuse.train.config import CVConfig
    from mefuse.train.cv import part_scores

    classes = ["Negative", "Positive", "Surprise"]
    truth = [0, 0, 1, 2, 0, 1, 1, 2, 2, 0]
    guess = [0, 1, 1, 2, 0, 0, 1, 0, 2, 0]
    parts = ["a"] * 4 + ["b"] * 6
    frame = pd.DataFrame({"clip_id": [f"c{i}" for i in range(10)],
                          "sequence_id": [f"c{i}" for i in range(10)], "view": "full",
                          "subject": [f"p{i % 3}" for i in range(10)], "dataset": parts})
    for k, name in enumerate(classes):
        frame[f"p_{name}"] = [float(g == k) for g in guess]
        frame[f"y_{name}"] = [int(t == k) for t in truth]
        frame[f"pred_{name}"] = [int(g == k) for g in guess]
        frame[f"t_{name}"] = 0.5
    config = CVConfig(modalities=["x"], level="clip", task="singlelabel")
    scores = part_scores(frame, classes, config)
    assert list(scores) == ["a", "b"]
    for part, rows in (("a", slice(0, 4)), ("b", slice(4, 10))):
        t, g = truth[rows], guess[rows]
        expected_uf1 = f1_score(t, g, average="macro", labels=[0, 1, 2], zero_division=0)
        expected_uar = recall_score(t, g, average="macro", labels=[0, 1, 2], zero_division=0)
        assert scores[part]["uf1"] == pytest.approx(expected_uf1)
        assert scores[part]["uar"] == pytest.approx(expected_uar)
        assert scores[part]["n_clips"] == len(t)
    assert part_scores(frame.assign(dataset="a"), classes, config) == {}


# --------------------------------------------------------------------------- lodo
@pytest.fixture(scope="module")
def composite_store(tmp_path_factory) -> Path:
    from mefuse.demo.features import DemoSpec, make_demo_store

    root = tmp_path_factory.mktemp("lodo") / "store"
    spec = DemoSpec(subjects=6, sequences_per_subject=4, views=("full",), min_frames=6,
                    max_frames=8, signal_dim=6, noise_dim=4)
    table = make_demo_store(root, spec, classes=("Negative", "Positive", "Surprise"))
    frame = table.frame
    part = {f"sub{i:02d}": "abc"[i // 2] for i in range(6)}
    frame.insert(4, "dataset", frame["subject"].map(part))
    ClipTable.from_frame(frame, table.classes).write(root / "clips.csv")
    return root


def test_lodo_folds_hold_out_one_dataset_each(composite_store):
    from mefuse.train.protocols import make_folds

    table = ClipTable.read(composite_store / "clips.csv", ["Negative", "Positive", "Surprise"])
    folds = make_folds(table, "lodo", 3, 0)
    parts = table.frame["dataset"].to_numpy()
    assert [sorted(set(parts[f.test])) for f in folds] == [["a"], ["b"], ["c"]]
    for fold in folds:
        assert not set(parts[fold.train]) & set(parts[fold.test])
        assert len(fold.train) + len(fold.test) == len(table)
    with pytest.raises(Exception, match="at least two datasets"):
        make_folds(table.subset(parts == "a"), "lodo", 3, 0)
    with pytest.raises(Exception, match="composite clip table"):
        make_folds(ClipTable.from_frame(table.frame.drop(columns="dataset"), table.classes),
                   "lodo", 3, 0)


def test_cv_lodo_prints_and_writes_per_part_scores(composite_store, tmp_path):
    out = tmp_path / "run"
    run = _mefuse("cv", "-s", str(composite_store), "-m", "signal", "--strategy", "single",
                  "--protocol", "lodo", "--epochs", "2", "--seeds", "0,1", "-q", "-o", str(out),
                  "--classes", "Negative,Positive,Surprise")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "held out" in run.stdout and "per dataset part" in run.stdout
    for part in ("a", "b", "c", "composite"):
        assert any(line.lstrip("│ ").startswith(part) for line in run.stdout.splitlines()), \
            run.stdout
    results = json.loads((out / "results.json").read_text())
    by_dataset = results["summary"]["by_dataset"]
    assert list(by_dataset) == ["a", "b", "c"]
    assert sum(v["n_clips"] for v in by_dataset.values()) == 24
    assert [f["test_datasets"] for f in results["folds"]] == [["a"], ["b"], ["c"]] * 2
    assert results["summary"]["headline"]["metric"] == "uf1"
    assert "by_dataset" in results["pooled"][0]
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["dataset"]) == {"a", "b", "c"}
    bad = _mefuse("cv", "-s", str(composite_store), "-m", "signal", "--protocol", "lodi",
                  "-o", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "lodo" in bad.stderr, bad.stderr


def test_report_and_bench_tables_show_each_part(composite_store, tmp_path):
    from typer.testing import CliRunner

    from mefuse.cli.main import app
    from mefuse.report.html import write_report

    out = tmp_path / "bench"
    result = CliRunner().invoke(app, [
        "bench", "-s", str(composite_store), "--variants", "single", "--modality", "signal",
        "--protocol", "lodo", "--epochs", "1", "--seeds", "0", "--classes",
        "Negative,Positive,Surprise", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    tables = (out / "tables.md").read_text()
    assert "## Per dataset part" in tables and "| Composite | a | b | c |" in tables
    cells = pd.read_csv(out / "cells.csv")
    assert {"part_uf1_a", "part_uar_c"} <= set(cells.columns)
    cell = next((out / "cells").iterdir())
    page = write_report(cell, tmp_path / "report").read_text()
    assert 'class="dataset-parts"' in page and ">composite<" in page
