"""Cost of finding faces: the search per frame and the presence check per crop.

Measures, on real photographs (scikit-image's astronaut):

- search on a frame with a face (full-range model only), on a faceless frame (full-range, then
  the short-range fallback) and on a close-up (full-range misses, short-range finds), ms/frame;
- the presence check (short-range model on each crop, reduced to 192 px first) on 1024 px and
  on 256 px crops, ms/crop;
- the worst-case search of a faceless clip with the default bound (100 frames), seconds.

    python benchmarks/bench_faces.py     # writes benchmarks/results/faces.json
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

REPEATS = 30


def per_call_ms(func, repeats: int = REPEATS) -> float:
    func()  # warm-up (graph start)
    started = time.perf_counter()
    for _ in range(repeats):
        func()
    return round(1000 * (time.perf_counter() - started) / repeats, 2)


def main() -> None:
    from skimage import data

    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.preprocess.crop import crop_square
    from mefuse.preprocess.faces import FaceFinder

    face = data.astronaut()
    wall = cv2.GaussianBlur(np.random.default_rng(0).integers(60, 200, face.shape)
                            .astype(np.uint8), (9, 9), 3)
    close = cv2.resize(face[30:150, 180:280], (512, 512), interpolation=cv2.INTER_CUBIC)
    finder = FaceFinder()
    box = finder.search([face]).box
    crops = {size: crop_square(face, box, size) for size in (1024, 256)}
    bound = PreprocessConfig().face_search
    started = time.perf_counter()
    finder.search([wall] * bound, search_frames=bound)
    worst = time.perf_counter() - started
    result = {
        "search_ms_per_frame": {
            "face (full-range)": per_call_ms(lambda: finder.search([face])),
            "no face (full-range + short-range)": per_call_ms(lambda: finder.search([wall])),
            "close-up (short-range fallback)": per_call_ms(lambda: finder.search([close])),
        },
        "presence_ms_per_crop": {
            f"{size} px": per_call_ms(lambda c=crop: finder.frames_without_face([c]))
            for size, crop in crops.items()
        },
        f"faceless_clip_search_s_at_bound_{bound}": round(worst, 2),
    }
    finder.close()
    print(write_result("faces", result))
    print(result)


if __name__ == "__main__":
    main()
