"""Every fusion option on the demo stores, with paired intervals; recommended vs gated time.

Stores (feature-level, written by ``mefuse demo-store``):

- ``demo``: ``signal`` carries every class, ``noise`` only identity (the case where fusion
  tends to lose to its best input);
- ``complementary``: ``stream_a`` carries the classes at even positions, ``stream_b`` the rest
  (the case fusion exists for).

On each, one ``mefuse bench`` (subject-kfold, 3 folds, seeds 0,1,2) computes each stream alone
and the pair under concat, gated (the paper's model), gated + modality dropout, gated + aux
heads, gated + decisive gate, late fusion and the recommended preset; its ``comparisons.csv``
gives each fusion minus the best single stream and gated minus concat, with 95 % bootstrap
intervals over subjects. Then ``mefuse cv`` times the recommended preset against the paper's
gated model on the paper-shaped store (1 seed, mskf 3 folds, 60 epochs).

    python benchmarks/bench_fusion.py     # writes benchmarks/results/fusion.json and fusion.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

VARIANTS = "single,concat,gated,moddrop,aux,entropy,late,recommended"


def _mefuse(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mefuse.cli.main", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def grid(name: str, store: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    out = work / f"bench-{name}"
    wall = _mefuse("bench", "-s", str(store), "--variants", args.variants, "--protocol",
                   "subject-kfold", "--seeds", args.seeds, "--epochs", str(args.epochs),
                   "-j", str(args.jobs), "-o", str(out), "-q")
    cells = pd.read_csv(out / "cells.csv")
    comparisons = pd.read_csv(out / "comparisons.csv")
    return {
        "store": name, "wall_s": round(wall, 1), "seeds": args.seeds, "epochs": args.epochs,
        "cells": [{"feature_set": r["feature_set"], "variant": r["variant"],
                   "macro_f1_mean": round(float(r["macro_f1_mean"]), 4),
                   "macro_f1_std": round(float(r["macro_f1_std"]), 4),
                   "seed_std": round(float(r["macro_f1_seed_std"]), 4), "gate": r["gate"],
                   "runtime_s": round(float(r["runtime_s"]), 1)}
                  for _, r in cells.iterrows()],
        "comparisons": [{"a": f"{r['a_variant']} ({r['a_feature_set']})",
                         "b": f"{r['b_variant']} ({r['b_feature_set']})",
                         "difference": round(float(r["difference"]), 4),
                         "low": round(float(r["low"]), 4), "high": round(float(r["high"]), 4),
                         "excludes_zero": bool(r["excludes_zero"]), "unit": r["unit"],
                         "n_units": int(r["n_units"])}
                        for _, r in comparisons.iterrows()],
    }


def timing(store: Path, work: Path) -> dict[str, Any]:
    """Wall time of one cv run (1 seed, mskf, 3 folds) of gated and of the recommended preset."""
    times, scores = {}, {}
    for preset in ("paper", "recommended"):
        out = work / f"time-{preset}"
        times[preset] = _mefuse("cv", "-s", str(store), "-m", "signal", "-m", "noise",
                                "--preset", preset, "--seeds", "0", "-o", str(out), "-q")
        result = json.loads((out / "results.json").read_text())
        scores[preset] = {"macro_f1": round(result["summary"]["macro_f1_mean"], 4),
                          "choices": [f.get("choice") for f in result["folds"]]}
    return {"gated_s": round(times["paper"], 1), "recommended_s": round(times["recommended"], 1),
            "ratio": round(times["recommended"] / times["paper"], 2), "scores": scores}


def markdown(data: dict[str, Any]) -> str:
    lines = ["# Fusion options on the demo stores", "",
             "subject-kfold 3 folds. Macro-F1 mean over folds x seeds; differences A - B with "
             "95 % bootstrap intervals (test subjects resampled).", ""]
    for g in data["grids"]:
        lines += [f"## {g['store']}", "",
                  f"seeds {g.get('seeds', data['seeds'])}, {g.get('epochs', data['epochs'])} "
                  f"epochs, bench wall time {g['wall_s']} s.", "",
                  "| feature set | variant | macro-F1 | seed std |", "|---|---|---:|---:|"]
        lines += [f"| {c['feature_set']} | {c['variant']} | {c['macro_f1_mean']:.3f} | "
                  f"{c['seed_std']:.3f} |" for c in g["cells"]]
        lines += ["", "| A | B | Δ | interval | excludes 0 |", "|---|---|---:|---:|---|"]
        lines += [f"| {c['a']} | {c['b']} | {c['difference']:+.3f} | "
                  f"[{c['low']:+.3f}, {c['high']:+.3f}] | {'yes' if c['excludes_zero'] else 'no'} |"
                  for c in g["comparisons"]]
        lines.append("")
    if "timing" in data:
        t = data["timing"]
        lines += ["## Training time, paper-shaped store (cv, 1 seed, mskf 3 folds, 60 epochs)", "",
                  f"gated {t['gated_s']} s, recommended {t['recommended_s']} s: "
                  f"ratio {t['ratio']} (choices {t['scores']['recommended']['choices']}).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of the grids (the "
                        "timing runs the presets' own 60)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", default=VARIANTS, help="bench columns to compute")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--skip-grids", action="store_true")
    args = parser.parse_args()
    data: dict[str, Any] = {"seeds": args.seeds, "epochs": args.epochs, "grids": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stores = [] if args.skip_grids else [("demo", []), ("complementary", ["--complementary"])]
        for name, flags in stores:
            _mefuse("demo-store", str(work / name), *flags)
            data["grids"].append(grid(name, work / name, work, args))
            print(json.dumps(data["grids"][-1]["comparisons"], indent=1))
        if not args.skip_timing:
            _mefuse("demo-store", str(work / "paper"), "--paper-shaped")
            data["timing"] = timing(work / "paper", work)
    previous = RESULTS / "fusion.json"
    if previous.is_file():  # keep the part of an earlier run that this one skipped
        old = json.loads(previous.read_text())
        for key in ("timing", "grids"):
            if not data.get(key) and old.get(key):
                data[key] = old[key]
    path = write_result("fusion", data)
    (RESULTS / "fusion.md").write_text(markdown(data))
    print(f"wrote {path} and {RESULTS / 'fusion.md'}")


if __name__ == "__main__":
    main()
