"""Assemble the report: one self-contained HTML page (plots embedded as base64 PNG) and the
same PNG files in ``img/`` beside it, for slides and papers.

The source is either a ``mefuse cv`` run folder (``results.json``, ``predictions.csv``,
``attention.npz``) or a ``mefuse bench`` folder (``bench.json`` and ``cells/``); for a bench the
page opens with an overview of every cell and then shows the best ``detail`` cells in full.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from mefuse import __version__
from mefuse.errors import DataError
from mefuse.report import analysis, plots, spotting
from mefuse.report.template import FIGURE, PAGE
from mefuse.train.headline import headline_of
from mefuse.train.results import RESULTS, CVResult
from mefuse.utils.atomic import atomic_open, write_text

REPORT = "report.html"
IMAGES = "img"


@dataclass
class Plot:
    """One rendered figure: where it goes in the page and on disk."""

    name: str
    title: str
    caption: str
    png: bytes
    file: str
    anchor: str

    @property
    def base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @property
    def width(self) -> int:
        return struct.unpack(">II", self.png[16:24])[0]

    @property
    def height(self) -> int:
        return struct.unpack(">II", self.png[16:24])[1]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "run"


def _plot(prefix: str, name: str, title: str, caption: str, figure) -> Plot:
    file = f"{IMAGES}/{prefix}-{name}.png"
    return Plot(name, title, caption, plots.png_bytes(figure), file, f"{prefix}-{name}")


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def run_section(result: CVResult, title: str, prefix: str) -> dict[str, Any]:
    """Cards, plots and tables of one cross-validation run."""
    classes = result.classes
    config = result.config
    summary = result.summary
    folds = analysis.fold_table(result)
    pooled = [{"seed": p["seed"], **p["per_class_f1"]} for p in result.pooled]
    level = config.get("level", "sequence")
    n_seeds = len(result.pooled)
    headline = headline_of(summary, config)
    pooled_headline = headline["metric"] != "macro_f1"
    present_scores = pooled_headline and "macro_f1_present_mean" in summary
    single_label = analysis.is_single_label(result)
    section_plots = [
        _plot(prefix, "per-class-f1", "Per-class F1",
              f"Bars: mean F1 of each class over {len(folds)} folds × seeds, with its std"
              + (" (over the folds whose test part shows the class)" if present_scores else "")
              + "; diamonds: F1 of each seed's test predictions pooled over its folds.",
              plots.per_class_f1(folds, pd.DataFrame(pooled), classes)),
    ]
    counts = (pd.DataFrame() if single_label else analysis.confusion_counts(result))
    confusion_rows = []
    matrix = analysis.confusion_matrix(result)
    matrix_rows = []
    if not matrix.empty:
        shares = analysis.row_normalised(matrix)
        section_plots.append(_plot(
            prefix, "confusion-matrix", "Confusion matrix",
            f"True class (rows) against predicted class (columns) at {level} level, from the "
            f"test predictions pooled over folds (mean over {n_seeds} seed(s)); each cell "
            "shows the share of its row (the diagonal is the class's recall) and the count.",
            plots.confusion_matrix(matrix, shares)))
        for name in matrix.index:
            matrix_rows.append({"cls": name,
                                "cells": [f"{_fmt(matrix.loc[name, c])} "
                                          f"({shares.loc[name, c]:.2f})" for c in classes],
                                "total": _fmt(matrix.loc[name].sum())})
    if not counts.empty:
        section_plots.append(_plot(
            prefix, "confusion", "Confusion per class",
            f"True and false positives and negatives of each class at {level} level, from the "
            f"test predictions pooled over folds (mean over {n_seeds} seed(s)).",
            plots.confusion(counts)))
        for name, row in counts.iterrows():
            tp, fp, fn = row["TP"], row["FP"], row["FN"]
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            confusion_rows.append({"cls": name, **{k: _fmt(row[k]) for k in counts.columns},
                                   "precision": f"{precision:.2f}", "recall": f"{recall:.2f}",
                                   "f1": f"{f1:.2f}"})
    gates = analysis.gate_table(result)
    if gates["pool"].nunique() > 1:  # one pool (single, concat) has no gate to show
        section_plots.append(_plot(
            prefix, "gate-weights", "Gate weights",
            "Weight the fused model gives each pool, one point per fold and seed. A stable "
            "learned gate is tight; equal weights (dashed) mean the gate learned nothing.",
            plots.gate_weights(gates, config.get("strategy", "gated"))))
    for attention in analysis.attention_by_class(result):
        section_plots.append(_plot(
            prefix, f"attention-{_slug(attention.pool)}",
            f"Attention of pool '{attention.pool}' by class",
            f"Each query's attention over the {attention.mean.shape[2]} resampled frames, "
            "averaged over the test clips of each true class (all folds and seeds): which "
            "moments of the clip the model looks at.",
            plots.class_attention(attention, classes)))
    if present_scores:
        variance_caption = (
            f"Macro-F1 of every fold for each seed, over the classes the fold's test part "
            f"shows (a {config.get('protocol')} fold is one person, who rarely shows every "
            "class; the headline is the pooled UF1), and the spread of each class's F1 over "
            "the folds that show it.")
    else:
        variance_caption = (
            f"Macro-F1 of every fold for each seed (std {summary['macro_f1_std']:.3f}, "
            f"variance {1e4 * summary['macro_f1_var']:.2f} %²; std of seed means "
            f"{summary['macro_f1_seed_std']:.3f}) and the spread of each class's F1 over folds.")
    section_plots.append(_plot(prefix, "fold-variance", "Fold-to-fold variance",
                               variance_caption, plots.fold_variance(folds, classes)))
    fold_rows = [{"seed": f["seed"], "fold": f["fold"],
                  "macro_f1": "-" if pd.isna(score) else f"{score:.3f}",
                  "per_class": ["-" if pd.isna(v) else f"{v:.2f}" for v in values],
                  "gate": " ".join(f"{k} {v:.2f}" for k, v in f["gate"].items()),
                  "thresholds": " ".join(f"{t:.2f}" for t in f.get("thresholds", []))}
                 for f, score, values in zip(result.folds, folds["macro_f1"],
                                             folds[classes].to_numpy(), strict=True)]
    cards = [(f"{headline['label']} · headline",
              f"{headline['value']:.3f} ± {headline['spread']:.3f}")]
    if pooled_headline:
        cards.append(("UAR (pooled)", f"{summary['uar_mean']:.3f} ± {summary['uar_std']:.3f}"))
        if present_scores:
            cards.append(("macro-F1 (folds, classes present)",
                          f"{summary['macro_f1_present_mean']:.3f} ± "
                          f"{summary['macro_f1_present_std']:.3f}"))
    else:
        cards += [
            ("variance (%²)", f"{1e4 * summary['macro_f1_var']:.2f}"),
            ("UF1 (pooled)", f"{summary['uf1_mean']:.3f}"),
            ("UAR (pooled)", f"{summary['uar_mean']:.3f}"),
        ]
    cards += [
        ("folds × seeds", str(summary.get("n_runs", len(result.folds)))),
        ("runtime", f"{result.runtime_s:.1f} s"),
    ]
    return {"anchor": prefix, "title": title, "cards": cards, "plots": section_plots,
            "parts": part_rows(result),
            "confusion": confusion_rows, "matrix": matrix_rows,
            "fold_score": "Macro-F1 (classes present)" if present_scores else "Macro-F1",
            "show_thresholds": not single_label,
            "classes": classes, "folds": fold_rows,
            "warnings": result.warnings,
            "audit": _audit(result),
            "config": json.dumps(config, indent=2),
            "provenance": json.dumps(result.provenance, indent=2)}


def _audit(result: CVResult) -> dict[str, Any] | None:
    """The leaky-protocol audit of ``mefuse cv --audit``, labelled as such (never a card)."""
    from mefuse.train.audit import audit_caption, audit_rows

    if not result.audit:
        return None
    return {"label": result.audit["label"], "rows": audit_rows(result.audit),
            "caption": audit_caption(result.audit)}


def part_rows(result: CVResult) -> list[dict[str, Any]]:
    """The composite's and each dataset part's UF1 and UAR (``summary.by_dataset``), or none
    for a run on one dataset."""
    parts = result.summary.get("by_dataset") or {}
    if not parts:
        return []
    spread = len(result.pooled) > 1

    def score(value: float, std: float | None) -> str:
        return f"{value:.3f} ± {std:.3f}" if spread and std is not None else f"{value:.3f}"

    rows = [{"part": name, "clips": str(p["n_clips"]), "uf1": score(p["uf1"], p.get("uf1_std")),
             "uar": score(p["uar"], p.get("uar_std")), "total": False}
            for name, p in parts.items()]
    summary = result.summary
    rows.append({"part": "composite", "clips": str(summary["n_clips"]),
                 "uf1": score(summary["uf1_mean"], summary["uf1_std"]),
                 "uar": score(summary["uar_mean"], summary["uar_std"]), "total": True})
    return rows


def describe_run(config: dict[str, Any]) -> str:
    extra = [k for k in ("position", "motion") if config.get("model", {}).get(k)]
    strategy = config.get("strategy", "?") + "".join(f" + {k}" for k in extra)
    return (f"{strategy} on {' + '.join(config.get('modalities', []))} · "
            f"{config.get('protocol')} · seeds {config.get('seeds')}")


def _comparisons(comparisons: pd.DataFrame) -> dict[str, Any]:
    """Rows of the paired-comparison table (fusion vs best single, gated vs concat ...)."""
    from mefuse.bench.tables import VARIANT_LABELS

    if comparisons.empty:
        return {"comparisons": [], "comparison_note": ""}
    first = comparisons.iloc[0]
    note = (f"Difference of macro-F1, A − B, over the same {int(first['n_runs'])} fold × seed "
            f"runs, with a {100 * first['confidence']:.0f}% bootstrap interval (test units "
            f"resampled with replacement, {int(first['replicates'])} replicates; the unit is "
            "named in each row). A difference whose interval contains 0 is not distinguishable "
            "from resampling noise.")
    rows = [{"a": f"{VARIANT_LABELS.get(r['a_variant'], r['a_variant'])} ({r['a_feature_set']})",
             "b": f"{VARIANT_LABELS.get(r['b_variant'], r['b_variant'])} ({r['b_feature_set']})",
             "difference": f"{100 * r['difference']:+.2f}",
             "interval": f"[{100 * r['low']:+.2f}, {100 * r['high']:+.2f}]",
             "excludes": bool(r["excludes_zero"]), "unit": f"{r['unit']}s ({int(r['n_units'])})"}
            for _, r in comparisons.iterrows()]
    return {"comparisons": rows, "comparison_note": note}


def _bench_page(source: Path, detail: int) -> dict[str, Any]:
    from mefuse.bench.runner import CELLS
    from mefuse.bench.tables import VARIANT_LABELS, headline_label, load_bench

    tables = load_bench(source)
    cells = tables.cells
    if cells.empty:
        raise DataError(f"no cell of {source} has finished yet; run 'mefuse bench' first")
    ordered = cells.sort_values("headline", ascending=False).reset_index(drop=True)
    shown = list(ordered["cell_id"][: max(detail, 0)])
    rows = []
    for i, row in ordered.iterrows():
        rows.append({"feature_set": row["feature_set"],
                     "strategy": VARIANT_LABELS[row["variant"]],
                     "f1": f"{row['headline']:.3f} ± {row['headline_std']:.3f}",
                     "var": (f"{1e4 * row['macro_f1_var']:.2f}"
                             if row["headline_metric"] == "macro_f1" else "–"),
                     "uf1": f"{row['uf1_mean']:.3f}",
                     "uar": f"{row['uar_mean']:.3f}", "gate": row["gate"],
                     "cell_id": row["cell_id"], "best": i == 0,
                     "anchor": _slug(row["cell_id"]) if row["cell_id"] in shown else None})
    score = headline_label(cells)
    overview = _plot("bench", "overview", "Every cell",
                     ("Macro-F1 of each cell (mean ± std over folds × seeds)"
                      if score == "Macro-F1" else f"{score} of each cell (mean ± std over seeds)")
                     + ", coloured by strategy, and the variance of its fold macro-F1.",
                     plots.bench_overview(cells, score))
    best = ordered.iloc[0]
    base = tables.plan.get("base_config", {})
    bench = {"plots": [overview], "rows": rows, "missing": tables.missing, "score": score,
             "cards": [("cells", f"{len(cells)} / {len(tables.plan['cells'])}"),
                       (f"best {score}", f"{best['headline']:.3f}"),
                       ("best cell", f"{best['feature_set']} [{best['variant']}]"),
                       ("protocol", str(base.get("protocol", "mskf"))),
                       ("seeds", str(base.get("seeds", [0])))]}
    bench.update(_comparisons(tables.comparisons))
    runs = []
    for cell_id in shown:
        result = CVResult.read(source / CELLS / cell_id)
        row = cells.set_index("cell_id").loc[cell_id]
        title = f"{row['feature_set']} · {VARIANT_LABELS[row['variant']]}"
        runs.append(run_section(result, title, _slug(cell_id)))
    return {"title": "mefuse benchmark report", "subtitle": str(source.resolve()),
            "bench": bench, "runs": runs,
            "nav": [("overview", "Overview")] + [(r["anchor"], r["title"]) for r in runs]}


def write_report(source: str | Path, out: str | Path | None = None, *, detail: int = 3) -> Path:
    """Write ``report.html`` and ``img/*.png`` for a cv run or bench folder; return the page."""
    source = Path(source)
    if (source / RESULTS).exists():  # a folder or unreadable file there: CVResult says so
        result = CVResult.read(source)
        page: dict[str, Any] = {
            "title": "mefuse cross-validation report", "subtitle": str(source.resolve()),
            "bench": None, "nav": [],
            "runs": [run_section(result, describe_run(result.config), "run")]}
    elif (source / "bench.json").exists():
        page = _bench_page(source, detail)
    elif (source / spotting.RESULTS).exists():
        page = {"title": "mefuse spotting report", "subtitle": str(source.resolve()),
                "bench": None, "nav": [], "runs": [],
                "spotting": spotting.spotting_section(source)}
    elif not source.exists():
        raise DataError(f"{source} does not exist; give a 'mefuse cv' run folder or a "
                        "'mefuse bench' folder")
    elif source.is_file():
        raise DataError(f"{source} is a file; give the folder that holds results.json (a "
                        "'mefuse cv' run) or bench.json (a 'mefuse bench' folder)")
    else:
        raise DataError(f"{source} holds neither results.json (a 'mefuse cv' run), "
                        "bench.json (a 'mefuse bench' folder) nor spot_results.json (a "
                        "'mefuse spot-eval' run)")
    out = Path(out) if out is not None else source / "report"
    every_plot = [*(page["bench"]["plots"] if page["bench"] else []),
                  *(p for run in page["runs"] for p in run["plots"])]
    for plot in every_plot:
        with atomic_open(out / plot.file, "wb") as handle:
            handle.write(plot.png)
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    figure = environment.from_string(FIGURE)
    environment.globals["figure"] = lambda plot: Markup(figure.render(plot=plot))
    html = environment.from_string(PAGE).render(
        **page, version=__version__, generated=time.strftime("%Y-%m-%d %H:%M"))
    write_text(out / REPORT, html)
    return out / REPORT
