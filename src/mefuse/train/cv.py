"""Cross-validation of one configuration on a feature store, with honest bookkeeping.

For every seed the folds are drawn anew (seeded), a model is trained on each training part with
a fixed recipe, and the test part is scored once. Nothing (epoch, threshold, model) is chosen on
a test part. Scores:

- per fold: macro-F1 (the paper's number: every class, an absent one scoring 0), macro-F1 over
  the classes present in the fold's test truth, and per-class F1, at sequence level by default;
- per seed, on the test predictions of all its folds pooled: UF1 and UAR;
- summary: mean and standard deviation of fold macro-F1 over all folds and seeds, pooled UF1
  and UAR over seeds, and the headline the protocol calls for (:mod:`mefuse.train.headline`:
  pooled UF1 under ``loso``, the paper's fold macro-F1 otherwise).
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from mefuse import __version__
from mefuse.data.adapters.composite import DATASET_COLUMN
from mefuse.data.clips import ClipTable
from mefuse.errors import DataError
from mefuse.model.baselines import require_apex_image
from mefuse.store import FeatureStore
from mefuse.train.batched import FitSpec, fit_batched
from mefuse.train.config import CVConfig
from mefuse.train.data import ModalityData
from mefuse.train.headline import make_headline
from mefuse.train.memory import advice, check_memory, estimate_memory
from mefuse.train.metrics import (
    macro_f1,
    macro_f1_present,
    merge_views,
    merged_decisions,
    per_class_f1,
    uar,
)
from mefuse.train.modalities import pool_names
from mefuse.train.protocols import SUBJECT_DISJOINT, Fold, make_folds
from mefuse.train.results import CVResult, FoldRecord, PartScore, PooledRecord, RunSummary
from mefuse.train.trainer import EmptyClassWarning, TrainedModel
from mefuse.utils.progress import progress_bar

if TYPE_CHECKING:
    from mefuse.train.audit import EpochRecorder


def run_cv(
    store: FeatureStore | str | Path, clips: ClipTable, config: CVConfig, *,
    progress: bool = False, audit: bool = False
) -> CVResult:
    """Cross-validate ``config`` on the labelled clips of ``clips`` with features from ``store``.

    ``audit`` also scores every epoch's network on its test fold, for the audit of the field's
    test-set epoch selection alone (:mod:`mefuse.train.audit`; ``CVResult.audit``); the honest
    result is the same with and without it."""
    started = time.perf_counter()
    feature_store = FeatureStore.open(store)  # the door's store (a path: opened, for scripts)
    clips, run_warnings = _labelled_clips(clips, config)
    classes = list(clips.classes)
    data = feature_store.load_modalities(clips.clip_ids, config.modalities, config.model.frames,
                                         config.model.sampling)
    if config.model.architecture != "fusion":  # before any fold trains
        require_apex_image(config.model.architecture, data.names, data.dims)
    plan = [(seed, make_folds(clips, config.protocol, config.folds, seed))
            for seed in config.seeds]
    check_cv_memory(config, data, len(classes), sum(len(folds) for _, folds in plan))
    for _, folds in plan:
        for fold in folds:
            _check_disjoint(clips, fold, config.protocol)
    fits = sum(len(folds) for _, folds in plan)
    recorder = None
    if audit:
        from mefuse.train.audit import EpochRecorder

        recorder = EpochRecorder(data, plan)
    # counted in epochs (every fit's), so that the batched engine, which finishes all its fits
    # at once, still moves the bar and the log lines while it trains
    with progress_bar("cv", fits * config.optim.epochs, progress,
                      unit=f"epochs of {fits} fit{'s' if fits > 1 else ''}") as advance:
        estimators = _fit_all(config, data, clips.labels, clips, plan, run_warnings, advance,
                              recorder)
    fold_rows: list[FoldRecord] = []
    pooled_rows: list[PooledRecord] = []
    prediction_parts: list[pd.DataFrame] = []
    attention: dict[str, np.ndarray] = {}
    for seed, folds in plan:
        outcomes = [score_fold(estimators[seed, fold.index], data, clips, fold, seed, config)
                    for fold in folds]
        for outcome in outcomes:
            fold_rows.append(outcome.record)
            attention.update(outcome.attention)
        seed_frame = pd.concat([o.predictions for o in outcomes], ignore_index=True)
        prediction_parts.append(seed_frame)
        record = pooled_record(seed_frame, classes, seed, config)
        by_part = part_scores(seed_frame, classes, config)
        if by_part:
            record["by_dataset"] = by_part
        pooled_rows.append(record)
    predictions = pd.concat(prediction_parts, ignore_index=True)
    audit_entry = None
    if recorder is not None:
        from mefuse.train.audit import leaky_audit

        audit_entry = leaky_audit(recorder, estimators, clips, plan, config, predictions,
                                  pooled_rows)
    return CVResult(
        config=config.model_dump(mode="json"),
        classes=classes,
        folds=fold_rows,
        pooled=pooled_rows,
        summary=summarise(fold_rows, pooled_rows, clips, config),
        runtime_s=time.perf_counter() - started,
        provenance=provenance(feature_store, config),
        warnings=list(dict.fromkeys(run_warnings)),
        predictions=predictions,
        attention=attention,
        audit=audit_entry,
    )


def _labelled_clips(clips: ClipTable, config: CVConfig) -> tuple[ClipTable, list[str]]:
    """The clips to cross-validate (labelled, in the configuration's classes) and a warning
    when unlabelled ones were left out; a single-label run needs exactly one class per clip."""
    if config.classes is not None and list(config.classes) != list(clips.classes):
        clips = ClipTable.from_frame(clips.frame, config.classes)
    notes: list[str] = []
    labelled = clips.labelled
    if not labelled.all():
        notes.append(f"{int((~labelled).sum())} unlabelled clip(s) left out of "
                     "cross-validation")
        clips = clips.subset(labelled)
    if len(clips) == 0:
        raise DataError("the clip table has no labelled clip")
    labels = clips.labels
    if config.task == "singlelabel" and (labels.sum(axis=1) != 1).any():
        bad = clips.clip_ids[int(np.flatnonzero(labels.sum(axis=1) != 1)[0])]
        raise DataError(f"single-label cross-validation needs one class per clip; clip {bad!r} "
                        "has another number. Use --task multilabel.")
    return clips, notes


@dataclass
class FoldOutcome:
    """What one fitted model (seed x fold) leaves: its record, its test predictions and its
    attention maps (keyed ``seed<S>/fold<F>/<pool>``)."""

    record: FoldRecord
    predictions: pd.DataFrame
    attention: dict[str, np.ndarray]


def score_fold(estimator: TrainedModel, data: ModalityData, clips: ClipTable, fold: Fold,
               seed: int, config: CVConfig) -> FoldOutcome:
    """Score the fold's test part once with the model fitted on its training part."""
    test_data = data.take(fold.test)
    probabilities, pools = estimator._forward(test_data)
    prefix = f"seed{seed}/fold{fold.index}"
    names = pool_names(config.strategy, config.modalities) if pools else []  # baselines: none
    attention = {f"{prefix}/{name}": pool.astype(np.float32) for name, pool in
                 zip(names, pools, strict=True)}
    attention[f"{prefix}/clip_ids"] = np.array(test_data.clip_ids)
    part = _prediction_frame(clips, fold.test, probabilities, clips.labels[fold.test],
                             estimator, seed, fold.index)
    return FoldOutcome(fold_record(part, clips, fold, estimator, seed, config), part, attention)


def fold_record(part: pd.DataFrame, clips: ClipTable, fold: Fold, estimator: TrainedModel,
                seed: int, config: CVConfig) -> FoldRecord:
    """The scores of one trained model on its test fold (``part``: its prediction rows)."""
    classes = list(clips.classes)
    y_true, y_pred = _scored(part, classes, config.level, config.task)
    record = FoldRecord(
        seed=seed, fold=fold.index, macro_f1=macro_f1(y_true, y_pred),
        macro_f1_present=macro_f1_present(y_true, y_pred),
        classes_present=[c for c, n in zip(classes, y_true.sum(axis=0), strict=True) if n],
        per_class_f1=per_class_f1(y_true, y_pred, classes), gate=estimator.gate_weights(),
        choice=estimator.choice, choice_scores=estimator.choice_scores,
        thresholds=[float(t) for t in estimator.fitted_thresholds],
        n_train_clips=len(fold.train), n_test_clips=len(fold.test), n_test_units=len(y_true),
        test_subjects=sorted(clips.frame["subject"].iloc[fold.test].unique()),
    )
    if DATASET_COLUMN in clips.frame.columns:
        record["test_datasets"] = list(dict.fromkeys(
            clips.frame[DATASET_COLUMN].iloc[fold.test].astype(str)))
    return record


def pooled_record(seed_frame: pd.DataFrame, classes: list[str], seed: int, config: CVConfig
                  ) -> PooledRecord:
    """UF1 and UAR of one seed's test predictions, all folds pooled."""
    y_true, y_pred = _scored(seed_frame, classes, config.level, config.task)
    return PooledRecord(seed=seed, uf1=macro_f1(y_true, y_pred), uar=uar(y_true, y_pred),
                        per_class_f1=per_class_f1(y_true, y_pred, classes))


def summarise(folds: list[FoldRecord], pooled: list[PooledRecord], clips: ClipTable,
              config: CVConfig) -> RunSummary:
    """Fold macro-F1 over all folds and seeds (and the spread of the seeds' means), the same
    over the classes each fold shows, pooled scores over seeds, mean per-class F1 (over folds
    and, pooled, over seeds) and gate weights, the data's size, and the protocol's headline."""
    fold_f1 = np.array([r["macro_f1"] for r in folds])
    present_f1 = np.array([r.get("macro_f1_present") for r in folds
                           if r.get("macro_f1_present") is not None], dtype=float)
    seed_means = [np.mean([r["macro_f1"] for r in folds if r["seed"] == s])
                  for s in config.seeds]
    summary = RunSummary(
        macro_f1_mean=float(fold_f1.mean()),
        macro_f1_std=float(fold_f1.std(ddof=0)),
        macro_f1_var=float(fold_f1.var(ddof=0)),
        macro_f1_seed_std=float(np.std(seed_means)),
        uf1_mean=float(np.mean([r["uf1"] for r in pooled])),
        uf1_std=float(np.std([r["uf1"] for r in pooled])),
        uar_mean=float(np.mean([r["uar"] for r in pooled])),
        uar_std=float(np.std([r["uar"] for r in pooled])),
        per_class_f1_mean={c: float(np.mean([r["per_class_f1"][c] for r in folds]))
                           for c in clips.classes},
        gate_mean={g: float(np.mean([r["gate"][g] for r in folds])) for g in folds[0]["gate"]},
        n_clips=len(clips),
        n_sequences=int(clips.frame["sequence_id"].nunique()),
        n_subjects=int(clips.frame["subject"].nunique()),
        n_runs=len(folds),
        macro_f1_present_mean=float(present_f1.mean()) if len(present_f1) else 0.0,
        macro_f1_present_std=float(present_f1.std(ddof=0)) if len(present_f1) else 0.0,
        per_class_f1_pooled_mean={c: float(np.mean([r["per_class_f1"][c] for r in pooled]))
                                  for c in clips.classes},
    )
    by_dataset = summarise_parts(pooled, clips)
    if by_dataset:
        summary["by_dataset"] = by_dataset
    summary["headline"] = make_headline(summary, config.protocol)
    return summary


def dataset_parts_of(clips: ClipTable) -> list[str]:
    """The dataset parts of a composite clip table, in order of first appearance; empty when
    the table has no ``dataset`` column or only one part."""
    if DATASET_COLUMN not in clips.frame.columns:
        return []
    parts = list(dict.fromkeys(clips.frame[DATASET_COLUMN].astype(str)))
    return parts if len(parts) > 1 else []


def part_scores(seed_frame: pd.DataFrame, classes: list[str], config: CVConfig
                ) -> dict[str, PartScore]:
    """UF1 and UAR of one seed's pooled test predictions restricted to each dataset part (the
    MEGC tables' per-database columns); empty without a ``dataset`` column or with one part."""
    if DATASET_COLUMN not in seed_frame.columns:
        return {}
    parts = list(dict.fromkeys(seed_frame[DATASET_COLUMN].astype(str)))
    if len(parts) < 2:
        return {}
    out: dict[str, PartScore] = {}
    for part in parts:
        rows = seed_frame[seed_frame[DATASET_COLUMN].astype(str) == part]
        y_true, y_pred = _scored(rows, classes, config.level, config.task)
        out[part] = PartScore(uf1=macro_f1(y_true, y_pred), uar=uar(y_true, y_pred),
                              n_clips=len(rows), n_units=len(y_true))
    return out


def summarise_parts(pooled: list[PooledRecord], clips: ClipTable) -> dict[str, PartScore]:
    """Each part's UF1 and UAR, mean over seeds (and their std over seeds), with its clip
    count; empty when the run has one part."""
    parts = dataset_parts_of(clips)
    if not parts or not all("by_dataset" in r for r in pooled):
        return {}
    out: dict[str, PartScore] = {}
    counts = clips.frame[DATASET_COLUMN].astype(str).value_counts()
    for part in parts:
        uf1s = [r["by_dataset"][part]["uf1"] for r in pooled]
        uars = [r["by_dataset"][part]["uar"] for r in pooled]
        out[part] = PartScore(uf1=float(np.mean(uf1s)), uar=float(np.mean(uars)),
                              n_clips=int(counts[part]),
                              n_units=int(pooled[0]["by_dataset"][part]["n_units"]),
                              uf1_std=float(np.std(uf1s)), uar_std=float(np.std(uars)))
    return out


def provenance(store: FeatureStore, config: CVConfig) -> dict[str, Any]:
    """Where the features came from (the store's manifests) and the software that ran."""
    return {
        "store": str(store.root.resolve()),
        "extractors": {m: {k: v for k, v in store.info(m).manifest.items() if k != "clips"}
                       for m in config.modalities},
        "mefuse_version": __version__,
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def stacks(config: CVConfig) -> bool:
    """Whether the run trains its fits as one stacked model: the batched engine stacks fusion
    networks only (a baseline's batch norm keeps running statistics, which ``vmap`` over
    stacked parameters cannot update), so a baseline trains one fit at a time, with the same
    results the loop engine always gives."""
    return config.engine == "batched" and config.model.architecture == "fusion"


def check_cv_memory(config: CVConfig, data: ModalityData, num_classes: int, fits: int) -> None:
    """Refuse, before the first step, a run that cannot fit in memory (with the figure)."""
    nested = config.fusion.select != "none" and config.thresholds.mode == "tuned"
    stacked = stacks(config) and not nested
    estimate = estimate_memory(
        config, data.dims, len(data.clip_ids), num_classes, fits=fits,
        stack=min(config.max_stack, fits) if stacked else 1,
        batch=config.optim.batch_size if stacked else None)  # stacked: the full batch, always
    knobs = ("--max-stack", "the number of seeds") if stacked else ("the number of seeds",)
    check_memory(estimate, config.device, hint=advice(*knobs))


def _fit_all(config: CVConfig, data: ModalityData, labels: np.ndarray, clips: ClipTable,
             plan: list[tuple[int, list[Fold]]], run_warnings: list[str],
             advance: Callable[..., None], recorder: EpochRecorder | None = None
             ) -> dict[tuple[int, int], TrainedModel]:
    """One fitted estimator per (seed, fold), by the configured engine.

    Each fit's seed is ``seed * 1000 + fold``; the batched engine trains all fits as one
    stacked model (:mod:`mefuse.train.batched`) with the same results as the loop.
    ``advance(n)`` is called as ``n`` epochs of the fits' final networks finish (inner fits
    that tune thresholds or choose a fusion are not counted). ``recorder`` (``--audit``) gets
    each final network after every epoch, read-only.
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
        # A nested fusion choice with tuned thresholds nests two inner fits per fit: the loop.
        nested = config.fusion.select != "none" and config.thresholds.mode == "tuned"
        if stacks(config) and not nested:
            fitted = fit_batched(train_config, data, labels, specs, classes=classes,
                                 sequence_ids=sequences.tolist(), max_stack=config.max_stack,
                                 on_epoch=advance, groups=subjects.tolist(),
                                 epoch_probe=None if recorder is None else
                                 lambda i, epoch, view: recorder.record(keys[i], epoch, view))
        else:
            fitted = []
            for key, spec in zip(keys, specs, strict=True):
                estimator = TrainedModel(train_config, seed=spec.seed)
                estimator.on_epoch = lambda epoch, loss: advance()
                if recorder is not None:
                    estimator.epoch_probe = recorder.probe(key)
                fitted.append(estimator.fit(
                    data.take(spec.index), labels[spec.index],
                    sequence_ids=sequences[spec.index].tolist(), classes=classes,
                    context=spec.context,
                    groups=subjects[spec.index].tolist()))
                estimator.on_epoch = None
                estimator.epoch_probe = None
    run_warnings.extend(str(w.message) for w in caught
                        if issubclass(w.category, EmptyClassWarning))
    return dict(zip(keys, fitted, strict=True))


def _prediction_frame(clips: ClipTable, index: np.ndarray, probabilities: np.ndarray,
                      labels: np.ndarray, estimator: TrainedModel, seed: int, fold: int
                      ) -> pd.DataFrame:
    columns = ["clip_id", "sequence_id", "view", "subject"]
    if DATASET_COLUMN in clips.frame.columns:
        columns.append(DATASET_COLUMN)
    rows = clips.frame.iloc[index][columns].reset_index(drop=True)
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


def _check_disjoint(clips: ClipTable, fold: Fold, protocol: str) -> None:
    """A last guard against leakage: no sequence (and, for subject protocols, no subject) may
    be on both sides of a fold."""
    frame = clips.frame
    train_seq = set(frame["sequence_id"].iloc[fold.train])
    test_seq = set(frame["sequence_id"].iloc[fold.test])
    if train_seq & test_seq:
        raise AssertionError(f"sequence leak in fold {fold.index}: {sorted(train_seq & test_seq)}")
    if protocol in SUBJECT_DISJOINT:
        shared = set(frame["subject"].iloc[fold.train]) & set(frame["subject"].iloc[fold.test])
        if shared:
            raise AssertionError(f"subject leak in fold {fold.index}: {sorted(shared)}")
    if protocol == "lodo":
        shared = (set(frame[DATASET_COLUMN].iloc[fold.train])
                  & set(frame[DATASET_COLUMN].iloc[fold.test]))
        if shared:
            raise AssertionError(f"dataset leak in fold {fold.index}: {sorted(shared)}")
