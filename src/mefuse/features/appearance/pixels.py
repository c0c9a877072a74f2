"""Face crops to a model's input tensor: one antialiased resize, rescale and normalise.

The paper's crops are 1024 px; each model wants its own size (SigLIP2-L/16-384 384 px, DINOv2
224 px, RADIO a multiple of its patch). The crops are resized once, straight to that size, with
the filter the model's image processor uses (bilinear for SigLIP, bicubic for CLIP and DINOv2)
and torch's antialiasing, which matches PIL's downscaling; a chain of resizes (1024 -> 256 ->
224 as some processors do) would blur the subtle motion that micro-expressions are made of.

Grey frames (4DME's texture video is grey) are resized as one channel and repeated afterwards,
a third of the work of resizing three equal channels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mefuse.errors import DataError
from mefuse.utils.image import to_uint8

if TYPE_CHECKING:
    import torch

RESAMPLE_NAMES = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bilinear",
                  5: "bicubic"}
"""PIL resample codes found in image-processor configs -> torch interpolation modes.

PIL's LANCZOS (1) and HAMMING (5) have no torch counterpart; bicubic is the closest antialiased
filter. BOX (4) is closest to antialiased bilinear."""

CHUNK_FRAMES = 8
"""Frames converted to float at once: bounds the temporary memory of 1024 px crops."""


@dataclass(frozen=True)
class PixelSpec:
    """How a model wants its pixels. ``mean``/``std`` apply after scaling to [0, 1]."""

    size: tuple[int, int]
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resample: str = "bicubic"
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The manifest's record of the preprocessing (it changes the features)."""
        return {
            "image_size": list(self.size),
            "mean": [round(float(v), 6) for v in self.mean],
            "std": [round(float(v), 6) for v in self.std],
            "resample": self.resample,
            **self.extra,
        }


def resample_mode(code: Any, default: str = "bicubic") -> str:
    """A torch interpolation mode from a processor config's ``resample`` (int or name)."""
    if isinstance(code, int):
        return RESAMPLE_NAMES.get(code, default)
    if isinstance(code, str) and code.lower() in {"bilinear", "bicubic", "nearest"}:
        return code.lower()
    return default


def as_clip_array(frames: np.ndarray) -> np.ndarray:
    """A clip as ``(T, H, W, C)`` uint8 with C 1 or 3 (grey stays one channel until resized).

    Accepts ``(T, H, W)`` grey, ``(T, H, W, 1|3|4)``, 16-bit and float ``[0, 1]`` frames, the
    same inputs as :func:`mefuse.utils.image.as_rgb_uint8` accepts for one frame.
    """
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4) or array.shape[0] < 1:
        raise DataError(
            f"expected a clip (T, H, W) or (T, H, W, 1|3|4) with T >= 1, got {array.shape}"
        )
    if array.shape[-1] == 4:
        array = array[..., :3]
    return to_uint8(array)


def to_model_input(
    frames: np.ndarray, spec: PixelSpec, device: torch.device, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``(B, 3, h, w)`` float32 on ``device`` from ``(B, H, W, C)`` uint8 frames.

    On a GPU the uint8 frames are copied (a quarter of the bytes of float) and resized there.
    Resizing in float and clamping to [0, 255] before rescaling reproduces a processor that
    resizes uint8 images (bicubic overshoot is cut the same way).
    """
    import torch
    import torch.nn.functional as F

    count, height, width, channels = frames.shape
    size = tuple(spec.size)
    if out is None:
        out = torch.empty((count, 3, *size), dtype=torch.float32, device=device)
    scale = torch.tensor([1.0 / (255.0 * s) for s in spec.std], device=device).view(1, 3, 1, 1)
    shift = torch.tensor([-m / s for m, s in zip(spec.mean, spec.std, strict=True)],
                         device=device).view(1, 3, 1, 1)
    for start in range(0, count, CHUNK_FRAMES):
        chunk = torch.from_numpy(np.ascontiguousarray(frames[start:start + CHUNK_FRAMES]))
        if device.type == "cuda":
            chunk = chunk.pin_memory().to(device, non_blocking=True)
        x = chunk.permute(0, 3, 1, 2).float()
        if (height, width) != size:
            x = F.interpolate(
                x, size=size, mode=spec.resample, antialias=spec.resample != "nearest",
                align_corners=None if spec.resample == "nearest" else False,
            )
            if spec.resample == "bicubic":
                x = x.clamp_(0.0, 255.0)
        if channels == 1:
            x = x.expand(-1, 3, -1, -1)
        torch.addcmul(shift, x, scale, out=out[start:start + x.shape[0]])
    return out
