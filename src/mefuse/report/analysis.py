"""What the report shows, computed from a cross-validation result (no plotting here).

Everything is derived from what ``mefuse cv`` writes: fold rows and pooled rows of
``results.json``, the test predictions of ``predictions.csv`` and the attention maps of
``attention.npz``. Counts are taken at the run's scoring level: with ``level: sequence`` the views
of a sequence are merged by a per-class OR first, exactly as the fold scores were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mefuse.train.confusion import (  # noqa: F401  (the report's analysis, in one place)
    confusion_matrix,
    is_single_label,
    row_normalised,
    single_label_units,
)
from mefuse.train.headline import is_pooled
from mefuse.train.metrics import merge_views
from mefuse.train.results import CVResult


def fold_table(result: CVResult) -> pd.DataFrame:
    """One row per fold and seed: macro-F1 and per-class F1.

    When the run's headline is pooled (``loso``: a fold is one person, who shows few classes),
    ``macro_f1`` is the fold's macro-F1 over the classes it shows and an absent class's F1 is
    NaN (left out of means and spreads) rather than a 0 that no model could avoid. Results
    written before folds recorded their classes keep the paper's numbers.
    """
    pooled = is_pooled(result.summary, result.config) and all(
        "macro_f1_present" in fold for fold in result.folds)
    rows = []
    for fold in result.folds:
        present = fold.get("classes_present") if pooled else None
        score = fold.get("macro_f1_present") if pooled else fold["macro_f1"]
        rows.append({"seed": fold["seed"], "fold": fold["fold"],
                     "macro_f1": np.nan if score is None else score,
                     **{c: fold["per_class_f1"][c] if present is None or c in present
                        else np.nan for c in result.classes}})
    return pd.DataFrame(rows)


def gate_table(result: CVResult) -> pd.DataFrame:
    """Long table of gate weights: seed, fold, pool, weight."""
    rows = [{"seed": f["seed"], "fold": f["fold"], "pool": name, "weight": weight}
            for f in result.folds for name, weight in f["gate"].items()]
    return pd.DataFrame(rows)


def scored_units(result: CVResult, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 truth and decisions of one seed's pooled test predictions at the run's level."""
    if result.predictions is None:
        raise ValueError("the run has no predictions.csv")
    frame = result.predictions[result.predictions["seed"] == seed]
    classes = result.classes
    if is_single_label(result):  # the arg-max of the merged views, exactly as cv scored it
        return single_label_units(frame, classes, result.config.get("level", "sequence"))
    y = frame[[f"y_{c}" for c in classes]].to_numpy().astype(np.int64)
    pred = frame[[f"pred_{c}" for c in classes]].to_numpy().astype(np.int64)
    if result.config.get("level", "sequence") == "sequence":
        _, merged, y = merge_views(frame, pred.astype(float), y)
        pred = merged.astype(np.int64)
    return y, pred


def confusion_counts(result: CVResult) -> pd.DataFrame:
    """Per class: TP, FP, FN, TN of the pooled test predictions, averaged over seeds.

    Each seed's folds cover every unit once, so one seed's counts add up to the number of units;
    the mean over seeds keeps that scale (and is fractional when seeds disagree).
    """
    if result.predictions is None or result.predictions.empty:
        return pd.DataFrame(columns=["TP", "FP", "FN", "TN"])
    seeds = sorted(result.predictions["seed"].unique())
    total = np.zeros((len(result.classes), 4))
    for seed in seeds:
        y, pred = scored_units(result, seed)
        total += np.stack([(y & pred).sum(0), ((1 - y) & pred).sum(0),
                           (y & (1 - pred)).sum(0), ((1 - y) & (1 - pred)).sum(0)], axis=1)
    return pd.DataFrame(total / len(seeds), index=result.classes, columns=["TP", "FP", "FN", "TN"])


@dataclass
class ClassAttention:
    """Attention of one pool averaged over the test clips of each class."""

    pool: str
    mean: np.ndarray
    """``(classes, queries, T)``: mean attention of each query over frames, per true class."""
    counts: np.ndarray
    """``(classes,)``: test clips (over all folds and seeds) behind each mean."""


def attention_by_class(result: CVResult) -> list[ClassAttention]:
    """Per pool, each query's attention over the frames averaged over the clips of each class.

    A clip counts for every class it is labelled with (multi-label). The attention maps are the
    test-fold maps of every seed and fold, matched to the truth through their clip ids.
    """
    if result.predictions is None or not result.attention:
        return []
    classes = result.classes
    truth = result.predictions.set_index(["seed", "fold", "clip_id"])[[f"y_{c}" for c in classes]]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    order: list[str] = []
    for key, maps in result.attention.items():
        parts = key.split("/", 2)
        if len(parts) != 3 or parts[2] == "clip_ids":
            continue
        seed, fold, pool = int(parts[0].removeprefix("seed")), int(parts[1].removeprefix(
            "fold")), parts[2]
        clip_ids = result.attention.get(f"{parts[0]}/{parts[1]}/clip_ids")
        if clip_ids is None:
            continue
        index = pd.MultiIndex.from_arrays([[seed] * len(clip_ids), [fold] * len(clip_ids),
                                           [str(c) for c in clip_ids]])
        labels = truth.reindex(index).to_numpy(dtype=float)
        known = ~np.isnan(labels).any(axis=1)
        labels, maps = labels[known].astype(np.int64), np.asarray(maps, dtype=np.float64)[known]
        if pool not in sums:
            order.append(pool)
            sums[pool] = np.zeros((len(classes), *maps.shape[1:]))
            counts[pool] = np.zeros(len(classes), dtype=np.int64)
        sums[pool] += np.einsum("nc,nqt->cqt", labels, maps)
        counts[pool] += labels.sum(axis=0)
    out = []
    for pool in order:
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums[pool] / counts[pool][:, None, None]
        out.append(ClassAttention(pool, np.nan_to_num(mean, nan=0.0), counts[pool]))
    return out
