"""``regionflow`` against ``mesh3d`` and ``flow`` on the real-face demo: alone and fused.

Builds (or reuses) the ``mefuse demo`` dataset and store under ``--out`` and adds ``regionflow``
to it, then cross-validates, subject-disjoint 5-fold as the demo does, over ``--seeds`` (default
0, 1, 2), with the paper's configuration (``configs/paper.yaml`` defaults, nothing tuned):

- each extractor alone (``single``);
- the paper's ``gated`` fusion of every pair and of all three, and ``concat`` of the pairs that
  hold ``flow``.

Also measures what each extractor costs per frame on the same demo crops (the extractors take
turns clip by clip, so that a shared machine's changing load hits them alike) and how often
``regionflow`` needed its second flow.

    python benchmarks/bench_regionflow.py      # writes benchmarks/results/regionflow.json, .md
    python benchmarks/bench_regionflow.py --seeds 0 --runs regionflow,mesh3d --cost-sequences 0

Rows of earlier invocations are kept (a run computed again replaces its row), so a busy machine
can do the grid in parts; each row records its seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

EXTRACTORS = ("mesh3d", "flow", "regionflow")
RUNS: dict[str, tuple[str, list[str]]] = {
    "regionflow": ("single", ["regionflow"]),
    "gated regionflow+flow": ("gated", ["regionflow", "flow"]),
    "gated all three": ("gated", ["mesh3d", "regionflow", "flow"]),
    "concat regionflow+flow": ("concat", ["regionflow", "flow"]),
    "gated mesh3d+regionflow": ("gated", ["mesh3d", "regionflow"]),
    "mesh3d": ("single", ["mesh3d"]),
    "flow": ("single", ["flow"]),
    "gated mesh3d+flow": ("gated", ["mesh3d", "flow"]),
    "concat mesh3d+flow": ("concat", ["mesh3d", "flow"]),
}
"""The new stream's runs first (on a busy machine ``--runs`` may stop after them)."""


def demo_crops(out: Path, sequences: int) -> list[np.ndarray]:
    """The 256 px face crops of both views of the demo's first ``sequences`` sequences, made
    as ``extract`` makes them (view split, face box on the first frame, Lanczos)."""
    from mefuse.data.frames import open_frames
    from mefuse.demo.pipeline import DEMO_CROP
    from mefuse.preprocess.crop import crop_square
    from mefuse.preprocess.detect import FaceDetector, find_face_box
    from mefuse.preprocess.views import split_view

    clips = []
    folders = sorted((out / "dataset" / "train").iterdir())[:sequences]
    with FaceDetector() as detector:
        for folder in folders:
            with open_frames(folder) as source:
                frames = list(source.iter_frames())
            for view in ("left", "right"):
                views = [np.ascontiguousarray(split_view(f, view)) for f in frames]
                found = find_face_box(detector, views)
                if found is not None:
                    clips.append(np.stack([crop_square(f, found[0], DEMO_CROP) for f in views]))
    return clips


def extraction_cost(out: Path, sequences: int, rounds: int = 2) -> dict[str, Any]:
    """Milliseconds per frame of each extractor on the same demo crops, the extractors taking
    turns clip by clip (so a shared machine's changing load hits all of them alike), and how
    often ``regionflow`` needed its second flow."""
    from mefuse.features.base import create_extractor

    clips = demo_crops(out, sequences)
    extractors = {name: create_extractor(name) for name in EXTRACTORS}
    for extractor in extractors.values():
        extractor.extract_clip(clips[0][:2])  # imports and graph set-up are not per frame
    seconds = dict.fromkeys(extractors, 0.0)
    for _ in range(rounds):
        for clip in clips:
            for name, extractor in extractors.items():
                started = time.perf_counter()
                extractor.extract_clip(clip)
                seconds[name] += time.perf_counter() - started
    frames = rounds * sum(len(c) for c in clips)
    region = extractors["regionflow"]
    pairs = realigned = 0
    for clip in clips:
        layout = region.layout(clip)
        first = region._grey(clip[0])
        for frame in clip[1:]:
            head = layout.head_motion(region._dis.calc(first, region._grey(frame), None))
            realigned += int(np.abs(head.reshape(-1, 2)[layout.face]).max() > region.realign_px)
            pairs += 1
    return {"clips": len(clips), "frames": frames // rounds, "rounds": rounds,
            "ms_per_frame": {n: round(1000 * v / frames, 1) for n, v in seconds.items()},
            "regionflow_second_flow_fraction": round(realigned / max(pairs, 1), 3)}


