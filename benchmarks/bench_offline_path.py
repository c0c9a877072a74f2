"""Frames per second of the offline path: read + crop + resize + ``mesh3d`` + ``flow``.

Measures, on real-photo frames written to disk (half-frames of 800 x 800 px, PNG):

- each stage alone (decode, crop + Lanczos resize, mesh3d, flow), in ms per frame, at 1024 px
  and at 256 px crops;
- end to end through ``extract_table`` (the code behind ``mefuse extract``), frames/s;
- peak memory of a whole extraction run with N and with 10 N clips (each in a fresh process),
  which must stay flat: frames are read lazily and only a few clips are in flight at once.

    python benchmarks/bench_offline_path.py     # writes benchmarks/results/offline_path.json

Target: >= 25 frames/s end to end at 256 px on 2 cores; peak memory within 10 % at 10x clips.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

FRAMES_PER_CLIP = 20
HALF = 800


def make_clips(root: Path, count: int) -> list[Path]:
    from skimage import data

    face = cv2.resize(data.astronaut(), (HALF, HALF), interpolation=cv2.INTER_CUBIC)
    folders = []
    for c in range(count):
        folder = root / f"clip{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for t in range(FRAMES_PER_CLIP):
            matrix = cv2.getRotationMatrix2D((HALF / 2, HALF / 2), 0.2 * t, 1.0)
            matrix[0, 2] += 0.5 * t + c % 3
            frame = cv2.warpAffine(face, matrix, (HALF, HALF), borderMode=cv2.BORDER_REFLECT)
            cv2.imwrite(str(folder / f"{t}.png"), frame[:, :, ::-1],
                        [cv2.IMWRITE_PNG_COMPRESSION, 1])
        folders.append(folder)
    return folders


def clip_table(folders: list[Path]):
    import pandas as pd

    from mefuse.data.clips import ClipTable

    rows = [{"clip_id": f.name, "sequence_id": f.name, "view": "full", "subject": "s",
             "source": str(f), "Negative": 0, "Positive": 0, "Repression": 0, "Surprise": 0,
             "Others": 1} for f in folders]
    return ClipTable.from_frame(pd.DataFrame(rows))


def stage_times(folder: Path, crop: int) -> dict[str, float]:
    from mefuse.data.frames import open_frames
    from mefuse.features.appearance.flow import FlowExtractor
    from mefuse.features.geometry.mesh3d import Mesh3DExtractor
    from mefuse.preprocess.crop import crop_square
    from mefuse.preprocess.detect import FaceDetector, find_face_box

    t0 = time.perf_counter()
    with open_frames(folder) as source:
        frames = list(source.iter_frames())
    decode = time.perf_counter() - t0
    with FaceDetector() as detector:
        t0 = time.perf_counter()
        box, _ = find_face_box(detector, frames)
        detect = time.perf_counter() - t0
    t0 = time.perf_counter()
    crops = np.stack([crop_square(f, box, crop) for f in frames])
    cropping = time.perf_counter() - t0
    timings = {}
    for name, extractor in (("mesh3d", Mesh3DExtractor()), ("flow", FlowExtractor())):
        t0 = time.perf_counter()
        extractor.extract_clip(crops)
        timings[name] = time.perf_counter() - t0
    n = len(frames)
    return {"decode_ms_per_frame": 1000 * decode / n, "detect_ms_per_clip": 1000 * detect,
            "crop_resize_ms_per_frame": 1000 * cropping / n,
            **{f"{k}_ms_per_frame": 1000 * v / n for k, v in timings.items()}}


def end_to_end(folders: list[Path], crop: int, store: Path, workers: int) -> dict[str, float]:
    from mefuse.extraction.job import ExtractionJob
    from mefuse.extraction.local import extract_table
    from mefuse.features.appearance.flow import FlowExtractor
    from mefuse.features.geometry.mesh3d import Mesh3DExtractor
    from mefuse.preprocess.config import PreprocessConfig

    job = ExtractionJob(PreprocessConfig(views="none", crop_size=crop), workers=workers,
                        progress=False)
    summary = extract_table(clip_table(folders), store, [Mesh3DExtractor(), FlowExtractor()], job)
    return {"frames": summary.frames, "seconds": round(summary.seconds, 2),
            "frames_per_s": round(summary.frames / summary.seconds, 1),
            "failures": len(summary.failures)}


MEMORY_CHILD = """
import json, resource, sys
from pathlib import Path
sys.path.insert(0, {bench!r})
from bench_offline_path import clip_table
from mefuse.features.appearance.flow import FlowExtractor
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.local import extract_table
from mefuse.features.geometry.mesh3d import Mesh3DExtractor
from mefuse.preprocess.config import PreprocessConfig
folders = sorted(Path(sys.argv[1]).glob("clip*"))[: int(sys.argv[2])]
extract_table(clip_table(folders), sys.argv[3], [Mesh3DExtractor(), FlowExtractor()],
              ExtractionJob(PreprocessConfig(views="none", crop_size=256), workers=1,
                            progress=False))
print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
"""


def peak_memory_mib(data: Path, clips: int, store: Path) -> float:
    code = MEMORY_CHILD.format(bench=str(Path(__file__).resolve().parent))
    out = subprocess.run([sys.executable, "-c", code, str(data), str(clips), str(store)],
                         check=True, capture_output=True, text=True).stdout
    return round(int(out.strip().splitlines()[-1]) / 1024, 1)


def main() -> None:
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = make_clips(root / "data", 40)
        stages = {f"{crop}px": {k: round(v, 2) for k, v in stage_times(folders[0], crop).items()}
                  for crop in (1024, 256)}
        e2e = {f"{crop}px": end_to_end(folders[:8], crop, root / f"store{crop}", workers=1)
               for crop in (1024, 256)}
        e2e["256px_workers2"] = end_to_end(folders[8:16], 256, root / "store_w2", workers=2)
        small = peak_memory_mib(root / "data", 4, root / "mem_small")
        large = peak_memory_mib(root / "data", 40, root / "mem_large")
    best_256 = max(e2e["256px"]["frames_per_s"], e2e["256px_workers2"]["frames_per_s"])
    result = {
        "benchmark": "offline path: read + crop + resize + mesh3d + flow",
        "input": f"{FRAMES_PER_CLIP}-frame clips of {HALF}x{HALF} PNG frames (real photo)",
        "stages": stages,
        "end_to_end": e2e,
        "peak_memory_mib": {"4_clips": small, "40_clips": large,
                            "growth": round(large / small - 1, 3)},
        "targets": {"frames_per_s_256px": 25, "memory_growth_at_10x": 0.10},
        "meets_targets": best_256 >= 25 and large / small - 1 <= 0.10,
    }
    path = write_result("offline_path", result)
    print(json.dumps(result, indent=2))
    print(f"-> {path}")


if __name__ == "__main__":
    main()
