"""``regionflow`` against ``mesh3d`` and ``flow`` on the real-face demo: alone and fused.

Builds (or reuses) the ``mefuse demo`` dataset and store under ``--out`` and adds ``regionflow``
to it, then cross-validates, subject-disjoint 5-fold as the demo does, over ``--seeds`` (default
0, 1, 2), with the paper's configuration (``configs/paper.yaml`` defaults, nothing tuned):

- each extractor alone (``single``);
- the paper's ``gated`` fusion of every pair and of all three, and ``concat`` of the pairs that
  hold ``flow``.

Also measures what each extractor costs on the demo's crops: end-to-end extraction (read +
views + crop + extractor) of the same sequences into a scratch store, one extractor at a time.

    python benchmarks/bench_regionflow.py      # writes benchmarks/results/regionflow.json, .md
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

EXTRACTORS = ("mesh3d", "flow", "regionflow")
RUNS: dict[str, tuple[str, list[str]]] = {
    "mesh3d": ("single", ["mesh3d"]),
    "flow": ("single", ["flow"]),
    "regionflow": ("single", ["regionflow"]),
    "gated mesh3d+flow": ("gated", ["mesh3d", "flow"]),
    "gated regionflow+flow": ("gated", ["regionflow", "flow"]),
    "gated mesh3d+regionflow": ("gated", ["mesh3d", "regionflow"]),
    "gated all three": ("gated", ["mesh3d", "regionflow", "flow"]),
    "concat mesh3d+flow": ("concat", ["mesh3d", "flow"]),
    "concat regionflow+flow": ("concat", ["regionflow", "flow"]),
}


def extraction_cost(out: Path, sequences: int) -> dict[str, Any]:
    """Frames per second of each extractor alone, end to end, on the demo's first sequences."""
    from mefuse.data.adapters import clip_table, load_dataset
    from mefuse.demo import DEMO_CROP
    from mefuse.features.base import create_extractor
    from mefuse.features.extract import PreprocessConfig, extract_table

    root = out / "dataset"
    data = load_dataset("4dmr", root, labels=root / "train_labels.csv")
    table = clip_table(data, ("left", "right"))
    keep = sorted(set(table.frame["sequence_id"]))[:sequences]
    table = table.subset(table.frame["sequence_id"].isin(keep).to_numpy())
    costs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name in EXTRACTORS:
            summary = extract_table(table, Path(scratch) / name, [create_extractor(name)],
                                    PreprocessConfig(crop_size=DEMO_CROP), progress=False)
            costs[name] = {"frames": summary.frames, "seconds": round(summary.seconds, 2),
                           "ms_per_frame": round(1000 * summary.seconds / summary.frames, 1)}
    return costs


def cross_validate(store: Path, seeds: list[int], runs_dir: Path) -> dict[str, Any]:
    from mefuse.data.clips import ClipTable
    from mefuse.demo import DEMO_FOLDS
    from mefuse.train.config import CVConfig
    from mefuse.train.cv import run_cv

    table = ClipTable.read(store / "clips.csv")
    rows: dict[str, Any] = {}
    for name, (strategy, modalities) in RUNS.items():
        config = CVConfig(modalities=modalities, strategy=strategy, protocol="subject-kfold",
                          folds=DEMO_FOLDS, seeds=seeds)
        result = run_cv(store, table, config)
        result.write(runs_dir / name.replace(" ", "_").replace("+", "-"))
        s = result.summary
        rows[name] = {
            "strategy": strategy, "modalities": modalities,
            "macro_f1_mean": round(s["macro_f1_mean"], 4),
            "macro_f1_std": round(s["macro_f1_std"], 4),
            "uf1_mean": round(s["uf1_mean"], 4), "uar_mean": round(s["uar_mean"], 4),
            "per_class_f1_mean": {k: round(v, 3) for k, v in s["per_class_f1_mean"].items()},
            "gate_mean": {k: round(v, 3) for k, v in s["gate_mean"].items()},
            "runtime_s": round(result.runtime_s, 1),
        }
        print(f"{name}: macro-F1 {s['macro_f1_mean']:.3f}±{s['macro_f1_std']:.3f}", flush=True)
    return rows


def markdown(rows: dict[str, Any], costs: dict[str, Any], seeds: list[int]) -> str:
    classes = list(next(iter(rows.values()))["per_class_f1_mean"])
    lines = [f"demo, subject-disjoint 5-fold, seeds {','.join(map(str, seeds))} "
             "(mean ± std over folds x seeds)", "",
             "| run | macro-F1 | UF1 | UAR | " + " | ".join(c[:3] for c in classes)
             + " | gate |", "|---|---|---|---|" + "---|" * len(classes) + "---|"]
    for name, row in rows.items():
        gate = "/".join(f"{v:.2f}" for v in row["gate_mean"].values()) \
            if len(row["gate_mean"]) > 1 else ""
        lines.append(f"| {name} | {row['macro_f1_mean']:.3f}±{row['macro_f1_std']:.3f} | "
                     f"{row['uf1_mean']:.3f} | {row['uar_mean']:.3f} | "
                     + " | ".join(f"{row['per_class_f1_mean'][c]:.2f}" for c in classes)
                     + f" | {gate} |")
    lines += ["", "| extractor | ms per frame, end to end (read + crop + extractor) |",
              "|---|---|"]
    lines += [f"| {name} | {cost['ms_per_frame']} |" for name, cost in costs.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"),
                        help="the demo's folder (dataset and store are reused when present)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--cost-sequences", type=int, default=6,
                        help="sequences timed per extractor (0 skips the timing)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    import torch

    torch.set_num_threads(2)
    from mefuse.demo import build_demo_store

    started = time.perf_counter()
    store = build_demo_store(args.out, extractors=EXTRACTORS, progress=False)
    build_s = time.perf_counter() - started
    costs = extraction_cost(args.out, args.cost_sequences) if args.cost_sequences else {}
    rows = cross_validate(store, seeds, args.out / "runs_regionflow")
    path = write_result("regionflow", {
        "benchmark": "regionflow vs mesh3d and flow on the mefuse demo (real faces, synthetic "
                     "movements), alone and fused; paper configuration, subject-kfold 5 folds",
        "seeds": seeds, "store": str(store), "build_or_reuse_s": round(build_s, 1),
        "extraction_cost": costs, "runs": rows,
    })
    (RESULTS / "regionflow.md").write_text(markdown(rows, costs, seeds))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
