"""A store records its task and classes at extraction; cv, train, bench and the API use them.

The store is a CASME II layout (single-label, its own emotion classes) read by the real adapter,
with features written directly (one clear direction per class, so a model classifies every clip
right) and the store's reports written by the extraction's own report step.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from mefuse import FOURDMR_CLASSES, api
from mefuse.data.adapters import clip_table, load_dataset
from mefuse.errors import ConfigError, DataError
from mefuse.store import FeatureStore
from mefuse.store.reports import write_reports
from mefuse.store.task import TASK_RECORD, read_task_record, resolve_store_task
from mefuse.train.report_table import result_table
from mefuse.train.results import CVResult
from test_cli_errors import run_mefuse

EMOTIONS = ("happiness", "disgust", "surprise")
CLASSES = ["Disgust", "Happiness", "Surprise"]  # the adapter's order: title case, sorted


def _casme2_layout(root: Path) -> Path:
    """Three subjects, each showing two of the three emotions twice (so each leave-one-subject-
    out fold lacks one class, and training always sees all three)."""
    rows = []
    for subject in (1, 2, 3):
        shown = [EMOTIONS[subject - 1], EMOTIONS[subject % 3]]
        for index, emotion in enumerate(shown * 2):
            name = f"EP0{index}_0{subject}"
            folder = root / "CASME2_RAW_selected" / f"sub0{subject}" / name
            folder.mkdir(parents=True)
            for n in range(1, 5):
                assert cv2.imwrite(str(folder / f"img{n}.jpg"), np.full((6, 8, 3), 60, np.uint8))
            rows.append({"Subject": subject, "Filename": name, "OnsetFrame": 1, "ApexFrame": 2,
                         "OffsetFrame": 4, "Action Units": "12", "Estimated Emotion": emotion})
    pd.DataFrame(rows).to_excel(root / "CASME2-coding-20140508.xlsx", index=False)
    return root


@pytest.fixture(scope="module")
def casme2_store(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("casme2")
    table = clip_table(load_dataset("casme2", _casme2_layout(base / "data")), ["full"])
    store = FeatureStore(base / "store")
    rng = np.random.default_rng(0)
    with store.writer("feat", {"params": {}}) as writer:
        for clip, labels in zip(table.clip_ids, table.labels, strict=True):
            features = rng.normal(0, 0.05, (6, 4)).astype(np.float32)
            features[:, int(labels.argmax())] += 3.0
            writer.write(clip, features)
    write_reports(store, table, ["feat"], [], {"clips": len(table)})
    return store.root


def test_extraction_records_the_task_and_classes(casme2_store):
    record = json.loads((casme2_store / TASK_RECORD).read_text())
    assert record == {"task": "singlelabel", "classes": CLASSES}
    assert read_task_record(casme2_store).classes == tuple(CLASSES)


@pytest.fixture(scope="module")
def loso_run(casme2_store, tmp_path_factory):
    """``mefuse cv`` on the store without --task or --classes, leave-one-subject-out."""
    out = tmp_path_factory.mktemp("loso")
    result = run_mefuse(["cv", "-s", str(casme2_store), "-m", "feat", "--protocol", "loso",
                         "--epochs", "40", "--frames", "4", "-q", "-o", str(out / "run")], out)
    assert result.returncode == 0, result.stderr
    return result, out / "run"


def test_cv_without_flags_runs_single_label_with_the_loso_headline(loso_run):
    """Every clip right: the headline is the pooled UF1 (1.000), not the per-fold macro-F1
    that scores each class a held-out subject lacks 0; the terminal shows the confusion matrix
    and no multi-label per-class blocks."""
    result, run = loso_run
    data = json.loads((run / "results.json").read_text())
    assert data["config"]["task"] == "singlelabel" and data["classes"] == CLASSES
    summary = data["summary"]
    assert summary["uf1_mean"] == 1.0 and summary["uar_mean"] == 1.0
    assert summary["headline"]["metric"] == "uf1" and summary["headline"]["value"] == 1.0
    # the paper's per-fold number scores the class each subject lacks 0
    assert summary["macro_f1_mean"] == pytest.approx(2 / 3)
    assert summary["macro_f1_present_mean"] == 1.0
    assert all(f["macro_f1_present"] == 1.0 and len(f["classes_present"]) == 2
               for f in data["folds"])
    assert "UF1 (pooled) 1.000 ± 0.000, UAR 1.000" in " ".join(result.stdout.split())
    assert "confusion matrix" in result.stdout
    assert "4 (1.00)" in result.stdout and "0 (0.00)" in result.stdout  # 4 clips per class


def test_report_of_a_single_label_loso_run(loso_run, tmp_path):
    from mefuse.report import write_report

    html = write_report(loso_run[1], tmp_path / "report").read_text()
    assert ">1.000 ± 0.000</div><div class=\"label\">UF1 (pooled) · headline<" in html
    assert 'data-plot="confusion-matrix"' in html and 'class="confusion-matrix"' in html
    assert "4 (1.00)" in html
    assert 'data-plot="confusion"' not in html  # no per-class 2x2 blocks
    assert "Thresholds" not in html
    assert "Macro-F1 (classes present)" in html


def test_results_written_before_the_headline_still_load(loso_run, tmp_path):
    data = json.loads((loso_run[1] / "results.json").read_text())
    recorded = data["summary"].pop("headline")
    for key in ("macro_f1_present_mean", "macro_f1_present_std", "per_class_f1_pooled_mean"):
        data["summary"].pop(key)
    for fold in data["folds"]:
        fold.pop("macro_f1_present"), fold.pop("classes_present")
    (tmp_path / "results.json").write_text(json.dumps(data))
    old = CVResult.read(tmp_path)
    assert old.summary["headline"] == recorded
    text = " ".join(_render(result_table(old)).split())
    assert "UF1 (pooled) 1.000" in text and "0.667" in text  # the old fold numbers, as they were
    from mefuse.report import write_report

    html = write_report(tmp_path, tmp_path / "report").read_text()
    assert "UF1 (pooled) · headline" in html and "classes present" not in html


def _render(table) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_bench_tables_follow_the_protocol(casme2_store, tmp_path):
    result = run_mefuse(["bench", "-s", str(casme2_store), "--variants", "single", "--sets",
                         "alone", "--protocol", "loso", "--epochs", "40", "--frames", "4", "-q",
                         "-o", str(tmp_path / "bench")], tmp_path)
    assert result.returncode == 0, result.stderr
    markdown = (tmp_path / "bench" / "tables.md").read_text()
    assert "| Extractor | Kind | UF1 (pooled) | Var |" in markdown
    assert "| feat |" in markdown and "**100.00 ± 0.00** | – |" in markdown
    cells = pd.read_csv(tmp_path / "bench" / "cells.csv")
    assert cells["headline_metric"].tolist() == ["uf1"] and cells["headline"].tolist() == [1.0]


@pytest.mark.parametrize(("flags", "message"), [
    (["--task", "multilabel"], "--task multilabel contradicts the store's task singlelabel"),
    (["--classes", "Happiness,Disgust"],
     "--classes Happiness,Disgust leaves out some of the store's classes Disgust,Happiness,"
     "Surprise"),
    (["--classes", "Negative,Positive"], "--classes Negative,Positive contradicts"),
])
def test_a_contradicting_flag_is_refused_in_one_line(casme2_store, tmp_path, flags, message):
    for verb in ("cv", "train") if flags[0] == "--task" else ("cv",):
        result = run_mefuse([verb, "-s", str(casme2_store), "-m", "feat", *flags, "-q",
                             "-o", str(tmp_path / verb)], tmp_path)
        assert result.returncode == 2, result.stdout
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], result.stderr
        assert not (tmp_path / verb).exists()


def test_bench_refuses_a_contradicting_flag(casme2_store, tmp_path):
    result = run_mefuse(["bench", "-s", str(casme2_store), "--task", "multilabel", "--dry-run",
                         "-o", str(tmp_path / "bench")], tmp_path)
    assert result.returncode == 2 and "contradicts the store's task" in result.stderr


def test_the_api_uses_the_record_and_refuses_a_contradiction(casme2_store):
    assert list(api.clips_table(casme2_store).columns[4:7]) == CLASSES
    with pytest.raises(ConfigError, match="task='multilabel' contradicts"):
        api.cross_validate(casme2_store, ["feat"], task="multilabel")
    settings = api._settings(casme2_store, ["feat"], {})
    assert settings["task"] == "singlelabel" and settings["classes"] == CLASSES


def test_a_preset_gives_way_to_the_record_with_a_note(casme2_store):
    settings = {"task": "multilabel", "classes": ["Negative", "Positive"]}
    notes = resolve_store_task(casme2_store, settings)
    assert settings == {"task": "singlelabel", "classes": CLASSES}
    assert len(notes) == 2 and "replaces multilabel" in notes[0]
    reordered = {"classes": ["Surprise", "Disgust", "Happiness"]}
    assert resolve_store_task(casme2_store, reordered) == []
    assert reordered["classes"] == ["Surprise", "Disgust", "Happiness"]


def test_a_multilabel_record_allows_a_subset_of_its_classes(tmp_path):
    (tmp_path / TASK_RECORD).write_text(json.dumps({"task": "multilabel",
                                                    "classes": ["A", "B", "C"]}))
    settings = {"classes": ["A", "C"]}
    assert resolve_store_task(tmp_path, settings, given_classes=["A", "C"]) == []
    assert settings == {"classes": ["A", "C"]}  # multilabel: the default, left unset
    assert resolve_store_task(tmp_path, settings := {}) == [] and settings == {
        "classes": ["A", "B", "C"]}
    with pytest.raises(ConfigError, match="--classes A,D contradicts"):
        resolve_store_task(tmp_path, {}, given_classes=["A", "D"])


def test_a_record_of_the_defaults_changes_no_setting(tmp_path):
    """A 4DMR store's record leaves the settings (and so bench cell ids) as without one."""
    (tmp_path / TASK_RECORD).write_text(json.dumps({"task": "multilabel",
                                                    "classes": list(FOURDMR_CLASSES)}))
    assert resolve_store_task(tmp_path, settings := {}) == [] and settings == {}
    with pytest.raises(ConfigError, match="--task singlelabel contradicts"):
        resolve_store_task(tmp_path, {}, given_task="singlelabel")


