"""The report's figures, drawn with matplotlib on an Agg canvas.

Figures are built from :class:`matplotlib.figure.Figure` directly, never through ``pyplot``: no
global backend is switched (importing the report in a notebook leaves its backend alone), no
figure is kept in a global registry, and rendering works on a machine without a display.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mefuse.report.analysis import ClassAttention

PALETTE = ["#3366aa", "#ee7733", "#229977", "#cc3355", "#7755aa", "#998833", "#44aacc",
           "#aa6644"]
VARIANT_COLOURS = {"single": "#888888", "concat": "#ee7733", "sum": "#229977",
                   "gated": "#3366aa", "position": "#7755aa", "motion": "#cc3355"}
DPI = 110


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#dddddd", linewidth=0.8)
    ax.set_axisbelow(True)


def per_class_f1(folds: pd.DataFrame, pooled: pd.DataFrame, classes: Sequence[str]) -> Figure:
    """Per-class F1: mean over folds and seeds with its std, and each seed's pooled F1."""
    figure = _figure(7.5, 3.4)
    ax = figure.add_subplot()
    x = np.arange(len(classes))
    mean = folds[list(classes)].mean().to_numpy()
    std = folds[list(classes)].std(ddof=0).to_numpy()
    ax.bar(x, mean, 0.6, yerr=std, capsize=4, color=PALETTE[0], alpha=0.85,
           label="fold mean ± std")
    for i, (_, row) in enumerate(pooled.iterrows()):
        ax.scatter(x + 0.18, [row[c] for c in classes], marker="D", s=22, zorder=3,
                   color=PALETTE[1], label="pooled, per seed" if i == 0 else None)
    ax.set_xticks(x, [f"{c}\n{m:.2f}" for c, m in zip(classes, mean, strict=True)])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("Per-class F1", loc="left", fontsize=11)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax)
    return figure


def confusion(counts: pd.DataFrame) -> Figure:
    """A 2x2 confusion matrix per class (truth x decision) of the pooled test predictions."""
    classes = list(counts.index)
    figure = _figure(1.75 * max(len(classes), 2) + 0.6, 2.5)
    axes = figure.subplots(1, len(classes), squeeze=False)[0]
    for ax, name in zip(axes, classes, strict=True):
        row = counts.loc[name]
        matrix = np.array([[row["TP"], row["FN"]], [row["FP"], row["TN"]]], dtype=float)
        total = matrix.sum() or 1.0
        ax.imshow(matrix / total, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix):
            label = ["TP", "FN", "FP", "TN"][2 * i + j]
            text = f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"
            ax.text(j, i, f"{label}\n{text}", ha="center", va="center", fontsize=8,
                    color="white" if matrix[i, j] / total > 0.5 else "#222222")
        ax.set_xticks([0, 1], ["pred 1", "pred 0"], fontsize=7)
        ax.set_yticks([0, 1], ["true 1", "true 0"], fontsize=7)
        ax.set_title(name, fontsize=9)
    figure.suptitle("Confusion per class (pooled test predictions, mean over seeds)",
                    x=0.01, ha="left", fontsize=11)
    return figure


def confusion_matrix(counts: pd.DataFrame, shares: pd.DataFrame) -> Figure:
    """Single-label runs: true x predicted class, coloured by the row-normalised share (the
    diagonal is each class's recall) and annotated with the share and the count."""
    classes = list(counts.index)
    side = 0.75 * max(len(classes), 3) + 2.0
    figure = _figure(side + 0.8, side)
    ax = figure.add_subplot()
    image = ax.imshow(shares.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    values = counts.to_numpy(dtype=float)
    for (i, j), share in np.ndenumerate(shares.to_numpy(dtype=float)):
        count = values[i, j]
        text = f"{count:.0f}" if float(count).is_integer() else f"{count:.1f}"
        ax.text(j, i, f"{share:.2f}\n({text})", ha="center", va="center", fontsize=8,
                color="white" if share > 0.5 else "#222222")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the true class")
    ax.set_title("Confusion matrix (pooled test predictions, mean over seeds)", loc="left",
                 fontsize=11)
    return figure


def gate_weights(gates: pd.DataFrame, strategy: str) -> Figure:
    """Distribution of the gate weight of each pool over folds and seeds."""
    pools = list(dict.fromkeys(gates["pool"]))
    figure = _figure(1.4 * len(pools) + 4.0, 3.0)
    ax = figure.add_subplot()
    values = [gates.loc[gates["pool"] == p, "weight"].to_numpy() for p in pools]
    ax.boxplot(values, positions=range(len(pools)), widths=0.5, showfliers=False,
               medianprops={"color": "#222222"})
    rng = np.random.default_rng(0)
    for i, v in enumerate(values):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=18, alpha=0.8, zorder=3,
                   color=PALETTE[i % len(PALETTE)])
    ax.axhline(1 / len(pools), color="#999999", linestyle="--", linewidth=1,
               label=f"equal weights (1/{len(pools)})")
    ax.set_xticks(range(len(pools)), pools)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("gate weight")
    note = "learned" if strategy == "gated" else f"{strategy}: fixed, not learned"
    ax.set_title(f"Gate weights over folds × seeds ({note})", loc="left", fontsize=11)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _style(ax)
    return figure


