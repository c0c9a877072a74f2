"""Tables of a bench folder: CSV for analysis, markdown laid out like the paper's tables.

- ``grid.csv``: one row per cell and seed (the seed's fold-mean macro-F1 and its fold std,
  pooled UF1 and UAR, fold-mean per-class F1, gate weights);
- ``cells.csv``: one row per cell (mean, std and variance of fold macro-F1 over all folds and
  seeds, the std of the seed means, UF1, UAR, per-class F1, gate weights, runtime);
- ``comparisons.csv``: paired differences of macro-F1 between chosen cells with bootstrap
  intervals (see :mod:`mefuse.bench.comparisons`);
- ``tables.md``: each extractor alone (the paper's Table 2), the fusion-strategy matrix (Table 3),
  every cell with its variance (the column the paper uses to argue stability), per-class F1.

Scores in the markdown are percentages, as in the paper; the variance is that of the fold
macro-F1 in percent squared, so "a third of the variance" reads off directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mefuse.bench.comparisons import bench_comparisons
from mefuse.bench.grid import VARIANT_TABLE, fusion_variant_names, variant_label
from mefuse.bench.runner import CELLS, PLAN, is_done
from mefuse.errors import DataError
from mefuse.train.headline import LABELS, headline_of
from mefuse.train.results import CVResult
from mefuse.utils.atomic import write_text
from mefuse.utils.csvsafe import write_csv
from mefuse.utils.jsonfile import read_json_object

VARIANT_LABELS: dict[str, str] = {v.name: v.label for v in VARIANT_TABLE}
"""Each variant's label in tables, as at import (:func:`~mefuse.bench.grid.variant_label` reads
the table of :mod:`mefuse.bench.grid` now)."""
GRID_CSV = "grid.csv"
CELLS_CSV = "cells.csv"
COMPARISONS_CSV = "comparisons.csv"
TABLES_MD = "tables.md"


@dataclass
class BenchTables:
    """The finished cells of a bench folder as data frames."""

    plan: dict[str, Any]
    classes: list[str]
    cells: pd.DataFrame
    seeds: pd.DataFrame
    missing: list[str]
    comparisons: pd.DataFrame


CELL_KEYS = frozenset({"cell_id", "feature_set", "kinds", "set", "variant"})
"""What every cell of a bench plan names (the tables describe cells by them)."""
REDO_CELL = "delete the cell's folder and run 'mefuse bench' again to compute it anew"


def load_bench(out: str | Path) -> BenchTables:
    """Read the plan and every finished cell of a bench folder."""
    out = Path(out)
    if not (out / PLAN).exists():
        raise DataError(f"{out} is not a bench folder (no {PLAN}); run 'mefuse bench' first")
    plan = read_json_object(out / PLAN, "bench plan", "run 'mefuse bench' again to write it")
    if not isinstance(plan.get("cells"), list) or not all(
            isinstance(c, dict) and set(c) >= CELL_KEYS for c in plan["cells"]):
        raise DataError(f"{out / PLAN} is not a bench plan (its 'cells' entry must list "
                        f"objects with {', '.join(sorted(CELL_KEYS))}); run 'mefuse bench' "
                        "again to write it")
    cell_rows, seed_rows, missing = [], [], []
    classes: list[str] = []
    for cell in plan["cells"]:
        folder = out / CELLS / cell["cell_id"]
        if not is_done(folder):
            missing.append(cell["cell_id"])
            continue
        result = CVResult.read(folder, arrays=False)
        record = read_json_object(folder / "cell.json", "bench cell record", REDO_CELL)
        runtime = record.get("runtime_s")
        if not isinstance(runtime, int | float):
            raise DataError(f"{folder / 'cell.json'} has no 'runtime_s' number; {REDO_CELL}")
        classes = classes or list(result.classes)
        cell_rows.append(_cell_row(cell, result, runtime))
        seed_rows += _seed_rows(cell, result)
    cells = pd.DataFrame(cell_rows)
    comparisons = bench_comparisons(out, cells, classes, plan)
    return BenchTables(plan, classes, cells, pd.DataFrame(seed_rows), missing, comparisons)


def _describe(cell: dict[str, Any]) -> dict[str, Any]:
    return {"cell_id": cell["cell_id"], "feature_set": cell["feature_set"],
            "kinds": "+".join(cell["kinds"]), "set": cell["set"], "variant": cell["variant"]}


def _gate_text(gate: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in gate.items())


def _cell_row(cell: dict[str, Any], result: CVResult, runtime: float) -> dict[str, Any]:
    """One cell's scores; ``headline`` (and its std) is the protocol's headline score
    (:mod:`mefuse.train.headline`), which the tables rank and print. Per-class F1 is the fold
    mean, or the pooled predictions' (mean over seeds) when the headline is pooled."""
    s = result.summary
    headline = headline_of(s, result.config)
    pooled = headline["metric"] != "macro_f1"
    row = {**_describe(cell), "headline_metric": headline["metric"],
           "headline": headline["value"], "headline_std": headline["spread"],
           "macro_f1_mean": s["macro_f1_mean"], "macro_f1_std": s["macro_f1_std"],
           "macro_f1_var": s["macro_f1_var"], "macro_f1_seed_std": s["macro_f1_seed_std"],
           "uf1_mean": s["uf1_mean"], "uar_mean": s["uar_mean"]}
    per_class = (s.get("per_class_f1_pooled_mean") if pooled else None) or s["per_class_f1_mean"]
    row.update({f"f1_{c}": v for c, v in per_class.items()})
    row.update({"gate": _gate_text(s["gate_mean"]), "n_runs": s["n_runs"],
                "seeds": len(result.pooled), "runtime_s": runtime})
    row.update(_part_columns(s.get("by_dataset") or {}))
    return row


