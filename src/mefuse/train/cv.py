"""Cross-validation of one configuration on a feature store, with honest bookkeeping.

For every seed the folds are drawn anew (seeded), a model is trained on each training part with
a fixed recipe, and the test part is scored once. Nothing (epoch, threshold, model) is chosen on
a test part. Scores:

- per fold: macro-F1 (the paper's number) and per-class F1, at sequence level by default;
- per seed, on the test predictions of all its folds pooled: UF1 and UAR;
- summary: mean and standard deviation of fold macro-F1 over all folds and seeds.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mefuse import __version__
from mefuse.data.clips import ClipTable
from mefuse.errors import DataError
from mefuse.store import FeatureStore
from mefuse.train.batched import FitSpec, fit_batched
from mefuse.train.config import CVConfig
from mefuse.train.data import ModalityData, load_modalities
from mefuse.train.metrics import macro_f1, merge_views, merged_decisions, per_class_f1, uar
from mefuse.train.modalities import pool_names
from mefuse.train.protocols import make_folds
from mefuse.train.results import CVResult
from mefuse.train.trainer import EmptyClassWarning, FusionEstimator
from mefuse.utils.progress import progress_bar


def run_cv(
    store: str | Path | FeatureStore, clips: ClipTable, config: CVConfig, *, progress: bool = False
) -> CVResult:
    """Cross-validate ``config`` on the labelled clips of ``clips`` with features from ``store``."""
    started = time.perf_counter()
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    if config.classes is not None and list(config.classes) != list(clips.classes):
        clips = ClipTable.from_frame(clips.frame, config.classes)
    run_warnings: list[str] = []
    labelled = clips.labelled
    if not labelled.all():
        run_warnings.append(f"{int((~labelled).sum())} unlabelled clip(s) left out of "
                            "cross-validation")
        clips = clips.subset(labelled)
    if len(clips) == 0:
        raise DataError("the clip table has no labelled clip")
    classes = list(clips.classes)
    labels = clips.labels
    if config.task == "singlelabel" and (labels.sum(axis=1) != 1).any():
        bad = clips.clip_ids[int(np.flatnonzero(labels.sum(axis=1) != 1)[0])]
        raise DataError(f"single-label cross-validation needs one class per clip; clip {bad!r} "
                        "has another number. Use --task multilabel.")
    data = load_modalities(store, clips.clip_ids, config.modalities, config.model.frames)

    fold_rows: list[dict[str, Any]] = []
    pooled_rows: list[dict[str, Any]] = []
    prediction_parts: list[pd.DataFrame] = []
    attention: dict[str, np.ndarray] = {}
    plan = [(seed, make_folds(clips, config.protocol, config.folds, seed))
            for seed in config.seeds]
    for _, folds in plan:
        for fold in folds:
            _check_disjoint(clips, fold, config.protocol)
    with progress_bar("cv", sum(len(folds) for _, folds in plan), progress) as advance:
        estimators = _fit_all(config, data, labels, clips, plan, run_warnings, advance)
    for seed, folds in plan:
        seed_parts = []
        for fold in folds:
            estimator = estimators[seed, fold.index]
            test_data = data.take(fold.test)
            probabilities, pools = estimator._forward(test_data)
            for name, pool in zip(pool_names(config.strategy, config.modalities), pools,
                                  strict=True):
                attention[f"seed{seed}/fold{fold.index}/{name}"] = pool.astype(np.float32)
            attention[f"seed{seed}/fold{fold.index}/clip_ids"] = np.array(test_data.clip_ids)
            part = _prediction_frame(clips, fold.test, probabilities, labels[fold.test],
                                     estimator, seed, fold.index)
            seed_parts.append(part)
            y_true, y_pred = _scored(part, classes, config.level, config.task)
            fold_rows.append({
                "seed": seed,
                "fold": fold.index,
                "macro_f1": macro_f1(y_true, y_pred),
                "per_class_f1": per_class_f1(y_true, y_pred, classes),
                "gate": estimator.gate_weights(),
                "choice": estimator.choice,
                "choice_scores": estimator.choice_scores,
                "thresholds": [float(t) for t in estimator.fitted_thresholds],
                "n_train_clips": len(fold.train),
                "n_test_clips": len(fold.test),
                "n_test_units": len(y_true),
                "test_subjects": sorted(clips.frame["subject"].iloc[fold.test].unique()),
            })
        seed_frame = pd.concat(seed_parts, ignore_index=True)
        prediction_parts.append(seed_frame)
        y_true, y_pred = _scored(seed_frame, classes, config.level, config.task)
        pooled_rows.append({
            "seed": seed,
            "uf1": macro_f1(y_true, y_pred),
            "uar": uar(y_true, y_pred),
            "per_class_f1": per_class_f1(y_true, y_pred, classes),
        })
    fold_f1 = np.array([r["macro_f1"] for r in fold_rows])
    seed_means = [np.mean([r["macro_f1"] for r in fold_rows if r["seed"] == s])
                  for s in config.seeds]
    gate_names = list(fold_rows[0]["gate"])
    summary = {
        "macro_f1_mean": float(fold_f1.mean()),
        "macro_f1_std": float(fold_f1.std(ddof=0)),
        "macro_f1_var": float(fold_f1.var(ddof=0)),
        "macro_f1_seed_std": float(np.std(seed_means)),
        "uf1_mean": float(np.mean([r["uf1"] for r in pooled_rows])),
        "uf1_std": float(np.std([r["uf1"] for r in pooled_rows])),
        "uar_mean": float(np.mean([r["uar"] for r in pooled_rows])),
        "uar_std": float(np.std([r["uar"] for r in pooled_rows])),
        "per_class_f1_mean": {c: float(np.mean([r["per_class_f1"][c] for r in fold_rows]))
                              for c in classes},
        "gate_mean": {g: float(np.mean([r["gate"][g] for r in fold_rows])) for g in gate_names},
        "n_clips": len(clips),
        "n_sequences": int(clips.frame["sequence_id"].nunique()),
        "n_subjects": int(clips.frame["subject"].nunique()),
        "n_runs": len(fold_rows),
    }
    provenance = {
        "store": str(store.root.resolve()),
        "extractors": {m: {k: v for k, v in store.info(m).manifest.items() if k != "clips"}
                       for m in config.modalities},
        "mefuse_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return CVResult(
        config=config.model_dump(mode="json"),
        classes=classes,
        folds=fold_rows,
        pooled=pooled_rows,
        summary=summary,
        runtime_s=time.perf_counter() - started,
        provenance=provenance,
        warnings=list(dict.fromkeys(run_warnings)),
        predictions=pd.concat(prediction_parts, ignore_index=True),
        attention=attention,
    )


def _fit_all(config: CVConfig, data: ModalityData, labels: np.ndarray, clips: ClipTable,
             plan: list[tuple[int, list[Any]]], run_warnings: list[str],
             advance: Callable[..., None]) -> dict[tuple[int, int], FusionEstimator]:
    """One fitted estimator per (seed, fold), by the configured engine.

    Each fit's seed is ``seed * 1000 + fold``; the batched engine trains all fits as one
    stacked model (:mod:`mefuse.train.batched`) with the same results as the loop.
    """
    train_config = config.train_config()
    classes = list(clips.classes)
    sequences = clips.frame["sequence_id"].to_numpy()
    subjects = clips.frame["subject"].to_numpy()
    keys = [(seed, fold.index) for seed, folds in plan for fold in folds]
    specs = [FitSpec(fold.train, seed * 1000 + fold.index,
                     f"training part of seed {seed}, fold {fold.index}")
             for seed, folds in plan for fold in folds]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EmptyClassWarning)
        # A nested fusion choice (fusion.select: inner) trains a different network per fit
        # after its own inner comparison; the loop keeps it until it is batched too.
        if config.engine == "batched" and config.fusion.select == "none":
            fitted = fit_batched(train_config, data, labels, specs, classes=classes,
                                 sequence_ids=sequences, max_stack=config.max_stack,
                                 on_fitted=advance)
        else:
            fitted = []
            for spec in specs:
                fitted.append(FusionEstimator(train_config, seed=spec.seed).fit(
                    data.take(spec.index), labels[spec.index],
                    sequence_ids=sequences[spec.index].tolist(), classes=classes,
                    context=spec.context,
                    groups=subjects[spec.index].tolist()))
                advance()
    run_warnings.extend(str(w.message) for w in caught
                        if issubclass(w.category, EmptyClassWarning))
    return dict(zip(keys, fitted, strict=True))


def _prediction_frame(clips: ClipTable, index: np.ndarray, probabilities: np.ndarray,
                      labels: np.ndarray, estimator: FusionEstimator, seed: int, fold: int
                      ) -> pd.DataFrame:
    rows = clips.frame.iloc[index][["clip_id", "sequence_id", "view", "subject"]].reset_index(
        drop=True)
    rows.insert(0, "fold", fold)
    rows.insert(0, "seed", seed)
    decisions = estimator.decide(probabilities)
    for c, name in enumerate(estimator.classes):
        rows[f"p_{name}"] = probabilities[:, c]
        rows[f"y_{name}"] = labels[:, c]
        rows[f"pred_{name}"] = decisions[:, c]
        rows[f"t_{name}"] = float(estimator.fitted_thresholds[c])
    return rows


def _scored(frame: pd.DataFrame, classes: list[str], level: str, task: str = "multilabel"
            ) -> tuple[np.ndarray, np.ndarray]:
    """True labels and decisions as 0/1 matrices, at clip or sequence level.

    At sequence level the views' probabilities are merged per class by their maximum and then
    decided (:func:`~mefuse.train.metrics.merged_decisions`): thresholds for multi-label tasks
    (identical to an OR of the views' decisions), the arg-max for single-label ones (one class
    per sequence). Indicator matrices serve single-label tasks too: their macro-F1 and macro
    recall equal the multi-class UF1 and UAR.
    """
    y = frame[[f"y_{c}" for c in classes]].to_numpy()
    pred = frame[[f"pred_{c}" for c in classes]].to_numpy()
    if level == "sequence":
        p = frame[[f"p_{c}" for c in classes]].to_numpy(dtype=float)
        t = frame[[f"t_{c}" for c in classes]].to_numpy(dtype=float)
        _, merged_t, _ = merge_views(frame, t, y)  # one fold per sequence: equal thresholds
        _, merged_p, y = merge_views(frame, p, y)
        pred = merged_decisions(merged_p, merged_t, task)
    return y.astype(np.int64), pred.astype(np.int64)


def _check_disjoint(clips: ClipTable, fold: Any, protocol: str) -> None:
    """A last guard against leakage: no sequence (and, for subject protocols, no subject) may
    be on both sides of a fold."""
    frame = clips.frame
    train_seq = set(frame["sequence_id"].iloc[fold.train])
    test_seq = set(frame["sequence_id"].iloc[fold.test])
    if train_seq & test_seq:
        raise AssertionError(f"sequence leak in fold {fold.index}: {sorted(train_seq & test_seq)}")
    if protocol in ("subject-kfold", "loso"):
        shared = set(frame["subject"].iloc[fold.train]) & set(frame["subject"].iloc[fold.test])
        if shared:
            raise AssertionError(f"subject leak in fold {fold.index}: {sorted(shared)}")
