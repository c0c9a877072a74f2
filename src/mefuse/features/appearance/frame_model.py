"""Shared machinery of the per-frame foundation-model extractors.

A subclass loads its network and says two things: the pixels the network wants
(:meth:`FrameModelExtractor.pixel_spec`) and how to get one vector per image from it
(:meth:`FrameModelExtractor.embed`). This class does the rest the same way for every model:
device and precision, batches across clips, preparation of the next batch in the background
(on a separate CUDA stream on a GPU), and float32 NumPy output.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from mefuse.features.appearance.batching import frame_batches, run_pipelined, split_by_clip
from mefuse.features.appearance.pixels import PixelSpec, as_clip_array, to_model_input
from mefuse.features.appearance.runtime import as_int, inference, resolve_precision
from mefuse.features.base import Extractor
from mefuse.utils.device import resolve_device

if TYPE_CHECKING:
    import torch

_KEY_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FrameModelExtractor(Extractor):
    """Base of the foundation-model extractors: one embedding per frame, batched."""

    kind: ClassVar = "appearance"
    title: ClassVar[str] = "model"

    def __init__(
        self, *, device: str | None = "auto", batch_size: int | str = 32,
        precision: str | None = "auto", key: str | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = as_int(batch_size, f"{self.name}.batch_size")
        self._key = None if key in (None, "") else _KEY_SAFE.sub("-", str(key))
        self._stream: Any = None

    # ------------------------------------------------------------------ subclass hooks
    @abstractmethod
    def pixel_spec(self, height: int, width: int) -> PixelSpec:
        """The model's input for crops of ``height`` x ``width`` pixels."""

    @abstractmethod
    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(B, dim)`` embeddings of a prepared ``(B, 3, h, w)`` batch (runs under autocast)."""

    def variant(self) -> str:
        """The part of :attr:`key` after the name (a model size, a teacher)."""
        return ""

    # ------------------------------------------------------------------ Extractor API
    @property
    def key(self) -> str:
        if self._key:
            return self._key
        variant = _KEY_SAFE.sub("-", self.variant()).strip("-")
        if not variant:
            return self.name
        return variant if variant.startswith(self.name) else f"{self.name}-{variant}"

    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        return self.extract_clips([frames])[0]

    def extract_clips(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Features of several clips, their frames batched together ``batch_size`` at a time."""
        arrays = [as_clip_array(clip) for clip in clips]
        outputs = run_pipelined(frame_batches(arrays, self.batch_size), self._prepare, self._run)
        return split_by_clip(outputs, [len(a) for a in arrays])

    def close(self) -> None:
        """Drop the network and give its GPU memory back."""
        for attribute in ("net", "_stream"):
            if hasattr(self, attribute):
                setattr(self, attribute, None)
        if self.device.type == "cuda":
            import torch

            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ helpers
    def runtime_params(self) -> dict[str, Any]:
        """Parameters common to all models that change the features."""
        return {"precision": self.precision}

    def _prepare(self, frames: np.ndarray) -> tuple[torch.Tensor, Any]:
        """Runs in the background thread: pixels for one batch, and the CUDA event that marks
        them ready (``None`` on the CPU)."""
        spec = self.pixel_spec(int(frames.shape[1]), int(frames.shape[2]))
        if self.device.type != "cuda":
            return to_model_input(frames, spec, self.device), None
        import torch

        if self._stream is None:
            self._stream = torch.cuda.Stream(device=self.device)
        with torch.cuda.device(self.device), torch.cuda.stream(self._stream):
            pixels = to_model_input(frames, spec, self.device)
            ready = torch.cuda.Event()
            ready.record(self._stream)
        return pixels, ready

    def _run(self, prepared: tuple[torch.Tensor, Any]) -> np.ndarray:
        pixels, ready = prepared
        if ready is not None:
            import torch

            current = torch.cuda.current_stream(self.device)
            current.wait_event(ready)
            pixels.record_stream(current)
        with inference(self.device, self.precision):
            embedding = self.embed(pixels)
        return embedding.float().cpu().numpy()

