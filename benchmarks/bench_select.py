"""The recommended preset's inner choice with and without its bootstrap test, on six stores.

Why: the inner choice compares the fused output with each stream alone on 2-4 held-out people,
and a margin alone let gains of 0.02-0.08 that were noise through. ``select_confidence``
(a paired bootstrap over those people) should keep the fused network only where its gain is
carried by the people, so the preset stays at its best input where fusion does not help and
keeps fusion where streams are complementary.

Stores (all feature-level and generated, so the script runs anywhere):

- ``test`` and ``test-complementary``: the stores of ``tests/test_fusion_guarantees.py``
  (12 subjects x 10 sequences x 2 views, 10 frames, 15 epochs);
- ``demo`` and ``demo-complementary``: ``mefuse demo-store`` defaults (15 epochs);
- ``paper-shaped``: widths 171 and 1536, 18-60 frames (60 epochs unless ``--quick``);
- ``mefuse-demo``: the real-face demo's ``mesh3d`` + ``flow`` store, when ``--demo-store`` names
  one (``mefuse demo`` writes ``demo_out/store``), 5 folds.

For each: every stream alone (the paper's single model), the recommended preset with the
margin alone (``select_confidence: 0``, the previous preset) and with the bootstrap at 0.7
(the current preset) and 0.9, subject-kfold, seeds 0, 1, 2; macro-F1 mean over folds and seeds,
how many fits kept the fused network, and each preset's paired difference from the best
stream with its 95 % interval over test subjects.

    python benchmarks/bench_select.py [--quick] [--demo-store demo_out/store]
    # writes benchmarks/results/select.json and select.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

SPEC = dict(subjects=12, sequences_per_subject=10, min_frames=12, max_frames=20, signal_dim=12,
            noise_dim=16)


def stores(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """(name, root, clip table, streams, recipe) of each store, generated under ``work``."""
    from mefuse.data.clips import ClipTable
    from mefuse.demo.features import DemoSpec, make_demo_store, paper_shaped_spec

    quick = {"protocol": "subject-kfold", "folds": 3, "model": {"frames": 10},
             "optim": {"epochs": 15}}
    out = []
    for name, spec, recipe in [
        ("test", DemoSpec(**SPEC), quick),
        ("test-complementary", DemoSpec(**SPEC, complementary=True), quick),
        ("demo", DemoSpec(), {"protocol": "subject-kfold", "folds": 3,
                              "optim": {"epochs": 15}}),
        ("demo-complementary", DemoSpec(complementary=True),
         {"protocol": "subject-kfold", "folds": 3, "optim": {"epochs": 15}}),
        ("paper-shaped", paper_shaped_spec(),
         {"protocol": "subject-kfold", "folds": 3, "optim": {"epochs": 15 if args.quick
                                                              else 60}}),
    ]:
        root = work / name
        table = make_demo_store(root, spec, seed=0)
        streams = ["stream_a", "stream_b"] if spec.complementary else ["signal", "noise"]
        out.append({"name": name, "root": root, "table": table, "streams": streams,
                    "recipe": recipe})
    if args.demo_store:
        root = Path(args.demo_store)
        table = ClipTable.read(root / "clips.csv")
        out.append({"name": "mefuse-demo", "root": root, "table": table,
                    "streams": ["mesh3d", "flow"],
                    "recipe": {"protocol": "subject-kfold", "folds": 5,
                               "optim": {"epochs": 15 if args.quick else 60}}})
    return out


LEVELS = (0.7, 0.9)
"""Bootstrap levels compared with the margin alone (0.7: the recommended preset's)."""


def measure(store: dict[str, Any], seeds: list[int]) -> dict[str, Any]:
    from mefuse.train.compare import paired_difference
    from mefuse.train.config import CVConfig, merge
    from mefuse.train.cv import run_cv
    from mefuse.train.presets import load_preset

    recipe = {**store["recipe"], "seeds": seeds}
    paper = merge(load_preset("paper"), recipe)
    configs = {m: merge(paper, {"modalities": [m], "strategy": "single"})
               for m in store["streams"]}
    recommended = merge(merge(load_preset("recommended"), recipe),
                        {"modalities": store["streams"], "engine": "batched"})
    configs["margin only"] = merge(recommended, {"fusion": {"select_confidence": 0.0}})
    for level in LEVELS:
        configs[f"bootstrap {level:g}"] = merge(recommended,
                                                {"fusion": {"select_confidence": level}})
    results, cells = {}, {}
    for name, data in configs.items():
        started = time.perf_counter()
        result = run_cv(store["root"], store["table"], CVConfig(**data))
        results[name] = result
        cells[name] = {"macro_f1": round(result.summary["macro_f1_mean"], 4),
                       "runtime_s": round(time.perf_counter() - started, 1)}
        if name not in store["streams"]:
            cells[name]["fused_fits"] = sum(f["choice"] == "fused" for f in result.folds)
            cells[name]["fits"] = len(result.folds)
    best = max(store["streams"], key=lambda m: cells[m]["macro_f1"])
    classes = results[best].classes
    for name in [n for n in cells if n not in store["streams"]]:
        diff = paired_difference(results[name].predictions, results[best].predictions, classes,
                                 names=(name, best), unit="subject")
        cells[name]["minus_best"] = round(diff.difference, 4)
        cells[name]["interval"] = [round(diff.low, 4), round(diff.high, 4)]
    return {"store": store["name"], "best_single": best, "cells": cells}


def markdown(rows: list[dict[str, Any]], seeds: list[int]) -> str:
    lines = [
        "# The inner choice: margin alone vs margin + bootstrap (`select_confidence`)", "",
        f"subject-kfold, seeds {','.join(map(str, seeds))}; macro-F1 mean over folds and seeds; "
        "Δ = preset minus the best single stream, 95 % interval over test subjects; "
        "fused = fits that kept the fused network.", "",
        "| store | best single | margin only (Δ, fused) | "
        + " | ".join(f"bootstrap {level:g} (Δ, fused)" for level in LEVELS) + " |",
        "|---|---:|---:|" + "---:|" * len(LEVELS),
    ]
    for row in rows:
        c, best = row["cells"], row["best_single"]

        def cell(name: str, c: dict[str, Any] = c) -> str:
            x = c[name]
            low, high = x["interval"]
            return (f"{x['macro_f1']:.4f} ({x['minus_best']:+.3f} [{low:+.3f}, {high:+.3f}], "
                    f"{x['fused_fits']}/{x['fits']})")

        lines.append(f"| {row['store']} | {c[best]['macro_f1']:.4f} ({best}) | "
                     f"{cell('margin only')} | "
                     + " | ".join(cell(f"bootstrap {level:g}") for level in LEVELS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 epochs everywhere, one seed")
    parser.add_argument("--demo-store", help="the real-face demo's store (demo_out/store)")
    parser.add_argument("--only", help="comma-separated store names to run")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for store in stores(Path(tmp), args):
            if args.only and store["name"] not in args.only.split(","):
                continue
            rows.append(measure(store, seeds))
            print(rows[-1], flush=True)
    name = "select_quick" if args.quick else "select"
    path = write_result(name, {"seeds": seeds, "stores": rows})
    (RESULTS / f"{name}.md").write_text(markdown(rows, seeds))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
