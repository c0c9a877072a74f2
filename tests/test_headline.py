"""The headline score follows the protocol: the paper's fold macro-F1 for mskf, the pooled
UF1 (MEGC's convention) for leave-one-subject-out; per-fold macro-F1 over present classes."""

from __future__ import annotations

import numpy as np
import pytest

from mefuse.train.config import CVConfig, OptimConfig
from mefuse.train.cv import run_cv
from mefuse.train.headline import headline_metric, make_headline
from mefuse.train.metrics import macro_f1, macro_f1_present


def test_the_headline_is_one_function_of_the_protocol():
    assert headline_metric("mskf") == "macro_f1"
    assert headline_metric("subject-kfold") == "macro_f1"
    assert headline_metric("loso") == "uf1"
    summary = {"macro_f1_mean": 0.5, "macro_f1_std": 0.1, "uf1_mean": 0.9, "uf1_std": 0.02,
               "uar_mean": 0.8}
    assert make_headline(summary, "loso") == {
        "metric": "uf1", "label": "UF1 (pooled)", "value": 0.9, "spread": 0.02,
        "spread_over": "seeds", "uar": 0.8}
    assert make_headline(summary, "mskf")["value"] == 0.5


def test_fold_macro_f1_over_present_classes():
    truth = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])  # class 2 absent from this fold
    right = truth.copy()
    assert macro_f1(truth, right) == pytest.approx(2 / 3)  # the paper's: absent class is 0
    assert macro_f1_present(truth, right) == 1.0
    wrong = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0]])  # a false positive of the absent class
    assert macro_f1_present(truth, wrong) == pytest.approx(np.mean([1.0, 0.0]))
    assert macro_f1_present(np.zeros((2, 3), int), np.zeros((2, 3), int)) is None


@pytest.mark.parametrize("protocol", ["mskf", "loso"])
def test_a_run_records_its_headline(demo_store, protocol):
    root, table = demo_store
    result = run_cv(root, table, CVConfig(modalities=["signal"], strategy="single",
                                          protocol=protocol, optim=OptimConfig(epochs=3)))
    summary = result.summary
    headline = summary["headline"]
    if protocol == "mskf":  # the paper's number, exactly as before
        assert (headline["value"], headline["spread"]) == (summary["macro_f1_mean"],
                                                           summary["macro_f1_std"])
        assert headline["label"] == "macro-F1 (folds)"
    else:
        assert (headline["value"], headline["spread"]) == (summary["uf1_mean"],
                                                           summary["uf1_std"])
        assert headline["uar"] == summary["uar_mean"]
    present = [f["macro_f1_present"] for f in result.folds]
    assert summary["macro_f1_present_mean"] == pytest.approx(np.mean(present))
    assert all(p >= f["macro_f1"] for p, f in zip(present, result.folds, strict=True))
