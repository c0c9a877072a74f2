"""Frames per second of the three 3D encoders, crop included: MediaPipe landmarks + crop + network.

Random weights in the official checkpoint layouts (written to a temporary folder), real photo
frames (the astronaut from scikit-image, a face crop jittered by a few pixels per frame and
resized to ``--size``), clips of ``--frames`` frames batched as the extraction pipeline does.
Each stage is timed apart, so the table shows where the time goes.

    python benchmarks/bench_encoders.py                  # CPU, writes results/encoders.json + .md
    python benchmarks/bench_encoders.py --device cuda    # on a GPU machine (adds a cuda section)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import torch
from _common import RESULTS, write_result


def write_random_checkpoints(folder: Path) -> None:
    """Random-weight files in each official layout (prefix / wrapper included)."""
    from mefuse.features.geometry.nets import (
        FACEVERSE_HEADS,
        TDDFA_HEADS,
        ResNetCoefficientNet,
        SmirkExpressionNet,
    )

    smirk = SmirkExpressionNet().state_dict()
    torch.save({f"smirk_encoder.expression_encoder.{k}": v for k, v in smirk.items()},
               folder / "SMIRK_em1.pt")
    torch.save(ResNetCoefficientNet(FACEVERSE_HEADS).state_dict(),
               folder / "faceverse_resnet50.pth")
    torch.save({"net_recon": ResNetCoefficientNet(TDDFA_HEADS).state_dict()},
               folder / "net_recon.pth")


def make_clips(n_clips: int, frames: int, size: int) -> list[np.ndarray]:
    import cv2
    from skimage.data import astronaut

    photo = astronaut()
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(n_clips):
        clip = []
        for _ in range(frames):
            dx, dy = rng.integers(-4, 5, size=2)
            face = photo[20 + dy:260 + dy, 105 + dx:345 + dx]
            clip.append(cv2.resize(face, (size, size), interpolation=cv2.INTER_LANCZOS4))
        clips.append(np.stack(clip))
    return clips


def time_encoder(extractor, clips: list[np.ndarray]) -> dict[str, float]:
    """Seconds spent on landmarks, crops and the network for all ``clips``."""
    from mefuse.features.geometry.clip_landmarks import clip_landmarks

    extractor.encode(extractor.crops(clips[0][:1], clip_landmarks(clips[0][:1], stage="warm")))
    t0 = time.perf_counter()
    marks = [clip_landmarks(c, stage="bench") for c in clips]
    t1 = time.perf_counter()
    crops = np.concatenate([extractor.crops(c, m) for c, m in zip(clips, marks, strict=True)])
    t2 = time.perf_counter()
    extractor.encode(crops)
    if extractor.device.type == "cuda":
        torch.cuda.synchronize()
    t3 = time.perf_counter()
    # the public path end to end (landmarks + crop + network), as the pipeline calls it
    extractor.extract_clips(clips)
    if extractor.device.type == "cuda":
        torch.cuda.synchronize()
    t4 = time.perf_counter()
    n = sum(len(c) for c in clips)
    return {"frames": n, "landmarks_ms_per_frame": 1000 * (t1 - t0) / n,
            "crop_ms_per_frame": 1000 * (t2 - t1) / n,
            "network_ms_per_frame": 1000 * (t3 - t2) / n,
            "network_fps": n / (t3 - t2), "end_to_end_fps": n / (t4 - t3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--size", type=int, default=512, help="side of the input face crops")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--encoders", default="smirk,faceverse,3ddfa")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from mefuse.features.geometry.encoders import ENCODERS

    clips = make_clips(args.clips, args.frames, args.size)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_random_checkpoints(Path(tmp))
        for name in args.encoders.split(","):
            extractor = ENCODERS[name](checkpoint=tmp, device=args.device,
                                       batch_size=args.batch_size)
            rows[name] = {k: round(v, 2) for k, v in time_encoder(extractor, clips).items()}
            extractor.close()
            print(name, rows[name], flush=True)
    device = str(extractors_device(args.device))
    section = {"device": device, "input_size": args.size, "clips": args.clips,
               "frames_per_clip": args.frames, "batch_size": args.batch_size,
               "torch_threads": torch.get_num_threads(), "encoders": rows}
    previous = RESULTS / "encoders.json"
    data = json.loads(previous.read_text()).get("runs", {}) if previous.is_file() else {}
    data[device.split(":")[0]] = section
    path = write_result("encoders", {"benchmark": "3D encoders, fps with landmarks + crop",
                                     "runs": data})
    write_markdown(data)
    print(f"-> {path}")


def extractors_device(name: str) -> str:
    from mefuse.utils.device import resolve_device

    return str(resolve_device(name))


def write_markdown(runs: dict) -> None:
    lines = ["# 3D encoders: frames per second (random weights, astronaut frames)", ""]
    for device, section in runs.items():
        lines += [f"## {device} ({section['torch_threads']} torch threads, input "
                  f"{section['input_size']} px, batch {section['batch_size']})", "",
                  "| encoder | landmarks ms/frame | crop ms/frame | network ms/frame | "
                  "network fps | end-to-end fps |", "|---|---|---|---|---|---|"]
        for name, row in section["encoders"].items():
            lines.append(f"| {name} | {row['landmarks_ms_per_frame']} | "
                         f"{row['crop_ms_per_frame']} | {row['network_ms_per_frame']} | "
                         f"{row['network_fps']} | {row['end_to_end_fps']} |")
        lines.append("")
    (RESULTS / "encoders.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