def test_a_store_without_a_record_keeps_the_old_defaults_with_a_hint(casme2_store, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    for item in casme2_store.iterdir():
        if item.name != TASK_RECORD:
            (old / item.name).symlink_to(item)
    assert resolve_store_task(old, settings := {}) == [] and settings == {}
    result = run_mefuse(["cv", "-s", str(old), "-m", "feat", "-q", "-o", str(tmp_path / "r")],
                        tmp_path)
    assert result.returncode == 2
    assert "unknown class column(s) 'Negative'" in result.stderr
    assert "records no task" in result.stderr and "--task singlelabel" in result.stderr
    result = run_mefuse(["cv", "-s", str(old), "-m", "feat", "--classes", ",".join(CLASSES),
                         "--epochs", "1", "-q", "-o", str(tmp_path / "r")], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "records no task; if the classes exclude each other" in " ".join(result.stdout.split())
    assert json.loads((tmp_path / "r" / "results.json").read_text())["config"]["task"] == (
        "multilabel")  # as before: the old store's default


def test_a_broken_record_is_named(tmp_path):
    (tmp_path / TASK_RECORD).write_text("{not json")
    with pytest.raises(DataError, match="task.json cannot be read"):
        read_task_record(tmp_path)
    (tmp_path / TASK_RECORD).write_text(json.dumps({"task": "both", "classes": ["A"]}))
    with pytest.raises(DataError, match="is not a task record"):
        read_task_record(tmp_path)


def test_train_without_flags_fits_the_store_task(casme2_store, tmp_path):
    result = run_mefuse(["train", "-s", str(casme2_store), "-m", "feat", "--epochs", "2", "-q",
                         "-o", str(tmp_path / "m.pt")], tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "trained on 12 clips (singlelabel)" in text and "most probable class" in text
    from mefuse.train.trainer import TrainedModel

    model = TrainedModel.load(tmp_path / "m.pt")
    assert model.classes == CLASSES and model.config.task == "singlelabel"
