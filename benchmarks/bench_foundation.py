"""End-to-end extraction speed of the foundation-model extractors against their bare forward.

Full-size random-weight models, built here from configs (no download): SigLIP-L/16 at 384 px
(the shape of ``google/siglip2-large-patch16-384``, loaded through the ``siglip2`` extractor from
a saved folder), and a timm ViT-L/16 with three prefix tokens wrapped in RADIO's hub interface
(the shape of RADIOv2.5-L, loaded through the ``radio`` extractor from a local hub folder).

For each model the same batches are timed two ways, interleaved batch group by batch group so
that load from other processes affects both alike:

- bare: the network's forward on pixels prepared beforehand (what a model can do at most);
- end-to-end: decode 1024 px JPEG crops from disk, ``extract_clips`` (resize, normalise, model,
  background preparation of the next batch), write to a feature store.

    .venv/bin/python benchmarks/bench_foundation.py                  # CPU, a few dozen frames
    .venv/bin/python benchmarks/bench_foundation.py --device cuda --frames 512 --batch-size 64

Results go to ``benchmarks/results/foundation.json`` (and ``foundation-<device>.json`` for a
non-CPU device).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result

from mefuse.features.appearance.foundation import RADIOExtractor, SigLIP2Extractor
from mefuse.features.appearance.runtime import inference
from mefuse.store import FeatureStore

RADIO_HUBCONF = '''
dependencies = ["torch", "timm"]
from collections import namedtuple

import timm
import torch
from torch.hub import load_state_dict_from_url

RadioOutput = namedtuple("RadioOutput", ["summary", "features"])


class ViTAsRADIO(torch.nn.Module):
    """A timm ViT-L/16 with 1 CLS + 2 register tokens standing in for 3 teacher CLS tokens."""

    def __init__(self):
        super().__init__()
        self.model = timm.create_model("vit_large_patch16_224", pretrained=False, num_classes=0,
                                       reg_tokens=2, dynamic_img_size=True)
        self.register_buffer("summary_idxs", torch.arange(3))
        self.register_buffer("mean", torch.tensor([0.481, 0.458, 0.408]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.269, 0.261, 0.276]).view(1, 3, 1, 1))
        self.embed_dim = 1024
        self.patch_size = 16
        self.preferred_resolution = (768, 768)

    def get_nearest_supported_resolution(self, height, width):
        return (max(16, round(height / 16) * 16), max(16, round(width / 16) * 16))

    def forward(self, x):
        y = self.model.forward_features((x - self.mean) / self.std)
        return RadioOutput(y[:, :3].flatten(1), y[:, 3:])


def radio_model(version="", progress=True, return_checkpoint=False, **kwargs):
    chk = load_state_dict_from_url("https://example.invalid/bench-radio-l.pth.tar",
                                   map_location="cpu", weights_only=False)
    torch.manual_seed(chk["seed"])
    model = ViTAsRADIO()
    return (model, chk) if return_checkpoint else model
'''


def make_frames(folder: Path, clips: int, length: int, side: int) -> list[list[Path]]:
    """JPEG face-crop stand-ins: smooth random images (like faces, unlike white noise)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths: list[list[Path]] = []
    for c in range(clips):
        clip_paths = []
        base = rng.integers(0, 256, (side // 64, side // 64, 3), dtype=np.uint8)
        for t in range(length):
            small = np.clip(base.astype(int) + rng.integers(-8, 9, base.shape), 0, 255)
            image = Image.fromarray(small.astype(np.uint8)).resize((side, side),
                                                                   Image.Resampling.BICUBIC)
            path = folder / f"clip{c:03d}" / f"{t:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, quality=95)
            clip_paths.append(path)
        paths.append(clip_paths)
    return paths


def decode(paths: list[Path]) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def build_siglip(folder: Path) -> dict[str, Any]:
    from transformers import SiglipVisionConfig, SiglipVisionModel

    torch.manual_seed(0)
    config = SiglipVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                num_attention_heads=16, image_size=384, patch_size=16)
    SiglipVisionModel(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2,
        "size": {"height": 384, "width": 384}, "do_normalize": True,
    }))
    return {"model": str(folder)}


def build_radio(folder: Path, resolution: str) -> dict[str, Any]:
    (folder / "RADIO").mkdir(parents=True)
    (folder / "RADIO" / "hubconf.py").write_text(RADIO_HUBCONF)
    checkpoint = folder / "bench-radio-l.pth.tar"
    torch.save({"seed": 0}, checkpoint)
    return {"version": "radio_v2.5-l", "repo": str(folder / "RADIO"),
            "checkpoint": str(checkpoint), "resolution": resolution}


