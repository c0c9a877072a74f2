"""Loading a transformers vision tower and its preprocessing from a local folder.

The three transformers-based extractors (SigLIP2, DINOv2, CLIP) differ only in the class they
load and the vector they keep; finding the files offline, reading the image-processor config and
building the :class:`PixelSpec` is the same for all and lives here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, ClassVar

from mefuse.errors import ConfigError, WeightsNotFound
from mefuse.features.appearance.frame_model import FrameModelExtractor
from mefuse.features.appearance.pixels import PixelSpec, resample_mode
from mefuse.features.appearance.runtime import as_int, require_transformers
from mefuse.features.weights import (
    ResolvedModel,
    resolve_pretrained,
    weight_files,
    weights_record,
)

PROCESSOR_CONFIG = "preprocessor_config.json"


class HFVisionExtractor(FrameModelExtractor):
    """A transformers vision model read from a folder or the hub cache, never the network.

    Subclasses set :attr:`default_model`, the fallback normalisation used when a folder has no
    ``preprocessor_config.json``, and implement :meth:`load_network` and :meth:`embed`.
    """

    default_model: ClassVar[str]
    fallback_mean: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    fallback_std: ClassVar[tuple[float, float, float]] = (0.5, 0.5, 0.5)
    fallback_resample: ClassVar[str] = "bicubic"

    def __init__(
        self, model: str | os.PathLike[str] | None = None, *, device: str | None = "auto",
        batch_size: int | str = 32, precision: str | None = "auto",
        image_size: int | str | None = None, cache_dir: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size, precision=precision, key=key)
        self.resolved: ResolvedModel = resolve_pretrained(
            model or self.default_model, title=self.title, cache_dir=cache_dir
        )
        self._weight_files = weight_files(self.resolved.path)
        if not self._weight_files:
            raise WeightsNotFound(
                f"{self.title}: {self.resolved.path} has a config.json but no weight file "
                "(model.safetensors or pytorch_model.bin); copy the repository's weights there."
            )
        transformers = require_transformers()
        self.processor_config = read_json(self.resolved.path / PROCESSOR_CONFIG)
        try:
            self.net = self.load_network(transformers, self.resolved.path)
        except OSError as exc:
            raise WeightsNotFound(f"{self.title}: cannot load {self.resolved.path}: {exc}") from exc
        self.net.eval().requires_grad_(False).to(self.device)
        self._spec = self.build_spec(None if image_size in (None, "") else
                                     as_int(image_size, f"{self.name}.image_size"))
        self._weights_cache: dict[str, Any] | None = None

    # ------------------------------------------------------------------ subclass hooks
    def load_network(self, transformers: Any, path: Path) -> Any:
        """The ``nn.Module`` to run, loaded with ``local_files_only`` in float32."""
        raise NotImplementedError

    def build_spec(self, image_size: int | None) -> PixelSpec:
        """Fixed-size models: the processor's size, normalisation and filter."""
        if image_size is not None and image_size != self.native_size():
            raise ConfigError(
                f"{self.name}: this checkpoint takes {self.native_size()} px images; "
                f"image_size={image_size} is not supported (leave it unset)"
            )
        return self.spec_from_processor(self.native_size())

    # ------------------------------------------------------------------ shared helpers
    def native_size(self) -> int:
        """The input side of a fixed-size model: its position embeddings' grid."""
        return int(self.net.config.image_size)

    def spec_from_processor(self, side: int, **extra: Any) -> PixelSpec:
        proc = self.processor_config
        normalise = proc.get("do_normalize", True)
        mean = tuple(proc.get("image_mean", self.fallback_mean)) if normalise else (0.0,) * 3
        std = tuple(proc.get("image_std", self.fallback_std)) if normalise else (1.0,) * 3
        resample = resample_mode(proc.get("resample"), self.fallback_resample)
        return PixelSpec((side, side), mean, std, resample, extra)

    def pixel_spec(self, height: int, width: int) -> PixelSpec:
        return self._spec

    def variant(self) -> str:
        return self.resolved.label.rsplit("/", 1)[-1]

    def params(self) -> dict[str, Any]:
        return {"model": self.resolved.label, **self._spec.params(), **self.runtime_params()}

    def weights(self) -> dict[str, Any] | None:
        if self._weights_cache is None:
            self._weights_cache = weights_record(self._weight_files)
        return self._weights_cache

    @property
    def dim(self) -> int:
        """Width of one frame's feature vector."""
        return int(self.net.config.hidden_size)


def load_pretrained(model_class: Any, path: Path) -> Any:
    """``model_class.from_pretrained`` from a local folder only, in float32.

    transformers reads ``pytorch_model.bin`` files with ``torch.load(weights_only=True)``, which
    refuses a pickle holding anything but tensors; that refusal (a crafted or foreign file) is
    reported as one :class:`ConfigError` naming the file and the reason, not a traceback.
    """
    import pickle

    import torch

    try:
        return model_class.from_pretrained(str(path), local_files_only=True,
                                           dtype=torch.float32)
    except (pickle.UnpicklingError, OSError, RuntimeError, ValueError) as exc:
        text = str(exc)
        if not isinstance(exc, pickle.UnpicklingError) and "weights_only" not in text \
                and "Weights only" not in text:
            raise
        files = sorted(p.name for p in Path(path).glob("pytorch_model*.bin")) or ["its weights"]
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ConfigError(
            f"{Path(path) / files[0]}: refused: it holds Python objects besides tensors, which "
            f"mefuse never unpickles (weights_only loading: {first}). Use the model's "
            "model.safetensors, or a pytorch_model.bin saved from tensors only."
        ) from None


def read_json(path: Path) -> dict[str, Any]:
    """A JSON config file, or ``{}`` when absent (defaults then apply)."""
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def processor_side(processor: dict[str, Any]) -> int | None:
    """The square side a processor config resizes (and centre-crops) to, if it says."""
    entries = [processor.get("crop_size")] if processor.get("do_center_crop") else []
    for size in [*entries, processor.get("size")]:
        if isinstance(size, int):
            return size
        if isinstance(size, dict):
            if size.get("height") is not None and size.get("height") == size.get("width"):
                return int(size["height"])
            if "shortest_edge" in size:
                return int(size["shortest_edge"])
    return None
