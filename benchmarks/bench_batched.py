"""Fold-batched training vs one fit at a time, side by side in one run.

On the paper-shaped store (``paper_shaped_spec()``: 16 subjects, 128 sequences x 2 views, 18-60
frames, widths 1536 and 171), gated fusion, the default recipe (60 epochs):

- ``cv``: leave-one-subject-out (16 fits) and mskf 3 folds x 3 seeds (9 fits), each with
  ``--engine loop`` and ``--engine batched``; wall time, peak resident memory of the command
  (its own, from ``wait4``), and whether both engines give the same numbers;
- ``grid``: the paper's grid shape (``mefuse bench``: 7 cells, LOSO, seeds 0,1,2, ``--jobs 2``)
  with each engine;
- ``--baseline REV``: LOSO with both engines of git revision REV too (its ``src`` exported to a
  temporary folder and put first on the child's ``PYTHONPATH``), interleaved with this tree's,
  so that "before" and "after" a change are measured in the same run on the same load.

Runs of the two engines are interleaved (loop, batched, batched, loop, ...) and the ratio is
taken per pair, so that load from other users of the machine hits both about equally. Every
command runs in a child process, as a user would run it.

    python benchmarks/bench_batched.py            # full: writes benchmarks/results/batched.json
    python benchmarks/bench_batched.py --quick    # grid with seed 0 and 20 epochs, 1 repeat
    python benchmarks/bench_batched.py --cases loso --skip-grid --baseline afa17d1  # writes
        # benchmarks/results/batched_before_after.json

Targets on 2 cores: LOSO batched >= 4x faster than the loop; peak memory < 2 GiB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

ENGINES = ("loop", "batched")


def _run(args: list[str], source: Path | None = None) -> tuple[float, float, float]:
    """Run ``mefuse ARGS`` in a child process (with the package from ``source``, a ``src``
    folder, when given); its wall time (s), CPU time (s, its own and its children's: less
    sensitive than wall time to other users of the machine) and peak RSS (MiB)."""
    env = None
    if source is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(source), *filter(None, [os.environ.get("PYTHONPATH")])])}
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "mefuse.cli.main", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"mefuse {' '.join(args)} failed: {child.stderr.read().decode()}")
    child.stderr.close()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _export_source(revision: str, into: Path) -> Path:
    """The ``src`` folder of git revision ``revision`` of this repository, exported (not checked
    out: the working tree is left alone) under ``into``."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "-C", str(repo), "archive", revision, "src"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _before_after(label: str, make_args, baseline: Path, repeats: int) -> dict[str, Any]:
    """Both engines of the baseline source and of this tree, interleaved (the order turns
    around on every repeat)."""
    runs = [("before", "loop"), ("before", "batched"), ("after", "batched"), ("after", "loop")]
    walls: dict[str, list[float]] = {f"{w}_{e}": [] for w, e in runs}
    for repeat in range(repeats):
        for which, engine in runs if repeat % 2 == 0 else runs[::-1]:
            wall, cpu, peak = _run(make_args(engine, f"{which}-{repeat}"),
                                   baseline if which == "before" else None)
            walls[f"{which}_{engine}"].append(round(wall, 2))
            print(f"{label} {which} {engine}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.0f} MiB",
                  flush=True)
    median = {k: statistics.median(v) for k, v in walls.items()}
    return {
        "wall_s": walls,
        "after_batched_vs_before_loop": round(median["before_loop"] / median["after_batched"], 2),
        "after_batched_vs_before_batched": round(
            median["before_batched"] / median["after_batched"], 2),
        "after_loop_vs_before_loop": round(median["before_loop"] / median["after_loop"], 2),
        "after_batched_vs_after_loop": round(median["after_loop"] / median["after_batched"], 2),
    }


