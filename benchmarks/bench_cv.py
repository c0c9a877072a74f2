"""Wall time and peak memory of ``mefuse cv`` on a store shaped like the paper's data.

128 sequences x 2 views, 18 to 60 frames, widths 1536 (appearance) and 171 (FaceVerse); gated
fusion, 3 folds (mskf), one seed, the default recipe (60 epochs). The command runs in a child
process so that its peak resident memory is measured alone.

    python benchmarks/bench_cv.py          # writes benchmarks/results/cv.json

Targets on a 2-core CPU: under 30 s wall time and under 1 GiB peak memory.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result


def main() -> None:
    from mefuse.demo.features import make_demo_store, paper_shaped_spec

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "store"
        t0 = time.perf_counter()
        table = make_demo_store(store, paper_shaped_spec(), seed=0)
        make_s = time.perf_counter() - t0
        command = [sys.executable, "-m", "mefuse.cli.main", "cv", "-s", str(store),
                   "-m", "signal", "-m", "noise", "--strategy", "gated", "--protocol", "mskf",
                   "--folds", "3", "--seeds", "0", "-o", str(Path(tmp) / "run"), "-q"]
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        import json

        results = json.loads((Path(tmp) / "run" / "results.json").read_text())
    data = {
        "benchmark": "mefuse cv, gated, mskf 3 folds, 1 seed, 60 epochs",
        "store": {"sequences": 128, "views": 2, "clips": len(table), "frames": "18-60",
                  "widths": {"noise (appearance-shaped)": 1536, "signal (FaceVerse-shaped)": 171}},
        "store_build_s": round(make_s, 2),
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "in_process_runtime_s": results["runtime_s"],
        "macro_f1_mean": round(results["summary"]["macro_f1_mean"], 4),
        "targets": {"wall_s": 30, "peak_rss_mib": 1024},
    }
    data["meets_targets"] = data["wall_s"] < 30 and data["peak_rss_mib"] < 1024
    path = write_result("cv", data)
    print(f"wall {wall:.1f} s, peak RSS {data['peak_rss_mib']} MiB -> {path}")


if __name__ == "__main__":
    main()