PART_UF1, PART_UAR = "part_uf1_", "part_uar_"
"""Column prefixes of each dataset part's pooled UF1 and UAR (composite stores)."""


def _part_columns(parts: dict[str, Any]) -> dict[str, float]:
    """``part_uf1_<part>`` and ``part_uar_<part>`` of a run's (or a seed's) ``by_dataset``."""
    out: dict[str, float] = {}
    for name, score in parts.items():
        out[f"{PART_UF1}{name}"] = score["uf1"]
        out[f"{PART_UAR}{name}"] = score["uar"]
    return out


def dataset_parts(cells: pd.DataFrame) -> list[str]:
    """The dataset parts that the cells were scored on (none for a one-dataset store)."""
    return [c[len(PART_UF1):] for c in cells.columns if c.startswith(PART_UF1)]


def _seed_rows(cell: dict[str, Any], result: CVResult) -> list[dict[str, Any]]:
    rows = []
    for pooled in result.pooled:
        folds = [f for f in result.folds if f["seed"] == pooled["seed"]]
        f1 = np.array([f["macro_f1"] for f in folds])
        row = {**_describe(cell), "seed": pooled["seed"], "macro_f1_mean": float(f1.mean()),
               "macro_f1_std": float(f1.std()), "uf1": pooled["uf1"], "uar": pooled["uar"]}
        row.update({f"f1_{c}": float(np.mean([f["per_class_f1"][c] for f in folds]))
                    for c in result.classes})
        gates = {g: float(np.mean([f["gate"][g] for f in folds])) for g in folds[0]["gate"]}
        row["gate"] = _gate_text(gates)
        row.update(_part_columns(pooled.get("by_dataset") or {}))
        rows.append(row)
    return rows


def write_tables(out: str | Path) -> BenchTables:
    """Write ``grid.csv``, ``cells.csv`` and ``tables.md`` into the bench folder."""
    out = Path(out)
    tables = load_bench(out)
    for name, frame in ((GRID_CSV, tables.seeds), (CELLS_CSV, tables.cells),
                        (COMPARISONS_CSV, tables.comparisons)):
        write_csv(frame, out / name, float_format="%.6g")
    write_text(out / TABLES_MD, markdown(tables))
    return tables


# ---------------------------------------------------------------------------- markdown
def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _mean_std(row: pd.Series) -> str:
    return f"{_pct(row['headline'])} ± {_pct(row['headline_std'])}"


def _var(row: pd.Series) -> str:
    """The fold macro-F1 variance: the paper's stability column, meaningless (``–``) where a
    fold is one person and the headline is pooled."""
    if row.get("headline_metric", "macro_f1") != "macro_f1":
        return "–"
    return f"{1e4 * row['macro_f1_var']:.2f}"


