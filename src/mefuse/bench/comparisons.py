"""Paired comparisons between the cells of a bench, with bootstrap intervals.

The pairs the issue asks about: every fused cell against the best single modality among its
own inputs, and ``gated`` against ``concat`` (the paper's claim) and ``recommended`` against
``gated`` on each feature set. "Best single" is the single cell with the highest mean macro-F1
in this very table: a reporting choice made on the same folds, which favours the single
modality, so a fusion that still comes out ahead is ahead. The statistics are in
:mod:`mefuse.train.compare`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.bench.runner import CELLS
from mefuse.train.compare import paired_difference
from mefuse.utils.csvsafe import read_csv

PREDICTIONS = "predictions.csv"
PAIRS: tuple[tuple[str, str], ...] = (("gated", "concat"), ("recommended", "gated"),
                                      ("htnet", "ststnet"))
"""Variant pairs compared within one feature set, besides each fusion vs its best single."""


def _predictions(out: Path, cell_id: str, cache: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if cell_id not in cache:
        cache[cell_id] = read_csv(out / CELLS / cell_id / PREDICTIONS,
                                  dtype={"clip_id": str, "sequence_id": str, "subject": str})
    return cache[cell_id]


def comparison_pairs(cells: pd.DataFrame) -> list[tuple[pd.Series, pd.Series, str]]:
    """(A, B, kind) rows of ``cells``: each fusion vs its best single input, then PAIRS."""
    if cells.empty:
        return []
    alone = cells[cells["set"] == "alone"]
    fused = cells[cells["set"] != "alone"]
    pairs = []
    for _, cell in fused.iterrows():
        inputs = alone[alone["feature_set"].isin(cell["feature_set"].split(" + "))]
        if not inputs.empty:
            best = inputs.iloc[int(inputs["headline"].to_numpy().argmax())]
            pairs.append((cell, best, "vs best single"))
    for _, group in fused.groupby("feature_set", sort=False):
        by_variant = {r["variant"]: r for _, r in group.iterrows()}
        pairs += [(by_variant[a], by_variant[b], f"{a} vs {b}") for a, b in PAIRS
                  if a in by_variant and b in by_variant]
    return pairs


def bench_comparisons(out: str | Path, cells: pd.DataFrame, classes: list[str],
                      plan: dict[str, Any], *, replicates: int = 2000) -> pd.DataFrame:
    """One row per compared pair: difference of macro-F1, interval, unit (empty if none)."""
    out = Path(out)
    level = plan.get("base_config", {}).get("level", "sequence")
    cache: dict[str, pd.DataFrame] = {}
    rows = []
    for a, b, kind in comparison_pairs(cells):
        if not all((out / CELLS / r["cell_id"] / PREDICTIONS).is_file() for r in (a, b)):
            continue  # a cell copied without its predictions cannot be resampled
        pa, pb = (_predictions(out, r["cell_id"], cache) for r in (a, b))
        result = paired_difference(pa, pb, classes, level=level, replicates=replicates,
                                   names=(a["cell_id"], b["cell_id"]))
        rows.append({"feature_set": a["feature_set"], "kind": kind,
                     "a_variant": a["variant"], "a_feature_set": a["feature_set"],
                     "b_variant": b["variant"], "b_feature_set": b["feature_set"],
                     "a_cell": a["cell_id"], "b_cell": b["cell_id"],
                     **{k: v for k, v in result.to_dict().items() if k not in ("a", "b")}})
    return pd.DataFrame(rows)
