"""Scores, all from scikit-learn.

- per fold: macro-F1 over classes (the paper's number) and per-class F1;
- pooled over the folds of one seed: UF1 (unweighted, i.e. macro, F1) and UAR (unweighted
  average recall), as the MEGC protocols compute them on predictions pooled across folds;
- sequence level: the views of a sequence are merged per class by the maximum of their
  probabilities, then decided as a clip is: thresholds for multi-label tasks (the same as an OR
  of the views' decisions), the arg-max for single-label ones (so a sequence gets exactly one
  class; an OR of the views' arg-max could give it two).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, recall_score


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean over classes of per-class F1 (a class with no true and no predicted positive
    scores 0, so an absent class never inflates the mean)."""
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def macro_f1_present(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """Mean F1 over the classes present in ``y_true`` only (``None`` when none is).

    Under leave-one-subject-out a held-out person rarely shows every class, and
    :func:`macro_f1` scores each absent class 0, so a fold classified perfectly can score 0.4.
    "Present" means present in the test truth, not in truth or prediction: the set of classes
    averaged over is then fixed by the data, the same for every model scored on the fold, so
    two models' fold scores stay comparable (with truth-or-prediction a model changes its own
    denominator by what it predicts). A false positive of an absent class still costs recall of
    the true class (single-label) and counts in the pooled UF1, which is the headline there.
    """
    present = np.flatnonzero(np.asarray(y_true).sum(axis=0) > 0)
    if not len(present):
        return None
    return float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def weighted_macro_f1(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Macro-F1 of 0/1 decisions ``pred`` against ``y`` (units x classes) under each row of
    ``weights`` (replicates x units): one score per replicate.

    Why: a bootstrap replicate is a multiplicity per unit, so per-class true and false
    positives are weighted sums and a thousand replicates cost one matrix product instead of a
    thousand calls to scikit-learn. A class with no weighted true or predicted positive scores
    0, as in :func:`macro_f1` (``zero_division=0``).
    """
    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    tp = weights @ (y * pred)
    fp = weights @ ((1 - y) * pred)
    fn = weights @ (y * (1 - pred))
    denominator = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=1)


def per_class_f1(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]
) -> dict[str, float]:
    """F1 of each class (columns of 0/1 matrices), keyed by class name."""
    scores = f1_score(y_true, y_pred, average=None, zero_division=0)
    return {c: float(s) for c, s in zip(classes, np.atleast_1d(scores), strict=True)}


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: the mean of per-class recalls."""
    return float(recall_score(y_true, y_pred, average="macro", zero_division=0))


def merge_views(
    frame: pd.DataFrame, probabilities: np.ndarray, labels: np.ndarray
) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Merge the clips (views) of each sequence: per-class max of probabilities and labels.

    ``frame`` has a ``sequence_id`` column aligned with the rows of ``probabilities`` and
    ``labels``. Returns the sequence ids (first-appearance order) and the merged arrays.
    """
    sequences = frame["sequence_id"].to_numpy()
    order = pd.unique(sequences)
    position = {s: i for i, s in enumerate(order)}
    rows = np.array([position[s] for s in sequences])
    merged_p = np.full((len(order), probabilities.shape[1]), -np.inf)
    merged_y = np.zeros((len(order), labels.shape[1]), dtype=labels.dtype)
    np.maximum.at(merged_p, rows, probabilities)
    np.maximum.at(merged_y, rows, labels)
    return pd.Series(order, name="sequence_id"), merged_p, merged_y


def merged_decisions(probabilities: np.ndarray, thresholds: np.ndarray, task: str) -> np.ndarray:
    """0/1 decisions from (merged) probabilities: per-class thresholds (multi-label) or the
    arg-max, one class per row (single-label)."""
    probabilities = np.asarray(probabilities, dtype=float)
    if task == "singlelabel":
        out = np.zeros(probabilities.shape, dtype=np.int64)
        out[np.arange(len(out)), probabilities.argmax(axis=1)] = 1
        return out
    return (probabilities >= np.asarray(thresholds, dtype=float)).astype(np.int64)