def headline_label(cells: pd.DataFrame) -> str:
    """``Macro-F1`` or ``UF1 (pooled)``: the name of the cells' headline column."""
    metric = cells["headline_metric"].iloc[0] if len(cells) else "macro_f1"
    return "Macro-F1" if metric == "macro_f1" else LABELS[metric]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    """A GitHub-flavoured markdown table (numbers right-aligned from column ``right_from``)."""
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _bold_best(values: dict[str, float]) -> set[str]:
    if not values:
        return set()
    best = max(values.values())
    return {k for k, v in values.items() if np.isclose(v, best)}


def markdown(tables: BenchTables) -> str:
    """The paper-style tables of a bench folder as one markdown document."""
    plan, cells, classes = tables.plan, tables.cells, tables.classes
    base = plan.get("base_config", {})
    optim = base.get("optim", {})
    parts = [
        "# Benchmark grid",
        "",
        f"Store `{plan['store']}`; protocol {base.get('protocol', 'mskf')}, "
        f"{base.get('folds', 3)} folds, seeds {base.get('seeds', [0])}, "
        f"{optim.get('epochs', 'default')} epochs, level {base.get('level', 'sequence')}. "
        f"{len(cells)} of {len(plan['cells'])} cells finished.",
        "",
        _score_note(cells),
    ]
    if cells.empty:
        parts += ["", "No cell has finished yet."]
        return "\n".join(parts) + "\n"
    score_name = headline_label(cells)
    pooled = score_name != "Macro-F1"
    alone = cells[cells["set"] == "alone"]
    if not alone.empty:
        best = _bold_best(dict(zip(alone["cell_id"], alone["headline"], strict=True)))
        rows = []
        for _, r in alone.iterrows():
            score = _mean_std(r)
            rows.append([r["feature_set"], r["kinds"],
                         f"**{score}**" if r["cell_id"] in best else score, _var(r),
                         _pct(r["uf1_mean"]), _pct(r["uar_mean"]),
                         *(_pct(r[f"f1_{c}"]) for c in classes)])
        parts += ["", "## Each extractor alone", "",
                  _table(["Extractor", "Kind", score_name, "Var", "UF1", "UAR", *classes], rows,
                         right_from=2)]
    fused = cells[cells["set"] != "alone"]
    if not fused.empty:
        variants = [v for v in fusion_variant_names() if v in set(fused["variant"])]
        rows = []
        for feature_set, group in fused.groupby("feature_set", sort=False):
            by_variant = {r["variant"]: r for _, r in group.iterrows()}
            best = _bold_best({v: r["headline"] for v, r in by_variant.items()})
            row = [feature_set, group["kinds"].iloc[0]]
            for v in variants:
                if v not in by_variant:
                    row.append("–")
                    continue
                text = (_mean_std(by_variant[v]) if pooled
                        else f"{_mean_std(by_variant[v])} (var {_var(by_variant[v])})")
                row.append(f"**{text}**" if v in best else text)
            rows.append(row)
        parts += ["", "## Fusion strategies", "",
                  (f"{score_name} (%) mean ± std over seeds" if pooled else
                   "Macro-F1 (%) mean ± std, with the variance (%²),")
                  + " per feature set and strategy; *gated + position* and *gated + motion* "
                  "go beyond the paper." + _baseline_note(variants), "",
                  _table(["Feature set", "Kinds", *(variant_label(v) for v in variants)], rows,
                         right_from=2)]
    rows = [[f"`{r['cell_id']}`", r["set"], variant_label(r["variant"]), _mean_std(r), _var(r),
             _pct(r["macro_f1_seed_std"]), _pct(r["uf1_mean"]), _pct(r["uar_mean"]), r["gate"],
             f"{r['runtime_s']:.1f}"] for _, r in cells.iterrows()]
    parts += ["", "## Every cell", "",
              _table(["Cell", "Set", "Strategy", score_name, "Var", "Seed std", "UF1", "UAR",
                      "Gate (mean)", "Time (s)"], rows, right_from=3)]
    if not tables.comparisons.empty:
        parts += ["", "## Paired comparisons", "", comparisons_markdown(tables.comparisons)]
    parts += _part_section(cells)
    rows = [[r["feature_set"], variant_label(r["variant"]),
             *(_pct(r[f"f1_{c}"]) for c in classes)] for _, r in cells.iterrows()]
    parts += ["", "## Per-class F1", "",
              "Of the predictions pooled over folds, mean over seeds (%)." if pooled
              else "Mean over folds and seeds (%).", "",
              _table(["Feature set", "Strategy", *classes], rows, right_from=2)]
    if tables.missing:
        parts += ["", "## Not finished", "",
                  "Failed or not computed yet (rerun `mefuse bench` to compute them): "
                  + ", ".join(f"`{c}`" for c in tables.missing)]
    return "\n".join(parts) + "\n"


