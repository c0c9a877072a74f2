"""Wall time of the full ``mefuse bench`` grid, of a resumed rerun, and of its report.

Stores:

- ``demo``: the feature-level demo store (80 sequences x 2 views, widths 24 and 40);
- ``paper``: a store shaped like the paper's data (``paper_shaped_spec()``: 128 sequences x 2
  views, 18-60 frames, widths 1536 and 171);
- ``real``: the real-face demo store of ``mefuse demo`` (mesh3d + flow), when one exists
  (``--real-store``, default ``demo_out/store``).

Each store's keys give one grid: each extractor alone (single), their pair under concat, sum,
gated, gated + position and gated + motion: 7 cells. The default recipe (60 epochs, mskf 3 folds)
runs with ``--jobs`` worker processes (default 2) over seeds 0, 1, 2 (``--seeds`` reduces them);
on 2 cores the whole script takes about six minutes. Each command runs in a child process, as a
user would run it.

    python benchmarks/bench_grid.py            # writes benchmarks/results/grid.json and grid.md
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


def _mefuse(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mefuse.cli.main", *args], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_store(name: str, store: Path, work: Path, seeds: str, jobs: int) -> dict[str, Any]:
    """Full grid, a rerun that finds every cell done, and the report of the bench folder."""
    out = work / f"bench-{name}"
    args = ["bench", "-s", str(store), "--seeds", seeds, "-j", str(jobs), "-o", str(out), "-q"]
    wall = _mefuse(*args)
    rerun = _mefuse(*args)
    report = _mefuse("report", str(out), "--detail", "3")
    plan = json.loads((out / "bench.json").read_text())
    log = [json.loads(line) for line in (out / "bench.log").read_text().splitlines()]
    cells = [c["cell_id"] for c in plan["cells"]]
    runtimes = {e["cell_id"]: e["runtime_s"] for e in log if e["event"] == "computed"}
    import pandas as pd

    table = pd.read_csv(out / "cells.csv")
    best = table.sort_values("macro_f1_mean", ascending=False).iloc[0]
    row: dict[str, Any] = {
        "store": name, "cells": len(cells), "seeds": seeds, "jobs": jobs,
        "grid_wall_s": round(wall, 1), "rerun_all_done_s": round(rerun, 1),
        "report_s": round(report, 1),
        "cell_s_median": round(float(pd.Series(runtimes).median()), 1),
        "cell_s_max": round(max(runtimes.values()), 1),
        "computed_on_rerun": sum(e["event"] == "computed" for e in log) - len(cells),
        "best_cell": f"{best['feature_set']} [{best['variant']}]",
        "best_macro_f1": round(float(best["macro_f1_mean"]), 4),
    }
    from mefuse.report.browser import dump_dom, find_chromium

    if find_chromium():
        dom = dump_dom(out / "report" / "report.html")
        row["chromium_plots_loaded"] = dom.split('data-plots-loaded="')[1].split('"')[0]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--jobs", type=int, default=2, help="bench worker processes")
    parser.add_argument("--real-store", type=Path, default=Path("demo_out/store"))
    parser.add_argument("--skip-paper", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--name", default="grid", help="results/<name>.json and .md")
    options = parser.parse_args()
    from mefuse.demo.features import DemoSpec, make_demo_store, paper_shaped_spec

    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stores = {}
        if not options.skip_demo:
            stores["demo"] = (DemoSpec(), "80 sequences x 2 views, widths 24 + 40")
        if not options.skip_paper:
            stores["paper"] = (paper_shaped_spec(), "128 sequences x 2 views, widths 171 + 1536")
        for name, (spec, shape) in stores.items():
            make_demo_store(work / name, spec, seed=0)
            row = bench_store(name, work / name, work, options.seeds, options.jobs)
            rows.append({**row, "shape": shape})
            print(json.dumps(rows[-1]), flush=True)
        if (options.real_store / "clips.csv").is_file():
            row = bench_store("real", options.real_store, work, options.seeds, options.jobs)
            rows.append({**row, "shape": "real-face demo (mefuse demo): mesh3d + flow"})
            print(json.dumps(rows[-1]), flush=True)
    data = {"benchmark": "mefuse bench: full grid (alone, pair x 5 strategies), default recipe "
                         "(60 epochs, mskf 3 folds)",
            "settings": {"seeds": options.seeds, "jobs": options.jobs},
            "total_s": round(time.perf_counter() - started, 1), "rows": rows}
    path = write_result(options.name, data)
    lines = ["# mefuse bench: wall time of the full grid", "",
             f"Default recipe (60 epochs, mskf 3 folds), seeds {options.seeds}, "
             f"--jobs {options.jobs}. Written by `python benchmarks/bench_grid.py`.", "",
             "| Store | Shape | Cells | Grid wall (s) | Rerun, all done (s) | Report (s) | "
             "Cell median / max (s) | Best cell | Best macro-F1 | Chromium plots |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['store']} | {r['shape']} | {r['cells']} | {r['grid_wall_s']} | "
                     f"{r['rerun_all_done_s']} | {r['report_s']} | {r['cell_s_median']} / "
                     f"{r['cell_s_max']} | {r['best_cell']} | {r['best_macro_f1']} | "
                     f"{r.get('chromium_plots_loaded', 'n/a')} |")
    (RESULTS / f"{options.name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {path} and {RESULTS / f'{options.name}.md'}")


if __name__ == "__main__":
    main()