def _interleaved(label: str, make_args, repeats: int) -> dict[str, Any]:
    """``repeats`` pairs of runs, alternating which engine goes first."""
    walls: dict[str, list[float]] = {e: [] for e in ENGINES}
    cpus: dict[str, list[float]] = {e: [] for e in ENGINES}
    rss: dict[str, float] = dict.fromkeys(ENGINES, 0.0)
    ratios, cpu_ratios = [], []
    for repeat in range(repeats):
        order = ENGINES if repeat % 2 == 0 else ENGINES[::-1]
        pair, cpu_pair = {}, {}
        for engine in order:
            wall, cpu, peak = _run(make_args(engine, repeat))
            walls[engine].append(wall)
            cpus[engine].append(cpu)
            rss[engine] = max(rss[engine], peak)
            pair[engine], cpu_pair[engine] = wall, cpu
            print(f"{label} {engine}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.0f} MiB",
                  flush=True)
        ratios.append(pair["loop"] / pair["batched"])
        cpu_ratios.append(cpu_pair["loop"] / cpu_pair["batched"])
    return {
        "loop_wall_s": [round(w, 2) for w in walls["loop"]],
        "batched_wall_s": [round(w, 2) for w in walls["batched"]],
        "speedup_per_pair": [round(r, 2) for r in ratios],
        "speedup_median": round(statistics.median(ratios), 2),
        "loop_cpu_s": [round(c, 2) for c in cpus["loop"]],
        "batched_cpu_s": [round(c, 2) for c in cpus["batched"]],
        "cpu_time_ratio_median": round(statistics.median(cpu_ratios), 2),
        "loop_peak_rss_mib": round(rss["loop"], 1),
        "batched_peak_rss_mib": round(rss["batched"], 1),
    }


