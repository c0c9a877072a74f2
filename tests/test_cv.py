"""Cross-validation end to end on the feature-level demo: learning, determinism, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from mefuse.data.clips import ClipTable
from mefuse.errors import DataError
from mefuse.train import batched as batched_module
from mefuse.train import trainer as trainer_module
from mefuse.train.config import CVConfig, OptimConfig
from mefuse.train.cv import run_cv
from mefuse.train.results import CVResult

QUICK = OptimConfig(epochs=8)


@pytest.fixture(scope="module")
def gated_result(demo_store):
    root, table = demo_store
    return run_cv(root, table, CVConfig(modalities=["signal", "noise"], strategy="gated"))


def test_gated_learns_and_trusts_the_informative_modality(gated_result):
    summary = gated_result.summary
    assert summary["macro_f1_mean"] >= 0.8
    assert summary["gate_mean"]["signal"] >= 0.7
    assert all(row["gate"]["signal"] >= 0.6 for row in gated_result.folds)


def test_single_on_noise_stays_near_chance(demo_store, gated_result):
    root, table = demo_store
    noise = run_cv(root, table, CVConfig(modalities=["noise"], strategy="single"))
    # chance for a predictor that says "yes" at each class's base rate is about that rate
    chance = float(table.sequences()[list(table.classes)].mean().mean())
    assert noise.summary["macro_f1_mean"] <= chance + 0.1
    assert noise.summary["macro_f1_mean"] < gated_result.summary["macro_f1_mean"] - 0.4


def test_results_json_holds_everything(gated_result, tmp_path):
    path = gated_result.write(tmp_path)
    data = json.loads(path.read_text())
    assert data["config"]["strategy"] == "gated"
    assert data["config"]["model"]["frames"] == 18
    assert len(data["folds"]) == 3
    fold = data["folds"][0]
    assert set(fold["per_class_f1"]) == set(data["classes"])
    assert set(fold["gate"]) == {"signal", "noise"}
    assert sum(fold["gate"].values()) == pytest.approx(1.0)
    assert {"uf1", "uar", "per_class_f1"} <= set(data["pooled"][0])
    assert {"macro_f1_mean", "macro_f1_std", "uf1_mean", "uar_mean"} <= set(data["summary"])
    assert data["runtime_s"] > 0
    assert data["provenance"]["extractors"]["signal"]["extractor"] == "demo-signal"
    again = CVResult.read(tmp_path)
    assert again.summary == data["summary"]
    assert len(again.predictions) == len(gated_result.predictions)
    assert any(k.endswith("/signal") for k in again.attention)


def test_each_clip_is_tested_once_per_seed_and_pooled_scores_use_them(gated_result):
    predictions = gated_result.predictions
    assert predictions.groupby("seed")["clip_id"].apply(lambda s: s.is_unique).all()
    assert predictions["clip_id"].nunique() == gated_result.summary["n_clips"]


def run_quick(root, table, seeds):
    return run_cv(root, table, CVConfig(modalities=["signal", "noise"], strategy="gated",
                                        optim=QUICK, seeds=seeds))


def test_same_seed_same_numbers_other_seed_other_numbers(demo_store, tmp_path):
    root, table = demo_store
    first, second, other = (run_quick(root, table, s) for s in ([5], [5], [6]))
    strip = {"runtime_s", "provenance"}

    def metrics(result):
        path = result.write(tmp_path / str(id(result)))
        data = json.loads(path.read_text())
        return {k: v for k, v in data.items() if k not in strip}

    assert metrics(first) == metrics(second)
    assert metrics(first)["folds"] != metrics(other)["folds"]


@pytest.mark.parametrize("engine", ["loop", "batched"])
def test_tuned_thresholds_never_see_the_test_fold(demo_store, monkeypatch, engine):
    root, table = demo_store
    seen: list[set[str]] = []
    original = trainer_module.choose_thresholds

    def spy(inner, data, labels, sequence_ids, in_train):
        seen.append(set(data.clip_ids))
        return original(inner, data, labels, sequence_ids, in_train)

    monkeypatch.setattr(trainer_module, "choose_thresholds", spy)
    monkeypatch.setattr(batched_module, "choose_thresholds", spy)
    config = CVConfig(modalities=["signal"], strategy="single", optim=QUICK,
                      thresholds={"mode": "tuned"}, engine=engine)
    result = run_cv(root, table, config)
    assert len(seen) == 3
    for fold, clips_seen in zip(result.folds, seen, strict=True):
        tested = set(result.predictions.query("fold == @fold['fold']")["clip_id"])
        assert not clips_seen & tested
        assert all(0.05 <= t <= 0.95 for t in fold["thresholds"])
    assert any(t != 0.5 for fold in result.folds for t in fold["thresholds"])


def test_class_without_positive_in_a_training_fold_warns(demo_store):
    root, table = demo_store
    frame = table.frame.copy()
    frame["Repression"] = 0
    only = frame["sequence_id"] == frame["sequence_id"].iloc[0]
    frame.loc[only, "Repression"] = 1
    result = run_cv(root, ClipTable.from_frame(frame), CVConfig(
        modalities=["signal"], strategy="single", optim=OptimConfig(epochs=2)))
    assert any("'Repression' has no positive clip" in w for w in result.warnings)


def test_single_label_task(demo_store):
    root, table = demo_store
    frame = table.frame.copy()
    first = frame[list(table.classes)].to_numpy().argmax(axis=1)
    frame[list(table.classes)] = np.eye(len(table.classes), dtype=int)[first]
    result = run_cv(root, ClipTable.from_frame(frame), CVConfig(
        modalities=["signal"], strategy="single", task="singlelabel", optim=QUICK))
    chosen = result.predictions[[f"pred_{c}" for c in table.classes]].to_numpy()
    assert (chosen.sum(axis=1) == 1).all()
    with pytest.raises(DataError, match="one class per clip"):
        run_cv(root, table, CVConfig(modalities=["signal"], strategy="single",
                                     task="singlelabel", optim=QUICK))


@pytest.fixture
def broken_store(demo_store, tmp_path):
    root, table = demo_store
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    return copy, table


def test_missing_clip_file_is_named(broken_store):
    root, table = broken_store
    (root / "signal" / "s003_left.npy").unlink()
    with pytest.raises(DataError, match="s003_left"):
        run_cv(root, table, CVConfig(modalities=["signal"], strategy="single", optim=QUICK))


def test_mixed_widths_are_named(broken_store):
    root, table = broken_store
    np.save(root / "signal" / "s004_right.npy", np.zeros((20, 7), dtype=np.float32))
    with pytest.raises(DataError, match="s004_right.*7 features"):
        run_cv(root, table, CVConfig(modalities=["signal"], strategy="single", optim=QUICK))


def test_nan_values_are_named(broken_store):
    root, table = broken_store
    array = np.load(root / "noise" / "s001_left.npy")
    array[0, 0] = np.nan
    np.save(root / "noise" / "s001_left.npy", array)
    with pytest.raises(DataError, match="s001_left.*NaN"):
        run_cv(root, table, CVConfig(modalities=["noise"], strategy="single", optim=QUICK))


def test_empty_store(tmp_path, demo_store):
    _, table = demo_store
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        run_cv(tmp_path / "empty", table, CVConfig(modalities=["signal"], strategy="single"))


def test_unlabelled_clips_are_left_out_with_a_warning(demo_store):
    root, table = demo_store
    frame = table.frame.copy()
    frame.loc[frame.index[:4], list(table.classes)] = np.nan
    result = run_cv(root, ClipTable.from_frame(frame), CVConfig(
        modalities=["signal"], strategy="single", optim=OptimConfig(epochs=1)))
    assert result.summary["n_clips"] == len(table) - 4
    assert any("4 unlabelled" in w for w in result.warnings)
    assert isinstance(result.predictions, pd.DataFrame)