def cross_validate(store: Path, seeds: list[int], runs_dir: Path, names: list[str],
                   done: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Each named run; ``done`` gets the rows so far after each, so partial results are kept."""
    from mefuse.data.clips import ClipTable
    from mefuse.demo.pipeline import DEMO_FOLDS
    from mefuse.train.config import CVConfig
    from mefuse.train.cv import run_cv

    table = ClipTable.read(store / "clips.csv")
    rows: dict[str, Any] = {}
    for name in names:
        strategy, modalities = RUNS[name]
        config = CVConfig(modalities=modalities, strategy=strategy, protocol="subject-kfold",
                          folds=DEMO_FOLDS, seeds=seeds)
        result = run_cv(store, table, config)
        result.write(runs_dir / name.replace(" ", "_").replace("+", "-"))
        s = result.summary
        rows[name] = {
            "strategy": strategy, "modalities": modalities, "seeds": seeds,
            "macro_f1_mean": round(s["macro_f1_mean"], 4),
            "macro_f1_std": round(s["macro_f1_std"], 4),
            "uf1_mean": round(s["uf1_mean"], 4), "uar_mean": round(s["uar_mean"], 4),
            "per_class_f1_mean": {k: round(v, 3) for k, v in s["per_class_f1_mean"].items()},
            "gate_mean": {k: round(v, 3) for k, v in s["gate_mean"].items()},
            "runtime_s": round(result.runtime_s, 1),
        }
        print(f"{name}: macro-F1 {s['macro_f1_mean']:.3f}±{s['macro_f1_std']:.3f} "
              f"({result.runtime_s:.0f} s)", flush=True)
        done(rows)
    return rows


def markdown(rows: dict[str, Any], costs: dict[str, Any]) -> str:
    classes = list(next(iter(rows.values()))["per_class_f1_mean"]) if rows else []
    lines = ["demo, subject-disjoint 5-fold, paper configuration (macro-F1: mean ± std over "
             "folds x seeds)", "",
             "| run | seeds | macro-F1 | UF1 | UAR | " + " | ".join(c[:3] for c in classes)
             + " | gate |", "|---|---|---|---|---|" + "---|" * len(classes) + "---|"]
    for name, row in rows.items():
        gate = "/".join(f"{v:.2f}" for v in row["gate_mean"].values()) \
            if len(row["gate_mean"]) > 1 else ""
        seeds = ",".join(map(str, row["seeds"]))
        lines.append(f"| {name} | {seeds} | {row['macro_f1_mean']:.3f}±{row['macro_f1_std']:.3f} | "
                     f"{row['uf1_mean']:.3f} | {row['uar_mean']:.3f} | "
                     + " | ".join(f"{row['per_class_f1_mean'][c]:.2f}" for c in classes)
                     + f" | {gate} |")
    if costs:
        lines += ["", f"extractor cost on {costs['clips']} demo clips ({costs['frames']} "
                  "frames of 256 px crops), taking turns clip by clip:", "",
                  "| extractor | ms per frame |", "|---|---|"]
        lines += [f"| {name} | {ms} |" for name, ms in costs["ms_per_frame"].items()]
        lines += ["", "regionflow computed a second flow (head motion > realign_px) on "
                  f"{100 * costs['regionflow_second_flow_fraction']:.0f} % of the frames."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo_out"),
                        help="the demo's folder (dataset and store are reused when present)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--runs", default=",".join(RUNS),
                        help=f"comma-separated runs, from: {', '.join(RUNS)}")
    parser.add_argument("--cost-sequences", type=int, default=4,
                        help="demo sequences (two clips each) timed per extractor; 0 skips")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    import torch

    torch.set_num_threads(2)
    from mefuse.demo.pipeline import build_demo_store

    started = time.perf_counter()
    store = build_demo_store(args.out, extractors=EXTRACTORS, progress=False)
    build_s = time.perf_counter() - started
    costs = extraction_cost(args.out, args.cost_sequences) if args.cost_sequences else {}
    names = [n.strip() for n in args.runs.split(",") if n.strip()]
    unknown = set(names) - set(RUNS)
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")

    previous: dict[str, Any] = {}
    if (RESULTS / "regionflow.json").is_file():  # rows of other invocations are kept
        previous = json.loads((RESULTS / "regionflow.json").read_text())
        for row in previous.get("runs", {}).values():
            row.setdefault("seeds", previous.get("seeds", []))
    costs = costs or previous.get("extraction_cost", {})

    def done(new_rows: dict[str, Any]) -> None:
        rows = {**previous.get("runs", {}), **new_rows}
        rows = {name: rows[name] for name in RUNS if name in rows}
        write_result("regionflow", {
            "benchmark": "regionflow vs mesh3d and flow on the mefuse demo (real faces, "
                         "synthetic movements), alone and fused; paper configuration, "
                         "subject-kfold 5 folds",
            "store": str(store), "build_or_reuse_s": round(build_s, 1),
            "extraction_cost": costs, "runs": rows,
        })
        (RESULTS / "regionflow.md").write_text(markdown(rows, costs))

    done({})
    cross_validate(store, seeds, args.out / "runs_regionflow", names, done)
    print(f"wrote {RESULTS / 'regionflow.json'}")


if __name__ == "__main__":
    main()
