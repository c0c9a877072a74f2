"""NVIDIA RADIO (v2.5, C-RADIO) summary embeddings per frame.

RADIO's summary concatenates one CLS token per teacher it was distilled from (for v2.5: CLIP,
SigLIP, DINOv2), each one backbone width wide; ``teacher`` keeps them all (the paper) or one.
Widths are read from the loaded network by running it once on a tiny image, never from a table:
the authors' public code cut a hard-coded width and silently lost a modality.

Input: RGB in [0, 1] at a multiple of the patch size; RADIO normalises inside the network. The
``resolution`` option picks the side: ``"input"`` (default) is the supported side nearest to the
crops' own, as the paper's authors ran it (1024 px crops -> 1024 for patch 16, 1022 for
RADIO-g's patch 14); ``"preferred"`` is the checkpoint's preferred side (768 for v2.5-b/l/h, 896
for g), about twice as fast; an integer is rounded to the nearest supported side.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from mefuse.errors import ConfigError
from mefuse.features.appearance.frame_model import FrameModelExtractor
from mefuse.features.appearance.pixels import PixelSpec
from mefuse.features.appearance.radio_loading import (
    LoadedRADIO,
    load_from_hf,
    load_from_hub_dir,
)
from mefuse.features.appearance.runtime import as_bool, as_int
from mefuse.features.base import register_extractor
from mefuse.features.weights import weights_record

ALL_TEACHERS = ("", "all", None)


@register_extractor
class RADIOExtractor(FrameModelExtractor):
    """RADIO summary (all teachers' CLS tokens, or one) per frame."""

    name = "radio"
    title = "RADIO"
    RESAMPLE: ClassVar[str] = "bicubic"

    def __init__(
        self, version: str = "radio_v2.5-g", *, repo: str | os.PathLike[str] | None = None,
        checkpoint: str | os.PathLike[str] | None = None, model: str | None = None,
        trust_remote_code: bool | str = False, trust_checkpoint: bool | str = False,
        teacher: int | str | None = None,
        resolution: int | str = "input", cache_dir: str | None = None,
        device: str | None = "auto", batch_size: int | str = 16,
        precision: str | None = "auto", key: str | None = None,
    ) -> None:
        super().__init__(device=device, batch_size=batch_size, precision=precision, key=key)
        self.resolution = _parse_resolution(resolution)
        if model not in (None, ""):
            loaded = load_from_hf(
                str(model), trust_remote_code=as_bool(trust_remote_code,
                                                      "radio.trust_remote_code"),
                cache_dir=cache_dir,
            )
        else:
            loaded = load_from_hub_dir(
                repo, version, checkpoint, {},
                trust_checkpoint=as_bool(trust_checkpoint, "radio.trust_checkpoint"),
            )
        self._loaded: LoadedRADIO = loaded
        self.net = loaded.net.float().eval().requires_grad_(False).to(self.device)
        conditioner: Any = getattr(self.net, "input_conditioner", None)
        if getattr(conditioner, "dtype", None) is not None:
            # RADIO casts its normalised input to the checkpoint's dtype; the weights are float32
            # now and autocast chooses the compute precision.
            conditioner.dtype = None
        self.patch_size = int(self.net.patch_size)
        self.summary_dim, self.tokens = self._probe_summary()
        self.width = self.summary_dim // self.tokens
        self.teacher_names = loaded.teacher_names
        if self.teacher_names is not None and len(self.teacher_names) != self.tokens:
            self.teacher_names = None
        self.teacher_index = self._parse_teacher(teacher)
        self._fixed = self._fixed_side()
        self._weights_cache: dict[str, Any] | None = None

    # ------------------------------------------------------------------ Extractor API
    @property
    def dim(self) -> int:
        """Width of one frame's feature vector (all tokens, or one teacher's)."""
        return self.summary_dim if self.teacher_index is None else self.width

    @property
    def teacher(self) -> str:
        """The chosen teacher's name (or index), or ``"all"``."""
        if self.teacher_index is None:
            return "all"
        if self.teacher_names:
            return self.teacher_names[self.teacher_index]
        return str(self.teacher_index)

    def variant(self) -> str:
        base = self._loaded.label.rsplit("/", 1)[-1].lower()
        return base if self.teacher_index is None else f"{base}-{self.teacher}"

    def params(self) -> dict[str, Any]:
        return {
            "version": self._loaded.label,
            "teacher": self.teacher,
            "teachers": self.teacher_names,
            "resolution": list(self._fixed) if self._fixed else self.resolution,
            "resample": self.RESAMPLE,
            **self.runtime_params(),
        }

    def weights(self) -> dict[str, Any] | None:
        if self._weights_cache is None:
            self._weights_cache = weights_record(self._loaded.files)
        return self._weights_cache

    def pixel_spec(self, height: int, width: int) -> PixelSpec:
        if self._fixed is not None:
            return PixelSpec(self._fixed, resample=self.RESAMPLE)
        return PixelSpec(self._nearest(height, width), resample=self.RESAMPLE)

    def embed(self, pixels: Any) -> Any:
        summary = _summary_of(self.net(pixels))
        if self.teacher_index is None:
            return summary
        return summary.reshape(summary.shape[0], self.tokens, self.width)[:, self.teacher_index]

    # ------------------------------------------------------------------ helpers
    def _nearest(self, height: int, width: int) -> tuple[int, int]:
        size = self.net.get_nearest_supported_resolution(height, width)
        return int(size[0]), int(size[1])

    def _fixed_side(self) -> tuple[int, int] | None:
        if self.resolution == "input":
            return None
        if self.resolution == "preferred":
            preferred = getattr(self.net, "preferred_resolution", None)
            if preferred is None:
                raise ConfigError(
                    "radio: this checkpoint records no preferred resolution; pass "
                    "resolution=input or a number of pixels"
                )
            return self._nearest(int(preferred[0]), int(preferred[1]))
        return self._nearest(int(self.resolution), int(self.resolution))

    def _probe_summary(self) -> tuple[int, int]:
        """Summary width and number of CLS tokens, from one forward of a tiny image."""
        import torch

        side = self._nearest(self.patch_size * 4, self.patch_size * 4)
        with torch.inference_mode():
            probe = torch.zeros((1, 3, *side), device=self.device)
            summary = _summary_of(self.net(probe))
        dim = int(summary.shape[-1])
        idxs = getattr(self.net, "summary_idxs", None)
        if idxs is None:
            idxs = getattr(getattr(self.net, "radio_model", None), "summary_idxs", None)
        if idxs is not None:
            tokens = int(idxs.numel())
        else:
            inner = getattr(self.net, "model", None)
            width = getattr(self.net, "embed_dim", None) or getattr(inner, "embed_dim", None)
            tokens = dim // int(width) if width else 1
        if tokens < 1 or dim % tokens:
            tokens = 1
        return dim, tokens

    def _parse_teacher(self, teacher: int | str | None) -> int | None:
        if teacher in ALL_TEACHERS or (isinstance(teacher, str) and teacher.lower() in
                                       ALL_TEACHERS):
            return None
        if self.teacher_names:
            known = "teachers " + ", ".join(f"{i}={n}" for i, n in enumerate(self.teacher_names))
        else:
            known = f"{self.tokens} CLS tokens, indices 0..{self.tokens - 1}"
        if isinstance(teacher, str) and not teacher.strip().lstrip("-").isdigit():
            lowered = [n.lower() for n in self.teacher_names or []]
            if teacher.lower() not in lowered:
                raise ConfigError(f"radio: unknown teacher {teacher!r}; this checkpoint has "
                                  f"{known}, or 'all'")
            return lowered.index(teacher.lower())
        index = as_int(teacher, "radio.teacher", minimum=0)
        if index >= self.tokens:
            raise ConfigError(f"radio: teacher {index} is out of range; this checkpoint has "
                              f"{known}")
        return index


def _summary_of(output: Any) -> Any:
    """The summary tensor from RADIO's ``(summary, features)`` (or its adaptor dict)."""
    if isinstance(output, dict):
        output = output["backbone"]
    return output[0]


def _parse_resolution(value: int | str) -> int | str:
    text = str(value).strip().lower()
    if text in {"input", "preferred"}:
        return text
    return as_int(value, "radio.resolution", minimum=1)
