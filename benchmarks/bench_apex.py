"""Apex-aware motion on the real-face demo, at its default movement amplitude and at half of it.

For each amplitude the demo dataset is generated (real photographs, synthetic action-unit-like
movements with a known apex), the faces are cropped once and every stream is extracted:
``mesh3d``, ``flow``, ``regionflow`` (weight-free, per frame), ``apexflow`` (onset -> apex and
apex -> offset, per region) and ``apeximage`` (the 28x28 onset -> apex image the baselines read).
Then, subject-disjoint 5 folds, seeds 0, 1, 2, the demo's recipe (the paper preset, 60 epochs):

- every per-frame stream alone, with ``uniform`` sampling (the paper's) and ``apex`` sampling;
  ``apexflow`` alone (its two rows are the phases, sampling does not apply);
- the paper's gated fusion and the ``recommended`` preset over fixed pairs
  (``regionflow`` + ``apexflow``, ``mesh3d`` + ``flow``, ``flow`` + ``regionflow``);
- the two baselines (STSTNet and the HTNet-style model) on ``apeximage``;

each with its paired macro-F1 difference from the best single stream of that amplitude and the
95 % interval over test subjects (the best stream is named in the output, it is chosen for the
comparison only, never for a model). Also: the found apex against the generator's true apex
(mean absolute frames, share within 2 frames) and each stream's extraction cost per frame
(CPU, one thread, on the same crops).

    python benchmarks/bench_apex.py [--quick]    # writes results/apex.json and apex.md
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

EXTRACTORS = ("mesh3d", "flow", "regionflow", "apexflow", "apeximage")
PER_FRAME = ("mesh3d", "flow", "regionflow")
PAIRS = (("regionflow", "apexflow"), ("mesh3d", "flow"), ("flow", "regionflow"))
BASELINES = ("ststnet", "htnet")


def build(root: Path, factor: float, sequences: int) -> tuple[Path, Any, dict[str, Any]]:
    """Dataset at ``factor`` times the demo's amplitudes, features of every stream; returns
    the store, its clip table and the apex agreement + per-frame costs."""
    import torch

    from mefuse.data.adapters import clip_table, load_dataset
    from mefuse.demo.faces import DemoFacesSpec, make_demo_faces
    from mefuse.extraction.job import ExtractionJob
    from mefuse.extraction.local import extract_table
    from mefuse.features.base import create_extractor, extract_with_apex
    from mefuse.preprocess.apex import find_apex
    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.store import FeatureStore
    from mefuse.store.quality import apex_agreement, read_quality

    base = DemoFacesSpec()
    spec = DemoFacesSpec(sequences_per_subject=sequences,
                         min_amplitude=base.min_amplitude * factor,
                         max_amplitude=base.max_amplitude * factor)
    labels = make_demo_faces(root / "dataset", spec)
    table = clip_table(load_dataset("4dmr", root / "dataset", labels=labels), ("left", "right"))
    store = root / "store"
    preprocess = PreprocessConfig(views="both", crop_size=256)
    started = time.perf_counter()
    extract_table(table, store, [create_extractor(n) for n in EXTRACTORS],
                  ExtractionJob(preprocess, workers=1, progress=False))
    extract_s = time.perf_counter() - started
    quality = read_quality(store).to_dict("records")
    agreement = apex_agreement(quality)
    # cost per frame: each extractor on the same crops (12 clips), one thread, CPU time
    from mefuse.extraction.prepare import Preparer

    torch.set_num_threads(1)
    preparer = Preparer(preprocess, None)
    crops = []
    for _, rows in list(table.frame.groupby("sequence_id", sort=False))[:6]:
        crops += [c.ready_crops for c in preparer(rows) if c.crops is not None]
    frames = sum(len(c) for c in crops)
    costs: dict[str, float] = {}
    started_cpu = time.process_time()
    apexes = [find_apex(c).index for c in crops]
    costs["find_apex"] = 1000 * (time.process_time() - started_cpu) / frames
    for name in EXTRACTORS:
        extractor = create_extractor(name)
        extract_with_apex(extractor, crops[0], apexes[0])  # warm-up (model load, mesh graph)
        started_cpu = time.process_time()
        for clip, apex in zip(crops, apexes, strict=True):
            extract_with_apex(extractor, clip, apex)
        costs[name] = 1000 * (time.process_time() - started_cpu) / frames
        extractor.close()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    info = {
        "clips": len(table), "subjects": int(table.frame["subject"].nunique()),
        "extract_all_s": round(extract_s, 1),
        "apex": None if agreement is None else {
            "clips": agreement[0], "mae_frames": round(agreement[1], 3),
            "within_2": round(agreement[2], 3)},
        "ms_per_frame_cpu": {k: round(v, 2) for k, v in costs.items()},
        "cost_frames": frames,
    }
    return store, FeatureStore.open(store).clips(hint=False), info


def runs() -> dict[str, dict[str, Any]]:
    """Run name -> configuration overrides (on the paper preset or the recommended one)."""
    out: dict[str, dict[str, Any]] = {}
    for stream in PER_FRAME:
        for sampling in ("uniform", "apex"):
            out[f"{stream} ({sampling})"] = {"modalities": [stream], "strategy": "single",
                                             "model": {"sampling": sampling}}
    out["apexflow"] = {"modalities": ["apexflow"], "strategy": "single"}
    for a, b in PAIRS:
        out[f"gated {a}+{b}"] = {"modalities": [a, b], "strategy": "gated"}
        out[f"recommended {a}+{b}"] = {"modalities": [a, b], "preset": "recommended"}
    for name in BASELINES:
        out[name] = {"modalities": ["apeximage"], "strategy": "single",
                     "model": {"architecture": name}}
    return out


def cross_validate(store: Path, table: Any, seeds: list[int], epochs: int, folds: int
                   ) -> dict[str, Any]:
    from mefuse.train.compare import paired_difference
    from mefuse.train.config import CVConfig, merge
    from mefuse.train.cv import run_cv
    from mefuse.train.presets import load_preset

    recipe = {"protocol": "subject-kfold", "folds": folds, "seeds": seeds,
              "optim": {"epochs": epochs}}
    results, cells = {}, {}
    for name, overrides in runs().items():
        overrides = dict(overrides)
        preset = overrides.pop("preset", "paper")
        config = CVConfig(**merge(merge(load_preset(preset), recipe), overrides))
        started = time.perf_counter()
        result = run_cv(store, table, config)
        results[name] = result
        cells[name] = {"macro_f1": round(result.summary["macro_f1_mean"], 4),
                       "uf1": round(result.summary["uf1_mean"], 4),
                       "seed_std": round(result.summary["macro_f1_seed_std"], 4),
                       "runtime_s": round(time.perf_counter() - started, 1)}
        if preset == "recommended":
            cells[name]["fused_fits"] = sum(f["choice"] == "fused" for f in result.folds)
            cells[name]["fits"] = len(result.folds)
        print(f"  {name}: {cells[name]}", flush=True)
    singles = [n for n in cells if n.endswith("(uniform)") or n.endswith("(apex)")
               or n == "apexflow"]
    best = max(singles, key=lambda n: cells[n]["macro_f1"])
    classes = results[best].classes
    for name, cell in cells.items():
        if name == best:
            continue
        diff = paired_difference(results[name].predictions, results[best].predictions,
                                 classes, names=(name, best), unit="subject")
        cell["minus_best"] = round(diff.difference, 4)
        cell["interval"] = [round(diff.low, 4), round(diff.high, 4)]
    return {"best_single": best, "cells": cells}


def markdown(data: dict[str, Any]) -> str:
    lines = ["# Apex-aware motion on the real-face demo", "",
             f"subject-kfold {data['folds']} folds, seeds {data['seeds']}, {data['epochs']} "
             "epochs, the paper preset's recipe (recommended: its own preset). Macro-F1 mean "
             "over folds and seeds; Δ = run minus the best single stream of that amplitude, "
             "95 % interval over test subjects (paired). Synthetic movements on real faces, not "
             "a micro-expression dataset.", ""]
    for amp in data["amplitudes"]:
        info, cv = amp["data"], amp["cv"]
        apex = info["apex"] or {}
        lines += [f"## amplitude x{amp['factor']:g} ({info['clips']} clips, "
                  f"{info['subjects']} subjects)", "",
                  f"found apex vs true apex: mean absolute error {apex.get('mae_frames')} "
                  f"frames, {100 * apex.get('within_2', 0):.0f} % within 2 frames "
                  f"({apex.get('clips')} clips)", "",
                  "| run | macro-F1 | UF1 | seed std | Δ best single [95% CI] | fused fits |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name, c in cv["cells"].items():
            delta = ("(best single)" if name == cv["best_single"] else
                     f"{c['minus_best']:+.3f} [{c['interval'][0]:+.3f}, "
                     f"{c['interval'][1]:+.3f}]")
            fused = f"{c['fused_fits']}/{c['fits']}" if "fits" in c else ""
            lines.append(f"| {name} | {c['macro_f1']:.3f} | {c['uf1']:.3f} | "
                         f"{c['seed_std']:.3f} | {delta} | {fused} |")
        lines.append("")
    costs = data["amplitudes"][0]["data"]["ms_per_frame_cpu"]
    lines += ["## Extraction cost per frame (CPU ms, one thread, 256 px crops)", "",
              "| step | ms per frame |", "|---|---:|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in costs.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 sequences per subject, 3 folds, one seed, 10 epochs")
    parser.add_argument("--work", help="keep the datasets and stores here (default: a "
                        "temporary folder)")
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    epochs, folds, sequences = (10, 3, 3) if args.quick else (60, 5, 10)
    data: dict[str, Any] = {"seeds": seeds, "epochs": epochs, "folds": folds,
                            "amplitudes": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        for factor in (1.0, 0.5):
            print(f"amplitude x{factor:g}", flush=True)
            store, table, info = build(work / f"amp{factor:g}", factor, sequences)
            print(f"  data: {info}", flush=True)
            cv = cross_validate(store, table, seeds, epochs, folds)
            data["amplitudes"].append({"factor": factor, "data": info, "cv": cv})
    name = "apex_quick" if args.quick else "apex"
    path = write_result(name, data)
    (RESULTS / f"{name}.md").write_text(markdown(data))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
