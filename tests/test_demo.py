"""The real-face demo end to end: dataset -> 4dmr adapter -> crops -> mesh3d + flow -> cv."""

from __future__ import annotations

import json

import pytest

from mefuse.data.clips import ClipTable
from mefuse.demo.faces import MOVEMENTS, make_subjects
from mefuse.demo.pipeline import RUNS, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out)


@pytest.mark.slow
def test_gated_fusion_learns_the_demo_under_subject_disjoint_folds(demo):
    out, results = demo
    assert set(results) == set(RUNS)  # every strategy is reported
    gated = results["gated"]
    assert gated.config["protocol"] == "subject-kfold"
    assert gated.summary["macro_f1_mean"] >= 0.6
    for row in gated.folds:  # subject-disjoint: no test subject was trained on
        train_subjects = set(ClipTable.read(out / "store" / "clips.csv").frame["subject"]) - set(
            row["test_subjects"])
        assert not train_subjects & set(row["test_subjects"])
    for name in RUNS:
        data = json.loads((out / "runs" / name / "results.json").read_text())
        assert data["summary"]["n_subjects"] >= 8


@pytest.mark.slow
def test_demo_store_went_through_the_real_pipeline(demo):
    out, _ = demo
    table = ClipTable.read(out / "store" / "clips.csv")
    assert set(table.frame["view"]) == {"left", "right"}
    assert table.frame["subject"].nunique() >= 8
    manifest = json.loads((out / "store" / "flow" / "manifest.json").read_text())
    assert manifest["preprocess"]["views"] == "both"
    assert manifest["preprocess"]["crop_size"] == 256
    assert len(manifest["clips"]) == len(table)
    labels = (out / "dataset" / "train_labels.csv").read_text().splitlines()[0]
    assert labels.startswith("Id,Subject,Negative,Positive,Repression,Surprise,Others")


def test_demo_subjects_are_real_faces_with_distinct_identities():
    subjects = make_subjects()
    assert len({s.name for s in subjects}) >= 8
    assert len(MOVEMENTS) == 5
    for subject in subjects:  # MediaPipe found a face mesh on each (landmarks inside)
        assert subject.landmarks.shape == (478, 2)
        assert 60 < subject.face_width < 288


@pytest.mark.slow
def test_demo_writes_its_comparison_table_beside_the_runs(demo):
    out, results = demo
    markdown = (out / "runs" / "table.md").read_text()
    for name, result in results.items():
        assert f"| {name} | {result.summary['macro_f1_mean']:.3f}±" in markdown
    text = (out / "runs" / "table.txt").read_text()
    assert "…" not in text and all(name in text for name in RUNS)