def _same(first: Path, second: Path) -> dict[str, Any]:
    """How far apart two cv runs' numbers are, and whether their decisions agree."""
    import pandas as pd

    a, b = (json.loads((p / "results.json").read_text()) for p in (first, second))
    fold_diff = max(abs(x["macro_f1"] - y["macro_f1"]) for x, y in zip(
        a["folds"], b["folds"], strict=True))
    pa, pb = (pd.read_csv(p / "predictions.csv") for p in (first, second))
    pred = [c for c in pa.columns if c.startswith("pred_")]
    prob = [c for c in pa.columns if c.startswith("p_")]
    return {
        "macro_f1_mean": [round(a["summary"]["macro_f1_mean"], 6),
                          round(b["summary"]["macro_f1_mean"], 6)],
        "max_fold_macro_f1_diff": fold_diff,
        "decisions_identical": bool((pa[pred].to_numpy() == pb[pred].to_numpy()).all()),
        "max_probability_diff": float(abs(pa[prob].to_numpy() - pb[prob].to_numpy()).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="grid with seed 0 and 20 epochs; one repeat of everything")
    parser.add_argument("--repeats", type=int, default=None, help="pairs per cv case (2)")
    parser.add_argument("--epochs", type=int, default=60,
                        help="epochs of the cv cases (fewer on a busy machine)")
    parser.add_argument("--cases", default="loso,mskf",
                        help="cv cases to run, in this order: loso, mskf")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--grid-epochs", type=int, default=None,
                        help="epochs of the grid (60; 20 with --quick)")
    parser.add_argument("--grid-seeds", default=None, help="seeds of the grid (0,1,2; 0 with "
                        "--quick)")
    parser.add_argument("--jobs", type=int, default=2, help="bench worker processes")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="also run LOSO with git revision REV's package (before vs after)")
    options = parser.parse_args()
    repeats = options.repeats or (1 if options.quick else 2)
    grid_seeds, grid_epochs = ("0", 20) if options.quick else ("0,1,2", 60)
    grid_seeds = options.grid_seeds or grid_seeds
    grid_epochs = options.grid_epochs or grid_epochs
    from mefuse.demo.features import make_demo_store, paper_shaped_spec

    spec = paper_shaped_spec()
    if spec.subjects != 16:
        from dataclasses import replace

        spec = replace(spec, subjects=16, sequences_per_subject=128 // 16)
    rows: dict[str, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store = work / "store"
        make_demo_store(store, spec, seed=0)
        known = {
            "loso": ("loso_16_subjects_1_seed", ["--protocol", "loso", "--seeds", "0"]),
            "mskf": ("mskf_3_folds_3_seeds",
                     ["--protocol", "mskf", "--folds", "3", "--seeds", "0,1,2"]),
        }
        cases = dict(known[c.strip()] for c in options.cases.split(",") if c.strip())
        for name, extra in cases.items():
            def cv_args(engine: str, repeat: int, name: str = name,
                        extra: list[str] = extra) -> list[str]:
                return ["cv", "-s", str(store), "-m", "signal", "-m", "noise", "--strategy",
                        "gated", *extra, "--epochs", str(options.epochs), "--engine", engine,
                        "-q",
                        "-o", str(work / f"{name}-{engine}-{repeat}")]

            rows[name] = _interleaved(name, cv_args, repeats)
            rows[name]["agreement"] = _same(work / f"{name}-loop-0", work / f"{name}-batched-0")
            print(json.dumps({name: rows[name]}), flush=True)
            _write(options, spec, rows, repeats, started)  # a long run keeps what it measured
        if options.baseline:
            baseline = _export_source(options.baseline, work / "baseline")

            def loso_args(engine: str, tag: str) -> list[str]:
                return ["cv", "-s", str(store), "-m", "signal", "-m", "noise", "--strategy",
                        "gated", "--protocol", "loso", "--seeds", "0", "--epochs",
                        str(options.epochs), "--engine", engine, "-q",
                        "-o", str(work / f"baseline-{engine}-{tag}")]

            rows["loso_before_after"] = _before_after("loso", loso_args, baseline, repeats)
            rows["loso_before_after"]["baseline"] = options.baseline
            rows["loso_before_after"]["agreement"] = _same(
                work / "baseline-batched-before-0", work / "baseline-batched-after-0")
            print(json.dumps({"loso_before_after": rows["loso_before_after"]}), flush=True)
            _write(options, spec, rows, repeats, started)
        if not options.skip_grid:
            def grid_args(engine: str, repeat: int) -> list[str]:
                return ["bench", "-s", str(store), "--protocol", "loso", "--seeds", grid_seeds,
                        "--epochs", str(grid_epochs), "-j", str(options.jobs), "--engine",
                        engine, "-q", "-o", str(work / f"grid-{engine}-{repeat}")]

            rows["grid_7_cells_loso"] = _interleaved("grid", grid_args, 1)
            rows["grid_7_cells_loso"].update({"seeds": grid_seeds, "epochs": grid_epochs,
                                              "jobs": options.jobs})
            print(json.dumps({"grid": rows["grid_7_cells_loso"]}), flush=True)
    path = _write(options, spec, rows, repeats, started)
    print(f"wrote {path}")


def _write(options: argparse.Namespace, spec: Any, rows: dict[str, Any], repeats: int,
           started: float) -> Path:
    peak = max((max(r["loop_peak_rss_mib"], r["batched_peak_rss_mib"]) for r in rows.values()
                if "loop_peak_rss_mib" in r), default=0.0)
    loso = rows.get("loso_16_subjects_1_seed")
    data = {
        "benchmark": "fold-batched vs one-at-a-time training (mefuse cv / bench --engine), "
                     "gated, paper-shaped store",
        "store": {"subjects": spec.subjects, "sequences": spec.subjects
                  * spec.sequences_per_subject, "views": 2, "frames": "18-60",
                  "widths": {"noise": spec.noise_dim, "signal": spec.signal_dim}},
        "settings": {"quick": options.quick, "repeats": repeats, "cv_epochs": options.epochs,
                     "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                     "load_average_at_end": os.getloadavg()},
        "total_s": round(time.perf_counter() - started, 1),
        "rows": rows,
        "peak_rss_mib": peak,
        "targets": {"loso_speedup": 4.0, "peak_rss_mib": 2048},
        "meets_targets": None if loso is None else (loso["speedup_median"] >= 4.0
                                                    and peak < 2048),
    }
    # a before/after run keeps its own file, so it does not replace the engine comparison
    return write_result("batched_before_after" if options.baseline else "batched", data)


if __name__ == "__main__":
    main()
