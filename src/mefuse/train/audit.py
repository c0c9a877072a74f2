"""``mefuse cv --audit``: how much the field's test-set epoch selection inflates a score.

Public micro-expression training scripts (the STSTNet -> HTNet family and many derived ones)
train each leave-one-subject-out fold for a fixed number of epochs, score the held-out
subject's clips after *every* epoch, keep the epoch with the best accuracy on those very clips,
and report the predictions of that epoch. The epoch is then a parameter fitted on the test
set. mefuse never does this (:mod:`mefuse.train.cv` scores the last epoch's network once);
the audit shows, on the user's own data and in the same run, what the leaky rule would have
reported.

How, without touching the honest result:

- an epoch probe (``TrainedModel.epoch_probe``, ``fit_batched(epoch_probe=...)``) looks at each
  final network after every epoch, in eval mode under ``torch.no_grad``, and records its
  probabilities on the fold's test clips (:class:`EpochRecorder`). Nothing flows back: the
  weights, the optimiser, the random generators, the thresholds and the fusion choice are
  never read by training from the probe, and the honest predictions are bit-identical with
  and without ``--audit`` (tested);
- decisions of every epoch use the fold's fitted thresholds (tuned ones come from inner fits
  made before the final network is trained, so they are the final ones) or the arg-max, as
  the honest result does;
- the leaky rule, per fold (one left-out subject under ``loso``): the epoch with the best
  *accuracy* on the fold's test units for single-label tasks, as the scripts keep it
  (multi-label tasks, which those scripts do not have, use the fold's macro-F1, since exact-
  match accuracy is mostly 0 there); ties go to the earliest epoch;
- the chosen epochs' predictions are pooled per seed and scored exactly as the honest pooled
  UF1 and UAR are (:func:`mefuse.train.cv.pooled_record`), then averaged over seeds;
- inflation = leaky - honest, with a paired bootstrap interval: the test units (subjects, or
  sequences when there are fewer than five subjects) are resampled with replacement, and the
  same resample weights the honest and the leaky predictions of every seed.

Every output labels the numbers as the leaky protocol (:data:`PROTOCOL`, :data:`LABEL`); the
headline never uses them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from rich.table import Table

from mefuse.data.clips import ClipTable
from mefuse.train.compare import resolve_unit
from mefuse.train.config import CVConfig
from mefuse.train.cv import _prediction_frame, _scored, pooled_record
from mefuse.train.data import ModalityData
from mefuse.train.metrics import macro_f1
from mefuse.train.protocols import Fold
from mefuse.train.results import PooledRecord
from mefuse.train.trainer import TrainedModel

PROTOCOL = "leaky-test-epoch-selection"
LABEL = "leaky: best epoch chosen on the test fold — not a valid result"
REPLICATES = 1000
CONFIDENCE = 0.95

Key = tuple[int, int]
"""(seed, fold index)."""


class EpochRecorder:
    """Test-fold probabilities of every epoch of every final fit, for the audit alone.

    ``probe(key)`` is the callback a fit gets; it scores the fold's test clips with the view
    of the estimator it is handed and keeps the probabilities. ``seconds`` is the time spent
    in the probes (the audit's cost inside training).
    """

    def __init__(self, data: ModalityData, plan: list[tuple[int, list[Fold]]]) -> None:
        self._tests = {(seed, fold.index): data.take(fold.test)
                       for seed, folds in plan for fold in folds}
        self.probabilities: dict[Key, list[np.ndarray]] = {key: [] for key in self._tests}
        self.seconds = 0.0

    def record(self, key: Key, epoch: int, view: TrainedModel) -> None:
        started = time.perf_counter()
        epochs = self.probabilities[key]
        if epoch != len(epochs):
            raise AssertionError(f"epoch {epoch} of fit {key} probed out of order")
        epochs.append(view.predict_proba(self._tests[key]))
        self.seconds += time.perf_counter() - started

    def probe(self, key: Key) -> Callable[[int, TrainedModel], None]:
        return lambda epoch, view: self.record(key, epoch, view)


def epoch_score(frame: pd.DataFrame, classes: list[str], config: CVConfig) -> float:
    """The leaky rule's score of one epoch on one test fold: accuracy of the decided units
    (single-label, as the scripts), the fold macro-F1 otherwise."""
    y, pred = _scored(frame, classes, config.level, config.task)
    if config.task == "singlelabel":
        return float((y == pred).all(axis=1).mean()) if len(y) else 0.0
    return macro_f1(y, pred)


def leaky_audit(recorder: EpochRecorder, estimators: dict[Key, TrainedModel], clips: ClipTable,
                plan: list[tuple[int, list[Fold]]], config: CVConfig,
                honest: pd.DataFrame, honest_pooled: list[PooledRecord]) -> dict[str, Any]:
    """The ``audit`` entry of ``results.json``: leaky pooled scores, inflation over the honest
    ones (``honest``: the run's prediction frame) with its interval, and the chosen epochs."""
    started = time.perf_counter()
    classes = list(clips.classes)
    labels = clips.labels
    fold_rows: list[dict[str, Any]] = []
    leaky_parts: list[pd.DataFrame] = []
    leaky_pooled: list[PooledRecord] = []
    for seed, folds in plan:
        chosen = []
        for fold in folds:
            key = (seed, fold.index)
            frames = [_prediction_frame(clips, fold.test, p, labels[fold.test],
                                        estimators[key], seed, fold.index)
                      for p in recorder.probabilities[key]]
            scores = [epoch_score(f, classes, config) for f in frames]
            best = int(np.argmax(scores))  # the first maximum: ties go to the earliest epoch
            chosen.append(frames[best])
            fold_rows.append({"seed": seed, "fold": fold.index, "epoch": best + 1,
                              "score": scores[best], "last_epoch_score": scores[-1]})
        seed_frame = pd.concat(chosen, ignore_index=True)
        leaky_parts.append(seed_frame)
        record = pooled_record(seed_frame, classes, seed, config)
        leaky_pooled.append(record)
    leaky = pd.concat(leaky_parts, ignore_index=True)
    interval = paired_pooled_bootstrap(honest, leaky, classes, config)
    epochs = np.array([r["epoch"] for r in fold_rows])
    n_epochs = config.optim.epochs
    audit: dict[str, Any] = {
        "protocol": PROTOCOL,
        "label": LABEL,
        "criterion": "accuracy" if config.task == "singlelabel" else "macro_f1",
        "tie_break": "earliest epoch",
        "epochs": n_epochs,
        "honest": {m: float(np.mean([r[m] for r in honest_pooled])) for m in ("uf1", "uar")},
        "leaky": {m: float(np.mean([r[m] for r in leaky_pooled])) for m in ("uf1", "uar")},
        "leaky_std": {m: float(np.std([r[m] for r in leaky_pooled])) for m in ("uf1", "uar")},
        "inflation": interval["inflation"],
        "bootstrap": interval["bootstrap"],
        "pooled": [{"seed": r["seed"], "uf1": r["uf1"], "uar": r["uar"]} for r in leaky_pooled],
        "folds": fold_rows,
        "chosen_epochs": {
            "min": int(epochs.min()), "median": float(np.median(epochs)),
            "max": int(epochs.max()), "last_epoch_share": float(np.mean(epochs == n_epochs)),
            "counts": {str(e): int(n) for e, n in zip(*np.unique(epochs, return_counts=True),
                                                       strict=True)},
        },
    }
    audit["runtime_s"] = round(recorder.seconds + time.perf_counter() - started, 3)
    return audit


def _units(frame: pd.DataFrame, classes: list[str], config: CVConfig
           ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Scored units of one seed's predictions (``cv._scored``), with each unit's subject and
    sequence in the same order (sequence level: first appearance, as ``merge_views``)."""
    y, pred = _scored(frame, classes, config.level, config.task)
    ids = (frame.drop_duplicates("sequence_id") if config.level == "sequence" else frame)
    return y, pred, ids[["sequence_id", "subject"]].reset_index(drop=True)


def _pooled(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """Weighted pooled UF1 and UAR for every replicate: weights (R, n), y and pred (n, C).
    A class without weighted positives (true and predicted) scores 0, as scikit-learn's
    ``zero_division=0`` does."""
    y, pred = y.astype(float), pred.astype(float)
    tp = weights @ (y * pred)
    fp = weights @ ((1 - y) * pred)
    fn = weights @ (y * (1 - pred))
    f1_den = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, f1_den, out=np.zeros_like(tp), where=f1_den > 0)
    recall_den = tp + fn
    recall = np.divide(tp, recall_den, out=np.zeros_like(tp), where=recall_den > 0)
    return f1.mean(axis=1), recall.mean(axis=1)


def paired_pooled_bootstrap(honest: pd.DataFrame, leaky: pd.DataFrame, classes: list[str],
                            config: CVConfig, *, replicates: int = REPLICATES,
                            confidence: float = CONFIDENCE, seed: int = 0) -> dict[str, Any]:
    """Leaky minus honest pooled UF1 and UAR (mean over seeds) with a paired, seeded
    bootstrap interval: one resample of the test units weights both prediction sets of every
    seed (replicate 0 is the data itself, so its difference is the point estimate)."""
    unit = resolve_unit(honest, "auto")
    column = "subject" if unit == "subject" else "sequence_id"
    every = np.unique(honest[column].astype(str).to_numpy())
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(every), size=(replicates, len(every)))
    counts = np.zeros((replicates + 1, len(every)))
    counts[0] = 1.0
    np.add.at(counts[1:], (np.arange(replicates)[:, None], draws), 1.0)
    diff = {"uf1": np.zeros(replicates + 1), "uar": np.zeros(replicates + 1)}
    seeds = list(dict.fromkeys(honest["seed"]))
    for s in seeds:
        y, honest_pred, ids = _units(honest[honest["seed"] == s], classes, config)
        y_leaky, leaky_pred, leaky_ids = _units(leaky[leaky["seed"] == s], classes, config)
        if not (ids.equals(leaky_ids) and np.array_equal(y, y_leaky)):
            raise AssertionError("honest and leaky predictions cover different test units")
        position = np.searchsorted(every, ids[column].astype(str).to_numpy())
        weights = counts[:, position]
        honest_f1, honest_uar = _pooled(weights, y, honest_pred)
        leaky_f1, leaky_uar = _pooled(weights, y, leaky_pred)
        diff["uf1"] += (leaky_f1 - honest_f1) / len(seeds)
        diff["uar"] += (leaky_uar - honest_uar) / len(seeds)
    tail = 100 * (1 - confidence) / 2
    inflation = {}
    for metric, values in diff.items():
        low, high = np.percentile(values[1:], [tail, 100 - tail])
        inflation[metric] = {"value": float(values[0]), "low": float(low), "high": float(high)}
    return {"inflation": inflation,
            "bootstrap": {"unit": unit, "n_units": len(every), "replicates": replicates,
                          "confidence": confidence, "seed": seed}}


def audit_table(audit: dict[str, Any]) -> Table:
    """The terminal table of the audit, titled as the leaky protocol it is."""
    table = Table(title=f"AUDIT ({LABEL})", title_justify="left")
    table.add_column("pooled score")
    table.add_column("honest (mefuse)", justify="right")
    table.add_column("leaky", justify="right")
    table.add_column("inflation", justify="right")
    table.add_column(f"{100 * audit['bootstrap']['confidence']:.0f}% interval", justify="right")
    for row in audit_rows(audit):
        table.add_row(*row.values())
    table.caption = audit_caption(audit)
    return table


def audit_rows(audit: dict[str, Any]) -> list[dict[str, str]]:
    """UF1 and UAR rows (honest, leaky, inflation, interval) as text, for the report."""
    rows = []
    for metric, name in (("uf1", "UF1"), ("uar", "UAR")):
        gap = audit["inflation"][metric]
        rows.append({"metric": name, "honest": f"{audit['honest'][metric]:.3f}",
                     "leaky": f"{audit['leaky'][metric]:.3f}",
                     "inflation": f"{gap['value']:+.3f}",
                     "interval": f"[{gap['low']:+.3f}, {gap['high']:+.3f}]"})
    return rows


def audit_caption(audit: dict[str, Any]) -> str:
    """What the audit did, in one paragraph: rule, chosen epochs, interval, cost."""
    boot = audit["bootstrap"]
    epochs = audit["chosen_epochs"]
    return (
        f"protocol {audit['protocol']}: per fold, the epoch with the best "
        f"{audit['criterion'].replace('_', '-')} on the fold's own test units (ties: earliest) "
        f"of {audit['epochs']}; chosen epochs {epochs['min']}-{epochs['max']} (median "
        f"{epochs['median']:g}, last epoch in {100 * epochs['last_epoch_share']:.0f}% of folds); "
        f"paired bootstrap over {boot['n_units']} {boot['unit']}s, {boot['replicates']} "
        f"resamples; audit time {audit['runtime_s']:.1f} s")
