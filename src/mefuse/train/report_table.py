"""Readable tables of cross-validation results for the terminal (rich)."""

from __future__ import annotations

from collections.abc import Mapping

from rich import box
from rich.table import Table

from mefuse.errors import DataError
from mefuse.train.compare import PairedDifference, paired_difference
from mefuse.train.headline import Headline, headline_of
from mefuse.train.results import CVResult


def result_table(result: CVResult, title: str | None = None) -> Table:
    """Per-fold macro-F1, gate weights, and the summary row of one run.

    The caption leads with the run's headline (:mod:`mefuse.train.headline`). When that is
    pooled (``loso``), the fold column is the macro-F1 over the classes each fold shows, a
    class the fold lacks reads ``-`` instead of a 0 that no model could avoid, and the summary
    row's per-class F1 is that of the pooled predictions.
    """
    summary = result.summary
    headline = headline_of(summary, result.config)
    # results written before folds recorded their classes keep the paper's fold numbers
    pooled = headline["metric"] != "macro_f1" and "macro_f1_present_mean" in summary
    table = Table(title=title or _describe(result.config), title_justify="left")
    held_out = result.config.get("protocol") == "lodo" and all(
        "test_datasets" in row for row in result.folds)
    table.add_column("seed", justify="right")
    table.add_column("fold", justify="right")
    if held_out:
        table.add_column("held out", no_wrap=True)
    table.add_column("F1 present" if pooled else "macro-F1", justify="right", no_wrap=True,
                     min_width=11)
    for name in result.classes:
        table.add_column(name, justify="right")
    table.add_column("gate " + "/".join(summary["gate_mean"]))
    for row in result.folds:
        table.add_row(
            str(row["seed"]), str(row["fold"]),
            *(["+".join(row["test_datasets"])] if held_out else []), _fold_score(row, pooled),
            *(_class_cell(row, c, pooled) for c in result.classes),
            "/".join(f"{v:.2f}" for v in row["gate"].values()),
        )
    table.add_section()
    per_class = (summary.get("per_class_f1_pooled_mean") if pooled else None) or summary[
        "per_class_f1_mean"]
    mean_score = (f"{summary['macro_f1_present_mean']:.3f}±"
                  f"{summary['macro_f1_present_std']:.3f}" if pooled else
                  f"{summary['macro_f1_mean']:.3f}±{summary['macro_f1_std']:.3f}")
    table.add_row(
        "", "summary" if pooled else "mean", *([""] if held_out else []), mean_score,
        *(f"{per_class[c]:.2f}" for c in result.classes),
        "/".join(f"{v:.2f}" for v in summary["gate_mean"].values()),
    )
    if headline["metric"] != "macro_f1":
        table.caption = (f"headline ({result.config.get('protocol')}): {headline_text(headline)}"
                         f"  ({summary['n_runs']} folds×seeds, {result.runtime_s:.1f} s)"
                         + ("; F1 present: fold macro-F1 over the classes the fold shows "
                            "(-: absent); per-class F1 of the pooled predictions" if pooled
                            else ""))
    else:
        table.caption = (f"pooled UF1 {summary['uf1_mean']:.3f}  UAR {summary['uar_mean']:.3f}  "
                         f"({summary['n_runs']} folds×seeds, {result.runtime_s:.1f} s)")
    return table


def dataset_part_table(result: CVResult) -> Table | None:
    """Composite runs: UF1 and UAR of the whole composite and of each dataset part (the pooled
    test predictions of each seed restricted to the part, mean over seeds), as MEGC tables
    give them; ``None`` when the run has one part."""
    parts = result.summary.get("by_dataset")
    if not parts:
        return None
    summary = result.summary
    table = Table(title="per dataset part", title_justify="left")
    for name in ("part", "clips", "UF1", "UAR"):
        table.add_column(name, justify="left" if name == "part" else "right", no_wrap=True)
    spread = len(result.pooled) > 1
    for name, score in parts.items():
        table.add_row(name, str(score["n_clips"]), _with_std(score["uf1"], score.get("uf1_std"),
                                                             spread),
                      _with_std(score["uar"], score.get("uar_std"), spread))
    table.add_section()
    table.add_row("composite", str(summary["n_clips"]),
                  _with_std(summary["uf1_mean"], summary["uf1_std"], spread),
                  _with_std(summary["uar_mean"], summary["uar_std"], spread))
    level = result.config.get("level", "sequence")
    table.caption = (f"pooled test predictions of each part, {level} level; "
                     + (f"mean ± std over {len(result.pooled)} seeds" if spread else "one seed"))
    return table


def _with_std(value: float, std: float | None, spread: bool) -> str:
    return f"{value:.3f}±{std:.3f}" if spread and std is not None else f"{value:.3f}"


