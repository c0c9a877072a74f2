"""The confusion matrix of a single-label run (true class x predicted class).

A single-label run decides one class per unit (the arg-max), so its errors are confusions
between classes: which emotion is taken for which. The per-class 2x2 counts and thresholds of a
multi-label run say nothing there. Computed from ``predictions.csv`` at the run's scoring level,
exactly as ``mefuse cv`` scored it, for the terminal summary and the report alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mefuse.train.results import CVResult


def is_single_label(result: CVResult) -> bool:
    """Whether the run was trained and scored single-label (softmax, one class per unit)."""
    return result.config.get("task") == "singlelabel"


def single_label_units(frame: pd.DataFrame, classes: Sequence[str], level: str
                       ) -> tuple[np.ndarray, np.ndarray]:
    """0/1 truth and arg-max decisions of prediction rows, views merged at sequence level."""
    from mefuse.train.cv import _scored

    return _scored(frame, list(classes), level, "singlelabel")


def confusion_matrix(result: CVResult) -> pd.DataFrame:
    """True class (rows) x predicted class (columns) counts of the pooled test predictions,
    averaged over seeds (each seed's folds cover every unit once, so a seed's counts add up to
    the number of units). Empty for multi-label runs and runs without predictions."""
    classes = list(result.classes)
    predictions = result.predictions
    if not is_single_label(result) or predictions is None or predictions.empty:
        return pd.DataFrame()
    level = result.config.get("level", "sequence")
    seeds = sorted(predictions["seed"].unique())
    total = np.zeros((len(classes), len(classes)))
    for seed in seeds:
        y, pred = single_label_units(predictions[predictions["seed"] == seed], classes, level)
        np.add.at(total, (y.argmax(axis=1), pred.argmax(axis=1)), 1)
    return pd.DataFrame(total / len(seeds), index=pd.Index(classes, name="true"),
                        columns=pd.Index(classes, name="predicted"))


def row_normalised(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by its total: the share of each true class given each prediction (the
    diagonal is the per-class recall); a class with no unit keeps a row of zeros."""
    totals = matrix.sum(axis=1).to_numpy()[:, None]
    return pd.DataFrame(matrix.to_numpy() / np.where(totals > 0, totals, 1.0),
                        index=matrix.index, columns=matrix.columns)