def _baseline_note(variants: list[str]) -> str:
    """A sentence on the baseline columns, when the table has any."""
    from mefuse.bench.grid import architecture_of

    if not any(architecture_of(v) != "fusion" for v in variants):
        return ""
    return (" The *(baseline)* columns are the field's networks on the apex image, trained by "
            "the same recipe on the same folds; the paper's model on that key is its *single* "
            "row above.")


def _part_section(cells: pd.DataFrame) -> list[str]:
    """``## Per dataset part``: each cell's UF1 and UAR on the composite and on each part
    (MEGC's per-database columns); nothing for a one-dataset store."""
    names = dataset_parts(cells)
    if not names:
        return []

    def pair(uf1: Any, uar: Any) -> str:
        return "–" if pd.isna(uf1) else f"{_pct(uf1)} / {_pct(uar)}"

    rows = [[r["feature_set"], variant_label(r["variant"]),
             pair(r["uf1_mean"], r["uar_mean"]),
             *(pair(r[f"{PART_UF1}{n}"], r[f"{PART_UAR}{n}"]) for n in names)]
            for _, r in cells.iterrows()]
    return ["", "## Per dataset part", "",
            "UF1 / UAR (%) of the test predictions pooled over folds, for the whole composite "
            "and restricted to each part's clips, mean over seeds.", "",
            _table(["Feature set", "Strategy", "Composite", *names], rows, right_from=2)]


def _score_note(cells: pd.DataFrame) -> str:
    """What the scores of the tables are, for the cells' protocol."""
    if headline_label(cells) == "Macro-F1":
        return ("Macro-F1 in %: mean ± std over every fold of every seed. *Var* is the variance "
                "of the fold macro-F1 (%²), the paper's stability column; *seed std* is the std "
                "of the per-seed means. UF1 and UAR are on predictions pooled over the folds of "
                "a seed, averaged over seeds. Bold: best in its table or row.")
    return ("Headline in %: UF1 of the test predictions pooled over every fold of a seed "
            "(the MEGC convention for leave-one-subject-out: a fold is one person, who shows "
            "few classes, so per-fold macro-F1 scores classes no model could get right), mean "
            "± std over seeds; UAR pooled the same way. *Var* (fold macro-F1) does not apply; "
            "*seed std* is that of the per-seed fold means. Bold: best in its table or row.")


def _side(variant: str, feature_set: str) -> str:
    return f"{variant_label(variant)} ({feature_set})"


def comparisons_markdown(comparisons: pd.DataFrame) -> str:
    """The paired-difference table with its explanation (also used by ``mefuse report``)."""
    first = comparisons.iloc[0]
    units = sorted(set(comparisons["unit"]))
    text = (f"Difference of macro-F1 (A − B, percentage points) over the same folds and seeds "
            f"({int(first['n_runs'])} runs), with a {100 * first['confidence']:.0f}% bootstrap "
            f"interval: test {' and '.join(u + 's' for u in units)} resampled with replacement "
            f"({int(first['replicates'])} replicates), both cells rescored on each resample. "
            "*Excludes 0*: the difference is more than resampling noise. The best single is "
            "the best of this table's single cells among the fused inputs.")
    rows = []
    for _, r in comparisons.iterrows():
        excludes = "**yes**" if r["excludes_zero"] else "no"
        rows.append([_side(r["a_variant"], r["a_feature_set"]),
                     _side(r["b_variant"], r["b_feature_set"]),
                     f"{100 * r['difference']:+.2f}",
                     f"[{100 * r['low']:+.2f}, {100 * r['high']:+.2f}]", excludes,
                     f"{r['unit']}s ({int(r['n_units'])})"])
    return text + "\n\n" + _table(["A", "B", "Δ macro-F1", "Interval", "Excludes 0",
                                    "Resampled"], rows, right_from=2)