def confusion_matrix_table(result: CVResult) -> Table | None:
    """Single-label runs: counts of true (rows) x predicted (columns) classes of the pooled
    test predictions (mean over seeds), each with its share of the row; ``None`` otherwise."""
    from mefuse.train.confusion import confusion_matrix, row_normalised

    matrix = confusion_matrix(result)
    if matrix.empty:
        return None
    shares = row_normalised(matrix)
    table = Table(title="confusion matrix (rows: true class, columns: predicted)",
                  title_justify="left")
    table.add_column("true / pred", no_wrap=True)
    for name in result.classes:
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("total", justify="right")
    counts, share = matrix.to_numpy(dtype=float), shares.to_numpy(dtype=float)
    for i, name in enumerate(result.classes):
        table.add_row(name, *(f"{_count(counts[i, j])} ({share[i, j]:.2f})"
                              for j in range(len(result.classes))), _count(counts[i].sum()))
    table.caption = ("count (share of the row; the diagonal is each class's recall), "
                     f"{result.config.get('level', 'sequence')} level, pooled over folds, "
                     "mean over seeds")
    return table


def _count(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def headline_text(headline: Headline) -> str:
    """``UF1 (pooled) 0.812 ± 0.010, UAR 0.790`` (UAR beside a pooled headline only)."""
    text = f"{headline['label']} {headline['value']:.3f} ± {headline['spread']:.3f}"
    return text if headline["metric"] == "macro_f1" else f"{text}, UAR {headline['uar']:.3f}"


def _fold_score(row: Mapping, pooled: bool) -> str:
    if not pooled:
        return f"{row['macro_f1']:.3f}"
    value = row.get("macro_f1_present")
    return "-" if value is None else f"{value:.3f}"


def _class_cell(row: Mapping, name: str, pooled: bool) -> str:
    present = row.get("classes_present")
    if pooled and present is not None and name not in present:
        return "-"
    return f"{row['per_class_f1'][name]:.2f}"


def comparison_table(results: Mapping[str, CVResult], title: str = "comparison") -> Table:
    """One row per named run: its headline (macro-F1 mean ± std, or pooled UF1 ± std over
    seeds under ``loso``), UF1, UAR, per-class F1, gate weights."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  padding=(0, 1, 0, 0))
    headlines = {n: headline_of(r.summary, r.config) for n, r in results.items()}
    labels = {h["label"] for h in headlines.values()}
    table.add_column("run", no_wrap=True)
    table.add_column(labels.pop() if len(labels) == 1 else "headline", justify="right",
                     no_wrap=True, min_width=11)
    table.add_column("UF1", justify="right", no_wrap=True)
    table.add_column("UAR", justify="right", no_wrap=True)
    classes: list[str] = next(iter(results.values())).classes if results else []
    for name in classes:
        table.add_column(name[:3], justify="right", no_wrap=True)
    table.add_column("gate", no_wrap=True)
    deltas = differences_from_best_single(results)
    if deltas:
        table.add_column("Δ best single [95% CI]", no_wrap=True)
    for name, result in results.items():
        s = result.summary
        h = headlines[name]
        delta = deltas.get(name)
        extra = [] if not deltas else [
            "" if delta is None else
            f"{delta.difference:+.3f} [{delta.low:+.3f}, {delta.high:+.3f}]"
            + ("*" if delta.excludes_zero else "")]
        per_class = ((s.get("per_class_f1_pooled_mean") if h["metric"] != "macro_f1" else None)
                     or s["per_class_f1_mean"])
        table.add_row(
            name, f"{h['value']:.3f}±{h['spread']:.3f}",
            f"{s['uf1_mean']:.3f}", f"{s['uar_mean']:.3f}",
            *(f"{per_class[c]:.2f}" for c in classes),
            "/".join(f"{v:.2f}" for v in s["gate_mean"].values()) if len(s["gate_mean"]) > 1
            else "",
            *extra,
        )
    spreads = sorted({f"{h['label']}: ± std over {h['spread_over']}"
                      for h in headlines.values()})
    table.caption = ("; ".join(spreads) + "; UF1, UAR: pooled predictions; "
                     "per-class F1 by the first letters of each class; gate: weight of each "
                     "modality in the order named"
                     + ("; Δ: paired macro-F1 difference from the best single-modality run "
                        "(same folds and seeds), 95 % bootstrap interval over test "
                        f"{next(iter(deltas.values())).unit}s, * when it excludes 0"
                        if deltas else ""))
    return table


def differences_from_best_single(results: Mapping[str, CVResult]
                                 ) -> dict[str, PairedDifference]:
    """Each fused run's paired difference from the best single-modality run of ``results``.

    Only for display: the "best single" is picked on the runs' own scores because the question
    the column answers is "did fusion beat the best input *here*", not to choose a model.
    Runs without predictions, or not scored on the same folds, are left out.
    """
    singles = {n: r for n, r in results.items()
               if r.config.get("strategy") == "single" and r.predictions is not None}
    if not singles:
        return {}
    best_name = max(singles, key=lambda n: headline_of(singles[n].summary,
                                                      singles[n].config)["value"])
    best = singles[best_name].predictions
    assert best is not None  # singles have predictions
    out: dict[str, PairedDifference] = {}
    for name, result in results.items():
        if result.config.get("strategy") == "single" or result.predictions is None:
            continue
        try:
            out[name] = paired_difference(
                result.predictions, best, result.classes, names=(name, best_name),
                level=result.config.get("level", "sequence"))
        except DataError:
            continue
    return out


def _describe(config: Mapping) -> str:
    return (f"{config['strategy']} on {' + '.join(config['modalities'])}, "
            f"{config['protocol']}, seeds {config['seeds']}")
