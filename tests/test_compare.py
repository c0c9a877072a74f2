"""The paired bootstrap difference on constructed predictions whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mefuse.errors import DataError
from mefuse.train.compare import paired_difference
from mefuse.train.metrics import macro_f1

CLASSES = ["a", "b", "c", "d"]


def _frame(rng: np.random.Generator, *, subjects: int = 12, per_subject: int = 4,
           seeds: int = 2, folds: int = 3) -> pd.DataFrame:
    """Perfect predictions for every clip (two views per sequence), class ``a`` always on."""
    rows = []
    for seed in range(seeds):
        fold_of = rng.permutation(np.arange(subjects) % folds)
        for s in range(subjects):
            for q in range(per_subject):
                labels = rng.integers(0, 2, size=len(CLASSES))
                labels[0] = 1
                for view in ("left", "right"):
                    row = {"seed": seed, "fold": int(fold_of[s]), "clip_id": f"p{s}q{q}{view}",
                           "sequence_id": f"p{s}q{q}", "subject": f"p{s}", "view": view}
                    for c, value in zip(CLASSES, labels, strict=True):
                        row[f"y_{c}"] = int(value)
                        row[f"pred_{c}"] = int(value)
                    rows.append(row)
    return pd.DataFrame(rows)


def _noisy(frame: pd.DataFrame, rng: np.random.Generator, flip: float) -> pd.DataFrame:
    out = frame.copy()
    for c in CLASSES:
        mask = rng.random(len(out)) < flip
        out.loc[mask, f"pred_{c}"] = 1 - out.loc[mask, f"pred_{c}"]
    return out


def test_identical_runs_give_an_interval_at_zero():
    rng = np.random.default_rng(0)
    frame = _noisy(_frame(rng), rng, 0.2)
    result = paired_difference(frame, frame.copy(), CLASSES, replicates=300)
    assert result.difference == 0.0
    assert result.low == 0.0 and result.high == 0.0
    assert not result.excludes_zero
    assert result.unit == "subject" and result.n_units == 12 and result.n_runs == 6


def test_a_constant_shift_is_found_exactly():
    """B misses class ``a`` everywhere (present in every sequence): every fold, every resample,
    loses exactly 1/4 of macro-F1."""
    rng = np.random.default_rng(1)
    good = _frame(rng)
    bad = good.copy()
    bad["pred_a"] = 0
    result = paired_difference(good, bad, CLASSES, replicates=300)
    assert result.difference == pytest.approx(0.25)
    assert result.low == pytest.approx(0.25) and result.high == pytest.approx(0.25)
    assert result.excludes_zero
    reverse = paired_difference(bad, good, CLASSES, replicates=300)
    assert reverse.difference == pytest.approx(-0.25) and reverse.excludes_zero


def test_equal_quality_noise_is_not_called_a_difference_and_a_real_gap_is():
    rng = np.random.default_rng(2)
    truth = _frame(rng, subjects=20)
    one, two = _noisy(truth, rng, 0.2), _noisy(truth, rng, 0.2)
    same = paired_difference(one, two, CLASSES, replicates=500)
    assert same.low < 0 < same.high
    worse = _noisy(truth, rng, 0.4)
    gap = paired_difference(one, worse, CLASSES, replicates=500)
    assert gap.difference > 0.1 and gap.excludes_zero


def test_point_estimate_is_the_mean_fold_difference_of_the_table():
    rng = np.random.default_rng(3)
    truth = _frame(rng)
    one, two = _noisy(truth, rng, 0.15), _noisy(truth, rng, 0.3)

    def table_mean(frame: pd.DataFrame) -> float:
        merged = frame.groupby(["seed", "fold", "sequence_id"]).max(numeric_only=True)
        scores = [macro_f1(g[[f"y_{c}" for c in CLASSES]].to_numpy(),
                           g[[f"pred_{c}" for c in CLASSES]].to_numpy())
                  for _, g in merged.groupby(level=["seed", "fold"])]
        return float(np.mean(scores))

    result = paired_difference(one, two, CLASSES, replicates=50)
    assert result.difference == pytest.approx(table_mean(one) - table_mean(two))


def test_sequences_as_units_and_unpaired_frames_refused():
    rng = np.random.default_rng(4)
    frame = _frame(rng, subjects=3)
    result = paired_difference(frame, frame, CLASSES, replicates=20)
    assert result.unit == "sequence" and result.n_units == 12  # too few subjects: sequences
    with pytest.raises(DataError, match="same seeds, folds"):
        paired_difference(frame, frame[frame["seed"] == 0], CLASSES)
