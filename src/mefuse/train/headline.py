"""The one number a run is summarised by, chosen by its protocol.

Under the paper's ``mskf`` (and ``subject-kfold``) every fold holds many people and, nearly
always, every class, so the mean of the per-fold macro-F1 is a fair summary; it is the paper's
number and stays the headline there. Under leave-one-subject-out a fold is one person, who
shows a few of the classes: per-fold macro-F1 scores each absent class 0, and a run that got
every clip right reads as 0.8 ± 0.1. The MEGC convention for LOSO is UF1 and UAR computed on
the test predictions of all folds pooled, so that is the headline for ``loso`` and for
leave-one-dataset-out (``lodo``), whose folds are whole datasets scored together.

Every table, the report and the bench read the choice from here (:func:`headline_of`), never
decide it themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict

HeadlineMetric = Literal["macro_f1", "uf1"]

POOLED_PROTOCOLS: frozenset[str] = frozenset({"loso", "lodo"})
"""Protocols whose headline is the pooled UF1 (with UAR beside it)."""

LABELS: dict[str, str] = {"macro_f1": "macro-F1 (folds)", "uf1": "UF1 (pooled)"}
SPREAD_OVER: dict[str, str] = {"macro_f1": "folds × seeds", "uf1": "seeds"}


class Headline(TypedDict):
    """The headline of a run as ``results.json``'s summary records it."""

    metric: str
    """``macro_f1`` (mean of per-fold macro-F1) or ``uf1`` (pooled over folds)."""
    label: str
    value: float
    spread: float
    """Standard deviation over :attr:`spread_over`."""
    spread_over: str
    uar: float
    """Pooled UAR, shown beside the headline (the second MEGC score)."""


def headline_metric(protocol: str) -> HeadlineMetric:
    """Which score heads a run under ``protocol``: pooled UF1 for leave-one-group-out
    protocols, the paper's mean per-fold macro-F1 otherwise."""
    return "uf1" if protocol in POOLED_PROTOCOLS else "macro_f1"


def make_headline(summary: Mapping[str, Any], protocol: str) -> Headline:
    """The headline record of a summary (its ``macro_f1_*`` and ``uf1_*`` fields)."""
    metric = headline_metric(protocol)
    return Headline(metric=metric, label=LABELS[metric],
                    value=float(summary[f"{metric}_mean"]),
                    spread=float(summary[f"{metric}_std"]), spread_over=SPREAD_OVER[metric],
                    uar=float(summary["uar_mean"]))


def headline_of(summary: Mapping[str, Any], config: Mapping[str, Any]) -> Headline:
    """The recorded headline, or (results written before it was recorded) the one the run's
    protocol gives."""
    recorded = summary.get("headline")
    if isinstance(recorded, Mapping):
        return Headline(**recorded)  # type: ignore[typeddict-item]
    return make_headline(summary, str(config.get("protocol", "mskf")))


def is_pooled(summary: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether the run's headline is pooled (per-fold numbers are then secondary)."""
    return headline_of(summary, config)["metric"] != "macro_f1"
