"""Spotting on a labelled long-video dataset: stored signals, leave-one-subject-out for each
spotter, a fitted spotter for new videos, and the run folder ``mefuse spot-eval`` writes.

Every spotter is scored the same way (:func:`~mefuse.spotting.loso.evaluate_loso` on the
*stored* signals of :mod:`mefuse.spotting.signal_store`), so the weight-free and the learned
spotter compare on equal terms and a second evaluation reads the signals instead of the
videos. The run folder::

    <out>/signals/<video>.npy, <video>.json   per-frame signals (signal_store)
    <out>/predictions.csv   spotter, subject, video, onset, apex, offset, type, score
                            (+ p_<class>, emotion with a model)
    <out>/truth.csv         the ground truth the scores use
    <out>/spot_results.json the scores (see :func:`results_document`)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.data.adapters.longvideo import LongVideoDataset
from mefuse.errors import DataError
from mefuse.spotting.evaluation import STRScores
from mefuse.spotting.loso import PREDICTION_COLUMNS, LosoResult, evaluate_loso
from mefuse.spotting.signal import SignalConfig
from mefuse.spotting.signal_store import SIGNALS, StoredSignals, VideoInput
from mefuse.spotting.weightfree import AnySpotter, new_spotter
from mefuse.utils.atomic import write_json
from mefuse.utils.csvsafe import write_csv

RESULTS = "spot_results.json"
PREDICTIONS = "predictions.csv"
TRUTH = "truth.csv"
FORMAT = "mefuse-spot-results"
DEFAULT_SIGNAL = SignalConfig()
TRUTH_COLUMNS = ("video", "subject", "onset", "apex", "offset", "type", "emotion")


def dataset_inputs(dataset: LongVideoDataset) -> list[VideoInput]:
    """The dataset's videos as signal-store inputs (frame folders with the dataset's rate)."""
    return [VideoInput(v.video_id, v.subject, v.source, v.fps) for v in dataset.videos]


def usable_truth(dataset: LongVideoDataset, stored: StoredSignals) -> pd.DataFrame:
    """The dataset's intervals of the videos that have a signal (a failed video's intervals
    cannot be spotted, and are left out of the scores: the failure is reported instead)."""
    table = dataset.intervals
    columns = [c for c in TRUTH_COLUMNS if c in table.columns]
    return table[table["video"].isin(list(stored.signals))][columns].reset_index(drop=True)


@dataclass
class SpotterRun:
    """One spotter's leave-one-subject-out result and how long it took."""

    kind: str
    result: LosoResult
    seconds: float
    strs: STRScores | None = None


def run_loso(stored: StoredSignals, truth: pd.DataFrame, kinds: Sequence[str], *,
             signal_config: SignalConfig = DEFAULT_SIGNAL,
             progress: Callable[[str], None] | None = None) -> list[SpotterRun]:
    """Leave-one-subject-out for each spotter kind on the stored signals."""
    if not stored.signals:
        raise DataError("no video has a signal: nothing to evaluate")
    runs = []
    for kind in kinds:
        started = time.perf_counter()
        result = evaluate_loso(stored.signals, stored.fps, truth, stored.subjects,
                               lambda kind=kind: new_spotter(kind, signal_config),  # type: ignore[misc]
                               progress=None if progress is None else
                               (lambda line, kind=kind: progress(f"{kind}: {line}")))  # type: ignore[misc]
        runs.append(SpotterRun(kind, result, time.perf_counter() - started))
    return runs


def fit_spotter(stored: StoredSignals, truth: pd.DataFrame, kind: str, *,
                signal_config: SignalConfig = DEFAULT_SIGNAL) -> AnySpotter:
    """A spotter of ``kind`` fitted on every video with a signal (for videos outside it)."""
    from mefuse.spotting.loso import check_videos

    signals, rates, table = check_videos(stored.signals, stored.fps, truth)
    spotter = new_spotter(kind, signal_config)
    if kind == "learned":
        spotter.fit(signals, rates, table, groups=stored.subjects)  # type: ignore[call-arg]
    else:
        spotter.fit(signals, rates, table)
    return spotter


def predictions_table(runs: Sequence[SpotterRun]) -> pd.DataFrame:
    """Every spotter's pooled predictions, a ``spotter`` column first."""
    parts = []
    for run in runs:
        frame = run.result.predictions.copy()
        frame.insert(0, "spotter", run.kind)
        parts.append(frame)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    first = ["spotter", "subject", *PREDICTION_COLUMNS]
    return table[[c for c in first if c in table.columns]
                 + [c for c in table.columns if c not in first]]


def results_document(name: str, root: Path, runs: Sequence[SpotterRun], stored: StoredSignals,
                     truth: pd.DataFrame, *, signal_config: SignalConfig) -> dict[str, Any]:
    """The JSON of ``spot_results.json``: per spotter ``scores`` (``evaluate_spotting(...)
    .to_dict()``: ME, MaE, overall TP/FP/FN/P/R/F1), ``by_video`` counts, ``folds`` and, with a
    model, ``strs``; and the dataset, the videos and the signals' provenance."""
    from dataclasses import asdict

    spotters: dict[str, Any] = {}
    for run in runs:
        scores = run.result.scores
        entry: dict[str, Any] = {
            "scores": scores.to_dict(),
            "by_video": {v: c.to_dict() for v, c in scores.by_video.items()},
            "folds": run.result.folds.to_dict(orient="records"),
            "seconds": round(run.seconds, 3)}
        if run.strs is not None:
            entry["strs"] = run.strs.to_dict()
        spotters[run.kind] = entry
    counts = truth["type"].value_counts() if not truth.empty else pd.Series(dtype=int)
    return {"format": FORMAT, "version": 1, "dataset": name, "root": str(root),
            "protocol": "leave-one-subject-out", "iou_threshold": 0.5,
            "videos": {v: {"subject": stored.subjects[v], "fps": stored.fps[v],
                           "frames": len(stored.signals[v])} for v in stored.signals},
            "truth": {"ME": int(counts.get("ME", 0)), "MaE": int(counts.get("MaE", 0))},
            "failed": dict(stored.failed),
            "signals": {"folder": SIGNALS, "computed": len(stored.computed),
                        "reused": len(stored.reused), "settings": asdict(signal_config)},
            "spotters": spotters}


def write_run(out: Path, document: Mapping[str, Any], predictions: pd.DataFrame,
              truth: pd.DataFrame) -> dict[str, Path]:
    """Write the run folder's tables and results (atomically); returns the paths."""
    paths = {"predictions": out / PREDICTIONS, "truth": out / TRUTH, "results": out / RESULTS}
    write_csv(predictions, paths["predictions"])
    write_csv(truth, paths["truth"])
    write_json(paths["results"], dict(document))
    return paths


__all__ = ["PREDICTIONS", "RESULTS", "TRUTH", "SpotterRun", "dataset_inputs", "fit_spotter",
           "predictions_table", "results_document", "run_loso", "usable_truth", "write_run"]