def class_attention(summary: ClassAttention, classes: Sequence[str]) -> Figure:
    """Each query's attention over the frames, averaged over the test clips of each class."""
    n_queries, frames = summary.mean.shape[1:]
    figure = _figure(2.0 * len(classes) + 1.8, 2.7)
    axes = figure.subplots(1, len(classes), sharey=True, squeeze=False)[0]
    t = np.arange(frames)
    # attention hovers around uniform (1/T); scale to the data so that its shape shows
    low = min(float(summary.mean.min()), 1 / frames)
    high = max(float(summary.mean.max()), 1 / frames)
    pad = max(0.1 * (high - low), 0.05 / frames)
    for c, (ax, name) in enumerate(zip(axes, classes, strict=True)):
        for q in range(n_queries):
            ax.plot(t, summary.mean[c, q], color=PALETTE[q % len(PALETTE)], linewidth=1.2,
                    label=f"query {q + 1}")
        ax.plot(t, summary.mean[c].mean(axis=0), color="#222222", linewidth=2,
                linestyle=":", label="mean of queries")
        # dashed and darker than the grid, or the reference line is lost among the grid lines
        ax.axhline(1 / frames, color="#888888", linewidth=0.9, linestyle="--", zorder=1)
        ax.set_title(f"{name} (n={int(summary.counts[c])})", fontsize=9)
        ax.set_xlabel("frame", fontsize=8)
        ax.set_ylim(max(0.0, low - pad), high + pad)
        ax.tick_params(labelsize=7)
        _style(ax)
    axes[0].set_ylabel("attention", fontsize=8)
    axes[-1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    figure.suptitle(f"Attention over frames of pool '{summary.pool}', by true class "
                    "(grey dashed line: uniform, 1/T)", x=0.01, ha="left", fontsize=11)
    return figure


def fold_variance(folds: pd.DataFrame, classes: Sequence[str]) -> Figure:
    """Macro-F1 of each fold by seed (left) and the spread of per-class F1 over folds (right)."""
    figure = _figure(9.5, 3.8)
    left, right = figure.subplots(1, 2, width_ratios=[1, 1.4])
    for i, (seed, group) in enumerate(folds.groupby("seed")):
        left.plot(group["fold"], group["macro_f1"], marker="o", color=PALETTE[i % len(PALETTE)],
                  label=f"seed {seed}")
    mean, std = folds["macro_f1"].mean(), folds["macro_f1"].std(ddof=0)
    left.axhline(mean, color="#222222", linewidth=1.2, label=f"mean {mean:.3f}")
    left.axhspan(mean - std, mean + std, color="#cccccc", alpha=0.5,
                 label=f"± std {std:.3f} (var {1e4 * std ** 2:.2f} %²)")
    left.set_xticks(sorted(folds["fold"].unique()))
    left.set_xlabel("fold")
    left.set_ylabel("macro-F1")
    left.set_ylim(0, 1.02)
    left.set_title("Macro-F1 per fold", loc="left", fontsize=11)
    left.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                ncol=2)
    _style(left)
    right.boxplot([folds[c].dropna().to_numpy() for c in classes], positions=range(len(classes)),
                  widths=0.5, medianprops={"color": PALETTE[0]})
    right.set_xticks(range(len(classes)), classes, fontsize=8)
    right.set_ylim(0, 1.02)
    right.set_ylabel("F1")
    right.set_title("Per-class F1 across folds × seeds", loc="left", fontsize=11)
    _style(right)
    return figure


def bench_overview(cells: pd.DataFrame, score: str = "macro-F1") -> Figure:
    """Every cell of a bench: its headline score (``score``: the protocol's, see
    :mod:`mefuse.train.headline`) mean ± std (left) and the fold variance (right)."""
    ordered = cells.sort_values("headline").reset_index(drop=True)
    height = max(2.6, 0.32 * len(ordered) + 1.2)
    figure = _figure(10.0, height)
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[2.2, 1])
    y = np.arange(len(ordered))
    colours = [VARIANT_COLOURS.get(v, "#888888") for v in ordered["variant"]]
    labels = [f"{f}  [{v}]" for f, v in zip(ordered["feature_set"], ordered["variant"],
                                            strict=True)]
    left.barh(y, ordered["headline"], xerr=ordered["headline_std"], color=colours,
              capsize=3, height=0.7)
    left.set_yticks(y, labels, fontsize=8)
    left.set_xlim(0, 1.0)
    left.set_xlabel("macro-F1 (mean ± std over folds × seeds)" if score.lower() == "macro-f1"
                    else f"{score} (mean ± std over seeds)")
    left.set_title("Every cell of the grid", loc="left", fontsize=11)
    right.barh(y, 1e4 * ordered["macro_f1_var"], color=colours, height=0.7)
    right.set_xlabel("variance of fold macro-F1 (%²)")
    right.set_title("Stability", loc="left", fontsize=11)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="x", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
    handles = [Patch(color=c, label=v) for v, c in VARIANT_COLOURS.items()
               if v in set(ordered["variant"])]
    left.legend(handles=handles, frameon=False, fontsize=7, loc="lower right")
    return figure
