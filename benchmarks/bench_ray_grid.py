"""The bench grid on a local two-node Ray cluster against ``--jobs 2`` on this machine.

Starts a Ray head and a second worker node on 127.0.0.1 (one CPU each, as ``tests/test_ray.py``
does), then runs the same 7-cell grid (each extractor of the demo store alone, their pair under
concat, sum, gated, gated + position, gated + motion; default recipe, one seed) with
``mefuse bench --jobs 2`` and with ``mefuse bench --executor ray --address ...``, alternating
the two sides round by round into fresh bench folders, so that both see the same load on a
shared machine. The cluster's start-up is reported apart (paid once per allocation). Ray is
always stopped at the end.

    python benchmarks/bench_ray_grid.py        # writes benchmarks/results/ray_grid.json

Target: Ray's wall time within 15 % of ``--jobs 2``.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

RAY = str(Path(sys.executable).with_name("ray"))
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=100000000",
        "--disable-usage-stats"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bench(store: Path, out: Path, seeds: str, extra: list[str]) -> float:
    """Wall time of one ``mefuse bench`` command, start-up included, as a user sees it."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mefuse.cli.main", "bench", "-s", str(store),
                    "--seeds", seeds, "-o", str(out), "-q", *extra], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--epochs", type=int, default=0, help="0: the default recipe's 60")
    options = parser.parse_args()
    from mefuse.demo.features import DemoSpec, make_demo_store

    address = f"127.0.0.1:{_free_port()}"
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_demo_store(work / "store", DemoSpec(), seed=0)
        try:
            started = time.perf_counter()
            subprocess.run([RAY, "start", "--head", f"--port={address.split(':')[1]}",
                            "--include-dashboard=false", *NODE], check=True,
                           capture_output=True)
            subprocess.run([RAY, "start", f"--address={address}", *NODE], check=True,
                           capture_output=True)
            cluster_start = time.perf_counter() - started
            for r in range(options.rounds):
                sides = {}
                for side in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                    extra = (["--jobs", "2"] if side == "local"
                             else ["--executor", "ray", "--address", address])
                    extra += ["--epochs", str(options.epochs)] if options.epochs else []
                    sides[side] = round(_bench(work / "store", work / f"{side}{r}",
                                               options.seeds, extra), 1)
                predictions = [{c.name: (c / "predictions.csv").read_bytes()
                                for c in (work / f"{s}{r}" / "cells").iterdir()}
                               for s in ("local", "ray")]
                rounds.append({"local_jobs2_s": sides["local"], "ray_2_nodes_s": sides["ray"],
                               "overhead": round(sides["ray"] / sides["local"] - 1, 3),
                               "same_predictions": predictions[0] == predictions[1]})
                print(json.dumps(rounds[-1]), flush=True)
        finally:
            subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
    overhead = statistics.median(r["overhead"] for r in rounds)
    result = {
        "benchmark": "mefuse bench, 7-cell grid of the demo store (--epochs as given), local "
                     "--jobs 2 vs --executor ray on a local 2-node cluster (1 CPU each), "
                     "interleaved rounds",
        "seeds": options.seeds,
        "epochs": options.epochs or 60,
        "cluster_start_s": round(cluster_start, 1),
        "rounds": rounds,
        "overhead_median": round(overhead, 3),
        "target": {"overhead": 0.15},
        "meets_target": overhead <= 0.15,
    }
    path = write_result("ray_grid", result)
    print(json.dumps(result, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
