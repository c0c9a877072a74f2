"""Wall time and peak memory of ``mefuse cv`` on a store shaped like the MEGC 2019 composite.

The store is generated (no real data): 442 clips of 68 subjects in three dataset parts, as the
composite has them (SMIC 164 clips / 16 subjects, CASME II 145 / 24, SAMM 133 / 28), one view
each, the composite's three classes with its imbalance (Negative 250, Positive 109, Surprise 83;
per part as MEGC 2019 lists them), ids prefixed by their part and a ``dataset`` column, as
``mefuse extract --composite megc2019`` writes them. Two streams of the paper's widths: ``signal``
(171, FaceVerse-shaped: a class direction that rises and falls over the clip, plus a subject
offset and a per-dataset offset) and ``noise`` (1536, RADIO-shaped: subject and dataset
offsets only). 18 to 60 frames per clip.

Each variant runs ``mefuse cv`` once in a child process (its own peak resident memory, from
``wait4``): leave-one-subject-out over the 68 subjects, batched engine, the per-part table
(UF1/UAR of SMIC, CASME II, SAMM and the composite) read back from its ``results.json``.

    python benchmarks/bench_composite.py            # full: 68 folds, 60 epochs, seed 0
    python benchmarks/bench_composite.py --quick    # smoke: 4 epochs, 2 subjects per part
    python benchmarks/bench_composite.py --seeds 0,1,2   # the presets' three seeds

Writes ``benchmarks/results/composite.json`` (``composite_quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

CLASSES = ("Negative", "Positive", "Surprise")
PARTS: dict[str, dict[str, Any]] = {
    # part: subjects and clips per class (MEGC 2019 composite, Negative / Positive / Surprise)
    "smic": {"subjects": 16, "classes": (70, 51, 43)},
    "casme2": {"subjects": 24, "classes": (88, 32, 25)},
    "samm": {"subjects": 28, "classes": (92, 26, 15)},
}
WIDTHS = {"signal": 171, "noise": 1536}

VARIANTS: dict[str, list[str]] = {
    "paper": ["--preset", "paper"],
    "recommended": ["--preset", "recommended"],
    "paper_audit": ["--preset", "paper", "--audit"],
}
"""Each measured variant: its name and the flags it adds to the common ``mefuse cv`` line."""


def make_composite_store(root: Path, *, seed: int = 0, subjects_per_part: int | None = None
                         ) -> dict[str, Any]:
    """Write the generated composite store under ``root``; return its shape.

    ``subjects_per_part`` keeps only the first subjects of each part (``--quick``)."""
    import pandas as pd

    from mefuse.data.clips import ClipTable
    from mefuse.store import FeatureStore
    from mefuse.store.task import write_task_record

    rng = np.random.default_rng(seed)
    store = FeatureStore.create(root)
    directions = rng.normal(size=(len(CLASSES), WIDTHS["signal"]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    rows: list[dict[str, Any]] = []
    params = {"seed": seed, "parts": {k: v["classes"] for k, v in PARTS.items()}}
    with store.writer("signal", {"extractor": "composite-signal", "params": params}) as signal, \
         store.writer("noise", {"extractor": "composite-noise", "params": params}) as noise:
        for part, spec in PARTS.items():
            shift = {k: rng.normal(scale=0.5, size=w) for k, w in WIDTHS.items()}
            labels = np.repeat(np.arange(len(CLASSES)), spec["classes"])
            rng.shuffle(labels)
            people = np.arange(len(labels)) % spec["subjects"]
            offsets = {k: rng.normal(scale=0.3 if k == "signal" else 1.0,
                                     size=(spec["subjects"], w)) for k, w in WIDTHS.items()}
            for index, (label, person) in enumerate(zip(labels, people, strict=True)):
                if subjects_per_part is not None and person >= subjects_per_part:
                    continue
                length = int(rng.integers(18, 61))
                bump = np.sin(np.linspace(0, np.pi, length)) * rng.uniform(0.6, 1.2)
                clip = f"{part}_s{person:02d}_{index:03d}"
                base = {k: shift[k] + offsets[k][person] for k in WIDTHS}
                signal.write(clip, (base["signal"] + 1.2 * bump[:, None] * directions[label]
                                    + rng.normal(scale=0.8, size=(length, WIDTHS["signal"]))
                                    ).astype(np.float32))
                noise.write(clip, (base["noise"] + rng.normal(
                    scale=0.3, size=(length, WIDTHS["noise"]))).astype(np.float32))
                rows.append({"clip_id": clip, "sequence_id": clip, "view": "full",
                             "subject": f"{part}_s{person:02d}", "dataset": part,
                             **{c: int(k == label) for k, c in enumerate(CLASSES)}})
    table = ClipTable.from_frame(pd.DataFrame(rows), CLASSES)
    table.write(store.clips_path)
    write_task_record(root, CLASSES, "singlelabel")
    frame = table.frame
    return {"clips": len(frame), "subjects": int(frame["subject"].nunique()),
            "parts": {p: {"clips": int((frame["dataset"] == p).sum()),
                          "subjects": int(frame.loc[frame["dataset"] == p, "subject"].nunique()),
                          **{c: int(frame.loc[frame["dataset"] == p, c].sum()) for c in CLASSES}}
                      for p in PARTS},
            "frames": "18-60", "widths": WIDTHS}


def run_cv(args: list[str]) -> tuple[float, float, float]:
    """``mefuse ARGS`` in a child process: wall time (s), CPU time (s) and peak RSS (MiB)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "mefuse.cli.main", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    assert child.stdout is not None and child.stderr is not None
    printed, errors = child.stdout.read(), child.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"mefuse {' '.join(args)} failed:\n{errors}")
    print(printed, flush=True)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 subjects per part, 4 epochs")
    parser.add_argument("--seeds", default="0", help="seeds of each cv run (default 0)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (60; 4 with --quick)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"variants to run, of {', '.join(VARIANTS)}")
    options = parser.parse_args()
    epochs = options.epochs or (4 if options.quick else 60)
    names = [v.strip() for v in options.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(VARIANTS)}")
    rows: dict[str, Any] = _earlier_rows(options, epochs)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        t0 = time.perf_counter()
        shape = make_composite_store(store, subjects_per_part=2 if options.quick else None)
        build_s = time.perf_counter() - t0
        print(f"store: {shape['clips']} clips, {shape['subjects']} subjects "
              f"({build_s:.1f} s)", flush=True)
        for name in names:
            out = Path(tmp) / name
            args = ["cv", "-s", str(store), "-m", "signal", "-m", "noise", *VARIANTS[name],
                    "--protocol", "loso", "--seeds", options.seeds, "--epochs", str(epochs),
                    "--engine", "batched", "-q", "-o", str(out)]
            wall, cpu, peak = run_cv(args)
            results = json.loads((out / "results.json").read_text())
            summary = results["summary"]
            rows[name] = {
                "flags": VARIANTS[name], "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                "peak_rss_mib": round(peak, 1), "in_process_runtime_s": results["runtime_s"],
                "folds": len({f["fold"] for f in results["folds"]}),
                "fits": summary["n_runs"],
                "uf1": round(summary["uf1_mean"], 4), "uar": round(summary["uar_mean"], 4),
                "by_dataset": {p: {k: round(v, 4) if isinstance(v, float) else v
                                   for k, v in s.items()}
                               for p, s in summary.get("by_dataset", {}).items()},
            }
            if isinstance(results.get("audit"), dict):  # the audit's extra time, its score
                rows[name]["audit_s"] = results["audit"].get("runtime_s")
                rows[name]["leaky_uf1"] = round(results["audit"]["leaky"]["uf1"], 4)
            print(f"{name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {peak:.0f} MiB peak", flush=True)
            _write(options, epochs, shape, build_s, started, rows)  # each variant as it ends


def _earlier_rows(options: argparse.Namespace, epochs: int) -> dict[str, Any]:
    """Rows of an earlier run with the same settings, so that variants measured in separate
    runs (``--variants paper_audit`` after the others) end in one result file."""
    path = RESULTS / ("composite_quick.json" if options.quick else "composite.json")
    if not path.exists():
        return {}
    earlier = json.loads(path.read_text())
    settings = earlier.get("settings", {})
    if settings.get("epochs") != epochs or settings.get("seeds") != options.seeds:
        return {}
    return dict(earlier.get("rows", {}))


def _write(options: argparse.Namespace, epochs: int, shape: dict[str, Any], build_s: float,
           started: float, rows: dict[str, Any]) -> None:
    data = {
        "benchmark": "mefuse cv on a generated MEGC 2019-shaped composite store, LOSO, batched",
        "store": shape, "store_build_s": round(build_s, 2),
        "settings": {"quick": options.quick, "seeds": options.seeds, "epochs": epochs,
                     "protocol": "loso", "engine": "batched",
                     "load_average_at_end": list(os.getloadavg())},
        "total_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }
    path = write_result("composite_quick" if options.quick else "composite", data)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
