"""Paired comparison of two cross-validated configurations, with a bootstrap interval.

Why paired: two cells of a bench are scored on the same folds of the same seeds, so most of the
fold-to-fold variation (which people happen to be in a test fold) is shared; the question is
whether *their difference* is more than noise. The point estimate is the mean over seeds and
folds of ``macro-F1(A) - macro-F1(B)``, exactly the difference of the two cells' table means.

The interval resamples the *test units* -- subjects (a cluster bootstrap: a drawn person brings
all their sequences) or sequences -- with replacement, recomputes both cells' fold macro-F1 on
the same resample (the same drawn units weight both), and takes percentiles of the mean
difference. Each seed's folds are scored on the resample as in the original run (a fold that
draws no unit is left out of that replicate, for both cells alike). The interval says how much
the difference would move with other people of the same kind; it does not cover the choice of
seeds (those are averaged, as in the table).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from mefuse.errors import DataError
from mefuse.train.metrics import weighted_macro_f1

Unit = Literal["subject", "sequence"]
MIN_SUBJECTS = 5
"""Fewer distinct subjects than this and the automatic unit falls back to sequences."""


@dataclass(frozen=True)
class PairedDifference:
    """``A - B`` in macro-F1 with its bootstrap interval."""

    a: str
    b: str
    difference: float
    low: float
    high: float
    confidence: float
    unit: str
    n_units: int
    replicates: int
    n_runs: int
    """Seed x fold runs averaged."""

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "excludes_zero": self.excludes_zero}


def _scored(frame: pd.DataFrame, classes: Sequence[str], level: str) -> pd.DataFrame:
    """One row per scored unit of each (seed, fold): labels, decisions, subject, sequence."""
    y_cols = [f"y_{c}" for c in classes]
    p_cols = [f"pred_{c}" for c in classes]
    missing = [c for c in ["seed", "fold", "sequence_id", "subject", *y_cols, *p_cols]
               if c not in frame.columns]
    if missing:
        raise DataError(f"predictions lack column(s) {', '.join(missing)}")
    if level == "sequence":  # views merged per class by the maximum (an OR of decisions)
        frame = (frame.groupby(["seed", "fold", "sequence_id"], sort=True)
                 .agg({"subject": "first", **{c: "max" for c in y_cols + p_cols}})
                 .reset_index())
        frame["key"] = frame["sequence_id"]
    else:
        frame = frame.assign(key=frame["clip_id"]).sort_values(["seed", "fold", "key"])
    return frame.reset_index(drop=True)


def resolve_unit(frame: pd.DataFrame, unit: str) -> Unit:
    """``auto``: subjects when there are at least :data:`MIN_SUBJECTS`, else sequences."""
    if unit in ("subject", "sequence"):
        return unit  # type: ignore[return-value]
    if unit != "auto":
        raise DataError(f"unknown bootstrap unit {unit!r}; choose subject, sequence or auto")
    return "subject" if frame["subject"].nunique() >= MIN_SUBJECTS else "sequence"


def paired_difference(a: pd.DataFrame, b: pd.DataFrame, classes: Sequence[str], *,
                      names: tuple[str, str] = ("A", "B"), level: str = "sequence",
                      unit: str = "auto", replicates: int = 2000, confidence: float = 0.95,
                      seed: int = 0) -> PairedDifference:
    """Macro-F1 of ``a`` minus ``b`` (prediction frames of ``mefuse cv``) with its interval.

    Both frames must hold the same test units in the same seeds and folds, as two bench cells
    of one run do; anything else is refused (an unpaired difference would be meaningless here).
    """
    if not 0 < confidence < 1 or replicates < 1:
        raise ValueError("confidence must be in (0, 1) and replicates >= 1")
    sa, sb = _scored(a, classes, level), _scored(b, classes, level)
    index = ["seed", "fold", "key"]
    if not sa[index].equals(sb[index]):
        raise DataError(f"{names[0]} and {names[1]} were not scored on the same seeds, folds "
                        "and test units; a paired comparison needs cells of one bench run")
    chosen = resolve_unit(sa, unit)
    unit_ids = sa["subject" if chosen == "subject" else "sequence_id"].astype(str).to_numpy()
    units, position = np.unique(unit_ids, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(units), size=(replicates, len(units)))
    counts = np.zeros((replicates + 1, len(units)))
    counts[0] = 1.0  # row 0: the original data (every unit once)
    np.add.at(counts[1:], (np.arange(replicates)[:, None], draws), 1.0)
    weights = counts[:, position]  # (R + 1, rows)
    y_cols = [f"y_{c}" for c in classes]
    p_cols = [f"pred_{c}" for c in classes]
    total = np.zeros(replicates + 1)
    runs = np.zeros(replicates + 1)
    groups = sa.groupby(["seed", "fold"], sort=True).indices
    for rows in groups.values():
        w = weights[:, rows]
        y = sa[y_cols].to_numpy(dtype=float)[rows]
        diff = (weighted_macro_f1(w, y, sa[p_cols].to_numpy(dtype=float)[rows])
                - weighted_macro_f1(w, y, sb[p_cols].to_numpy(dtype=float)[rows]))
        present = w.sum(axis=1) > 0
        total += np.where(present, diff, 0.0)
        runs += present
    mean = total / np.maximum(runs, 1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(mean[1:], [tail, 100 - tail])
    return PairedDifference(names[0], names[1], float(mean[0]), float(low), float(high),
                            confidence, chosen, len(units), replicates, len(groups))