def measure(name: str, options: dict[str, Any], clips: list[list[Path]], args: argparse.Namespace,
            store_root: Path) -> dict[str, Any]:
    # The classes directly rather than create_extractor: the registry imports every built-in
    # extractor module, and this benchmark should not depend on the others.
    factory = {"siglip2": SigLIP2Extractor, "radio": RADIOExtractor}[name]
    extractor = factory(device=args.device, batch_size=args.batch_size, **options)
    device = extractor.device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # Warm-up (first-call allocations, CUDA kernels) on one batch, not timed.
    extractor.extract_clip(decode(clips[0])[: args.batch_size])
    store = FeatureStore(store_root)
    config = {"params": extractor.params(), "weights": extractor.weights(), "preprocess": None}
    bare_s = e2e_s = 0.0
    frames = 0
    with store.writer(extractor.key, config, overwrite=True) as writer:
        for start in range(0, len(clips), args.batch_clips):
            group = clips[start:start + args.batch_clips]
            arrays = [decode(paths) for paths in group]
            stacked = np.concatenate(arrays)
            batches = [extractor._prepare(stacked[i:i + args.batch_size])[0]
                       for i in range(0, len(stacked), args.batch_size)]
            del arrays, stacked

            def bare(batches: list[Any] = batches) -> float:
                sync()
                tic = time.perf_counter()
                for pixels in batches:
                    with inference(device, extractor.precision):
                        extractor.embed(pixels).float().cpu()
                sync()
                return time.perf_counter() - tic

            def end_to_end(group: list[list[Path]] = group, first: int = start) -> float:
                tic = time.perf_counter()
                arrays = [decode(paths) for paths in group]
                features = extractor.extract_clips(arrays)
                for i, array in enumerate(features):
                    writer.write(f"clip{first + i:03d}", array)
                return time.perf_counter() - tic

            # Alternate which goes first, so a drift in machine load favours neither.
            if (start // args.batch_clips) % 2 == 0:
                bare_s += bare()
                e2e_s += end_to_end()
            else:
                e2e_s += end_to_end()
                bare_s += bare()
            frames += sum(len(paths) for paths in group)
            print(f"  {name}: {frames} frames, bare {frames / bare_s:.3f} f/s, "
                  f"end-to-end {frames / e2e_s:.3f} f/s", flush=True)
    result = {
        "extractor": name, "key": extractor.key, "dim": extractor.dim,
        "params": extractor.params(), "frames": frames, "batch_size": args.batch_size,
        "bare_fps": round(frames / bare_s, 4), "end_to_end_fps": round(frames / e2e_s, 4),
        "ratio": round(bare_s / e2e_s, 4),
    }
    extractor.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=24, help="frames per model (rounded "
                        "up to whole clips)")
    parser.add_argument("--clip-length", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batch-clips", type=int, default=2, help="clips per extract_clips call")
    parser.add_argument("--crop", type=int, default=1024, help="side of the JPEG crops")
    parser.add_argument("--models", default="siglip2,radio")
    parser.add_argument("--radio-resolution", default=None,
                        help="RADIO input side (default: 384 on the CPU, 'preferred' on a GPU)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    resolution = args.radio_resolution or ("384" if args.device == "cpu" else "preferred")
    results = []
    with tempfile.TemporaryDirectory(prefix="mefuse-bench-") as tmp:
        root = Path(tmp)
        n_clips = -(-args.frames // args.clip_length)
        clips = make_frames(root / "frames", n_clips, args.clip_length, args.crop)
        for name in args.models.split(","):
            if name == "siglip2":
                options = build_siglip(root / "siglip-l16-384")
            elif name == "radio":
                options = build_radio(root / "radio", resolution)
            else:
                raise SystemExit(f"unknown model {name!r} (siglip2, radio)")
            print(f"{name}: {len(clips)} clips x {args.clip_length} frames, "
                  f"{args.crop} px crops, batch {args.batch_size}", flush=True)
            results.append(measure(name, options, clips, args, root / "store"))
    suffix = "" if args.device == "cpu" else f"-{args.device.replace(':', '')}"
    path = write_result(f"foundation{suffix}", {
        "what": "end-to-end extraction (JPEG decode + resize/normalise + model + store write) "
                "vs bare model forward on the same batches; random-weight full-size models",
        "device": args.device, "results": results,
    })
    for r in results:
        print(f"{r['extractor']}: bare {r['bare_fps']} f/s, end-to-end {r['end_to_end_fps']} "
              f"f/s, ratio {r['ratio']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
