"""Cross-validation protocols: leakage guards and agreement with iterative-stratification."""

from __future__ import annotations

import numpy as np
import pytest
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

from mefuse.errors import DataError
from mefuse.train.protocols import make_folds


@pytest.mark.parametrize("protocol", ["subject-kfold", "loso"])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_subject_disjoint_protocols_never_share_a_subject(demo_store, protocol, seed):
    _, table = demo_store
    folds = make_folds(table, protocol, folds=3, seed=seed)
    subjects = table.frame["subject"].to_numpy()
    covered = np.zeros(len(table), dtype=int)
    for fold in folds:
        assert not set(subjects[fold.train]) & set(subjects[fold.test])
        covered[fold.test] += 1
    assert (covered == 1).all()  # every clip is tested exactly once
    if protocol == "loso":
        assert len(folds) == table.frame["subject"].nunique()


def test_subject_kfold_stratifies_labels(demo_store):
    _, table = demo_store
    labels = table.labels
    for fold in make_folds(table, "subject-kfold", folds=4, seed=0):
        share = labels[fold.test].mean(axis=0)
        assert np.all(np.abs(share - labels.mean(axis=0)) < 0.2)


@pytest.mark.parametrize("seed", [0, 3])
def test_mskf_folds_equal_the_iterative_stratification_package(demo_store, seed):
    _, table = demo_store
    sequences = table.sequences()
    expected = list(MultilabelStratifiedKFold(n_splits=3, shuffle=True, random_state=seed).split(
        np.zeros(len(sequences)), sequences[list(table.classes)].to_numpy()))
    folds = make_folds(table, "mskf", folds=3, seed=seed)
    seq_of_clip = table.frame["sequence_id"].to_numpy()
    for fold, (_, test_seq) in zip(folds, expected, strict=True):
        assert set(seq_of_clip[fold.test]) == set(sequences["sequence_id"].iloc[test_seq])


@pytest.mark.parametrize("protocol", ["mskf", "subject-kfold", "loso"])
def test_views_of_a_sequence_stay_together(demo_store, protocol):
    _, table = demo_store
    sequences = table.frame["sequence_id"].to_numpy()
    for fold in make_folds(table, protocol, folds=3, seed=0):
        assert not set(sequences[fold.train]) & set(sequences[fold.test])


def test_too_few_subjects_is_a_clear_error(demo_store):
    _, table = demo_store
    few = table.subset(table.frame["subject"].isin(["sub00", "sub01"]).to_numpy())
    with pytest.raises(DataError, match="at least 3 subjects, the data has 2"):
        make_folds(few, "subject-kfold", folds=3, seed=0)


def test_subject_kfold_with_every_label_combination_rarer_than_the_folds_is_a_clear_error():
    """sklearn's StratifiedGroupKFold raises a bare ValueError here ("n_splits=5 cannot be
    greater than the number of members in each class"); mefuse names the folds and the data."""
    import pandas as pd

    from mefuse.train.protocols import sequence_folds

    classes = ["a", "b", "c"]
    rows = [{"sequence_id": f"q{i}", "subject": f"s{i}", "a": int(i % 2 == 0),
             "b": int(i % 3 == 0), "c": int(i < 2)} for i in range(6)]
    sequences = pd.DataFrame(rows)
    with pytest.raises(DataError, match="needs at least 5 sequences with one same label "
                                        "combination; of this data's 6 sequences, at most"):
        sequence_folds(sequences, classes, "subject-kfold", folds=5, seed=0)
