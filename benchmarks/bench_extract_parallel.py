"""Offline extraction at 256 px: the one-process path against worker processes, same run.

Input: the real-photo clips of ``bench_offline_path.py`` (800 x 800 PNG frames, 20 per clip).
Each round extracts the same clips (``mesh3d`` + ``flow``, 256 px crops) into a fresh store twice,
interleaved so that both sides see the same load on a shared machine:

- ``old``: ``extract_table`` in this process (the path of ``mefuse extract --jobs 1``);
- ``new``: ``extract_parallel`` with ``--jobs`` worker processes (default: every core), the
  processes' start-up included.

Also the decode-only rate (reading every frame, nothing else) with one process and with
``--jobs`` processes: the ceiling that decoding alone sets. Both stores of every round are
checked to be byte-identical.

    python benchmarks/bench_extract_parallel.py   # writes results/extract_parallel.json

Target: new / old >= 1.7 in frames/s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from bench_offline_path import FRAMES_PER_CLIP, HALF, clip_table, make_clips


def _decode(folder: str) -> int:
    from mefuse.data.frames import open_frames

    with open_frames(folder) as source:
        return sum(1 for _ in source.iter_frames())


def _decode_threads_1() -> None:
    import cv2

    cv2.setNumThreads(1)


def decode_rate(folders: list[Path], jobs: int) -> float:
    """Frames per second of decoding alone, in ``jobs`` processes (1: this process)."""
    started = time.perf_counter()
    if jobs == 1:
        frames = sum(_decode(str(f)) for f in folders)
    else:
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_decode_threads_1) as pool:
            frames = sum(pool.map(_decode, [str(f) for f in folders]))
    return frames / (time.perf_counter() - started)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the worker processes are
    joined when a run ends): on a shared machine, CPU per frame and cores kept busy say more
    than wall time, which other people's work stretches."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.name != "extract.json" and not p.name.startswith(".")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=0, help="worker processes (0: every core)")
    options = parser.parse_args()
    from mefuse.extraction.job import ExtractionJob, default_jobs
    from mefuse.extraction.local import extract_table
    from mefuse.extraction.parallel import extract_parallel
    from mefuse.extraction.specs import ExtractorSpec
    from mefuse.features.appearance.flow import FlowExtractor
    from mefuse.features.geometry.mesh3d import Mesh3DExtractor
    from mefuse.preprocess.config import PreprocessConfig

    jobs = options.jobs or default_jobs()
    pre = PreprocessConfig(views="none", crop_size=256)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = make_clips(root / "data", options.clips)
        table = clip_table(folders)
        decode = {"1_process": [], f"{jobs}_processes": []}
        for r in range(options.rounds):
            decode["1_process"].append(decode_rate(folders, 1))
            decode[f"{jobs}_processes"].append(decode_rate(folders, jobs))
            sides = {}
            for side in ("old", "new") if r % 2 == 0 else ("new", "old"):
                store = root / f"store_{side}_{r}"
                cpu = _cpu_seconds()
                if side == "old":
                    extractors = [Mesh3DExtractor(), FlowExtractor()]
                    summary = extract_table(table, store, extractors,
                                            ExtractionJob(pre, progress=False))
                else:
                    summary = extract_parallel(table, store, [ExtractorSpec("mesh3d"),
                                                              ExtractorSpec("flow")],
                                               ExtractionJob(pre, jobs=jobs, progress=False))
                cpu = _cpu_seconds() - cpu
                sides[side] = {"frames": summary.frames, "seconds": round(summary.seconds, 2),
                               "frames_per_s": round(summary.frames / summary.seconds, 1),
                               "cpu_ms_per_frame": round(1000 * cpu / summary.frames, 1),
                               "cores_busy": round(cpu / summary.seconds, 2)}
            same = _files(root / f"store_old_{r}") == _files(root / f"store_new_{r}")
            ratio = sides["new"]["frames_per_s"] / sides["old"]["frames_per_s"]
            rounds.append({**sides, "speedup": round(ratio, 2), "byte_identical": same})
            print(json.dumps(rounds[-1]), flush=True)
    ratios = [r["speedup"] for r in rounds]
    result = {
        "benchmark": "offline extraction at 256 px (mesh3d + flow): one process vs worker "
                     "processes, interleaved rounds",
        "input": f"{options.clips} clips x {FRAMES_PER_CLIP} frames of {HALF}x{HALF} PNG "
                 "(real photo)",
        "jobs": jobs,
        "rounds": rounds,
        "speedup_median": round(statistics.median(ratios), 2),
        "decode_only_frames_per_s": {k: round(statistics.median(v), 1)
                                     for k, v in decode.items()},
        "all_byte_identical": all(r["byte_identical"] for r in rounds),
        "target": {"speedup": 1.7},
        "meets_target": statistics.median(ratios) >= 1.7,
    }
    path = write_result("extract_parallel", result)
    print(json.dumps(result, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
