"""What the three 3D encoders (SMIRK, FaceVerse v4, 3DDFA-V3) share: checkpoint loading, the
landmarks -> crop -> network path, batching across clips, and optional temporal smoothing.

Each subclass only says which checkpoint it needs, how to build its network and pick its tensors
from the file, how to crop, and which outputs are the expression coefficients.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from mefuse.errors import ConfigError, DataError
from mefuse.features.base import Extractor, register_extractor
from mefuse.features.geometry.checkpoints import (
    CheckpointSpec,
    load_checkpoint,
    load_strict,
    locate,
    require_layout,
)
from mefuse.features.geometry.clip_landmarks import clip_landmarks
from mefuse.features.geometry.crops import Crop
from mefuse.features.geometry.temporal import check_smoothing, smooth
from mefuse.utils.device import resolve_device
from mefuse.utils.hashing import sha256_of
from mefuse.utils.registry import Registry

LANDMARKS = "mediapipe-face-mesh-478"


class CoefficientEncoder(Extractor):
    """A 3D face-reconstruction encoder used as a per-frame expression-coefficient extractor.

    Parameters (all keyword): ``checkpoint`` (path to the official file, or a folder holding it;
    default: ``$MEFUSE_WEIGHTS`` then ``~/.cache/mefuse/weights``), ``device`` (``cpu``,
    ``cuda``, ``cuda:N`` or ``auto``), ``batch_size`` (crops per forward pass), ``smoothing``
    (``none``, ``mean`` or ``savgol``) and ``smoothing_window`` (odd number of frames).
    """

    kind = "geometry"
    spec: ClassVar[CheckpointSpec]
    layout: ClassVar[str]
    """The :func:`~mefuse.features.geometry.checkpoints.identify` name of the right file."""
    crop_size: ClassVar[int]
    """Side of the network's input, cut by :meth:`crop` from the face crops as they come."""
    expression: ClassVar[slice]
    """The network outputs that are the expression coefficients."""
    crop_rule: ClassVar[str]
    """Short description of the crop, recorded in the manifest."""

    def __init__(
        self,
        *,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        batch_size: int | str = 32,
        smoothing: str = "none",
        smoothing_window: int | str = 5,
    ) -> None:
        try:
            self.batch_size = int(batch_size)
        except (TypeError, ValueError):
            raise ConfigError(f"batch_size must be an integer, not {batch_size!r}") from None
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, not {self.batch_size}")
        self.smoothing, self.smoothing_window = check_smoothing(smoothing, smoothing_window)
        self.device = resolve_device(str(device))
        self.checkpoint = locate(self.spec, checkpoint)
        self._sha256: str | None = None
        state = self.select_state(load_checkpoint(self.checkpoint, self.spec))
        network = self.build_network()
        load_strict(network, state, self.spec, self.checkpoint)
        self.network: nn.Module | None = network.eval().to(self.device)

    # ------------------------------------------------------------------ per-encoder parts
    @abstractmethod
    def build_network(self) -> nn.Module:
        """The network, with random weights, whose parameter names match the checkpoint."""

    @abstractmethod
    def state_from(self, checkpoint: Any) -> Mapping[str, Any]:
        """The tensors of the network inside the loaded checkpoint (prefix or wrapper removed)."""

    @abstractmethod
    def crop(self, frame: np.ndarray, landmarks: np.ndarray) -> Crop:
        """This method's input crop of one frame, from its ``(478, 3)`` landmarks in pixels."""

    def select_state(self, checkpoint: Any) -> Mapping[str, Any]:
        """Check that the file is this encoder's, then take the network's tensors from it."""
        require_layout(checkpoint, self.layout, self.spec, self.checkpoint)
        if not isinstance(checkpoint, Mapping):
            raise ConfigError(
                f"{self.checkpoint} holds a {type(checkpoint).__name__}, not a dictionary of "
                f"tensors; expected {self.spec.title}'s {self.spec.file_name}"
            )
        return self.state_from(checkpoint)

    # ------------------------------------------------------------------ extractor protocol
    @property
    def dim(self) -> int:
        return len(range(*self.expression.indices(10_000)))

    def params(self) -> dict[str, Any]:
        return {
            "landmarks": LANDMARKS,
            "crop": self.crop_rule,
            "crop_size": self.crop_size,
            "coefficients": f"expression[{self.expression.start}:{self.expression.stop}]",
            "smoothing": self.smoothing,
            "smoothing_window": self.smoothing_window if self.smoothing != "none" else None,
        }

    def weights(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = sha256_of(self.checkpoint)
        return {"file": self.checkpoint.name, "sha256": self._sha256}

    def extract_clip(self, frames: np.ndarray) -> np.ndarray:
        return self.extract_clips([frames])[0]

    def extract_clips(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Crops of every clip, then all of them through the network in ``batch_size`` chunks.

        A clip with no face in any frame raises :class:`DataError` whose message says which
        clip of the batch it was (``error.clip_index`` holds its position).
        """
        crops = []
        for index, frames in enumerate(clips):
            try:
                crops.append(self.crops(frames))
            except DataError as exc:
                where = (f" (clip {index + 1} of {len(clips)} in this batch)"
                         if len(clips) > 1 else "")
                error = DataError(f"{exc}{where}")
                error.clip_index = index  # type: ignore[attr-defined]
                raise error from exc
        lengths = [len(c) for c in crops]
        coefficients = self.encode(np.concatenate(crops) if crops else np.zeros((0, 1, 1, 3)))
        out, start = [], 0
        for length in lengths:
            part = coefficients[start:start + length]
            out.append(smooth(part, self.smoothing, self.smoothing_window))
            start += length
        return out

    # ------------------------------------------------------------------ the steps
    def crops(self, frames: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
        """``(T, S, S, 3)`` uint8 crops of one clip; landmarks are found with MediaPipe unless
        given as ``(T, 478, 3)`` pixels (frames without a face may be all NaN)."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise DataError(
                f"{self.name}: expected frames as a (T, H, W, 3) uint8 RGB array, got "
                f"{frames.shape} {frames.dtype}"
            )
        stage = f"{self.name} crop (face landmarks)"
        if landmarks is None:
            landmarks = clip_landmarks(frames, stage=stage)
        else:
            from mefuse.features.geometry.clip_landmarks import fill_missing

            landmarks = fill_missing(landmarks, stage=stage)
        return np.stack([self.crop(f, lm).image for f, lm in zip(frames, landmarks, strict=True)])

    @torch.inference_mode()
    def encode(self, crops: np.ndarray) -> np.ndarray:
        """Expression coefficients ``(N, dim)`` float32 of ``(N, S, S, 3)`` uint8 crops."""
        if self.network is None:
            raise RuntimeError(f"{self.name} extractor was closed")
        outputs = []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(crops[start:start + self.batch_size]))
            # uint8 travels to the GPU (4x less than float) and becomes [0, 1] there: no
            # mean/std, as all three originals feed their networks.
            images = batch.to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
            outputs.append(self.network(images)[:, self.expression].float().cpu())
        if not outputs:
            return np.zeros((0, self.dim), np.float32)
        return torch.cat(outputs).numpy().astype(np.float32, copy=False)

    def close(self) -> None:
        """Drop the network (and its GPU memory)."""
        self.network = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


ENCODERS: Registry[type[CoefficientEncoder]] = Registry(
    "3D encoder", ["mefuse.features.geometry.encoders"])
"""The 3D reconstruction encoders by name (each is also an extractor of the same name)."""


def register_encoder(cls: type[CoefficientEncoder]) -> type[CoefficientEncoder]:
    """Class decorator: register ``cls`` as an encoder and as an extractor."""
    register_extractor(cls)
    return ENCODERS.add(cls.name, cls)


def list_encoders(pattern: str | None = None) -> dict[str, type[CoefficientEncoder]]:
    """Registered 3D encoders by name, sorted; ``pattern`` filters names shell-style."""
    return {name: ENCODERS[name] for name in ENCODERS.names(pattern)}
