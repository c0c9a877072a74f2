"""A minimal IoU matcher: the score :meth:`Spotter.fit` maximises when choosing its threshold.

TO BE REPLACED AT MERGE by the MEGC evaluation module (``evaluate_spotting(pred, truth)``,
written in parallel): it implements the same rule (an interval is a true positive when its
IoU with a not yet matched ground-truth interval of the same video and type is >= 0.5;
counts accumulated over videos; F1 per type and overall) without the reporting around it.
``Spotter.fit`` takes any ``scorer(pred, truth) -> float``, so the switch is one argument.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

IOU = 0.5


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame ranges."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    return inter / ((a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter)


def span(row: Any) -> tuple[int, int]:
    """``(onset, offset)`` of a table row (any object with those attributes)."""
    return int(row.onset), int(row.offset)


def count_matches(pred: pd.DataFrame, truth: pd.DataFrame, kind: str | None = None
                  ) -> tuple[int, int, int]:
    """``(true positives, predictions, truths)`` of one type (all types when None), greedy
    matching by IoU within each video."""
    if kind is not None:
        pred = pred[pred["type"] == kind]
        truth = truth[truth["type"] == kind]
    hits = 0
    for video, wanted in truth.groupby("video"):
        found = pred[pred["video"] == video]
        pairs = sorted(((interval_iou(span(p), span(t)), i, j)
                        for i, p in enumerate(found.itertuples())
                        for j, t in enumerate(wanted.itertuples())), reverse=True)
        used_p: set[int] = set()
        used_t: set[int] = set()
        for iou, i, j in pairs:
            if iou < IOU:
                break
            if i not in used_p and j not in used_t:
                used_p.add(i)
                used_t.add(j)
                hits += 1
    return hits, len(pred), len(truth)


def f1_scores(pred: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """F1 for ``ME``, ``MaE`` and ``overall`` (type-matched true positives summed)."""
    out = {}
    total = [0, 0, 0]
    for kind in ("ME", "MaE"):
        counts = count_matches(pred, truth, kind)
        total = [a + b for a, b in zip(total, counts, strict=True)]
        out[kind] = _f1(*counts)
    out["overall"] = _f1(*total)
    return out


def _f1(hits: int, predicted: int, wanted: int) -> float:
    return 2 * hits / (predicted + wanted) if predicted + wanted else 0.0


def overall_f1(pred: pd.DataFrame, truth: pd.DataFrame) -> float:
    """The default ``fit`` objective."""
    return f1_scores(pred, truth)["overall"]
