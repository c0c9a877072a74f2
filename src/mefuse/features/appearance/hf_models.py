"""SigLIP2, DINOv2 and CLIP image embeddings through transformers.

What each keeps, and why:

- ``siglip2``: ``pooler_output``, the output of SigLIP's attention-pooling head (SigLIP has no
  CLS token); for the paper's fixed-resolution checkpoints this is the 1024-wide vector of
  ``google/siglip2-large-patch16-384``. NaFlex checkpoints (``model_type`` ``siglip2``) are run
  at a square patch grid of at most ``max_patches`` patches (face crops are square).
- ``dinov2``: ``pooler_output``, the layer-normed CLS token. Input 224 px by default (the
  processor's crop); ``image_size`` takes any size, rounded to the 14 px patch.
- ``clip``: ``image_embeds`` (the projected embedding, the vector CLIP aligns with text) by
  default, or ``output="pooler"`` for the wider pre-projection CLS (1024 for ViT-L).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

from mefuse.errors import ConfigError
from mefuse.features.appearance.hf_vision import (
    HFVisionExtractor,
    load_pretrained,
    processor_side,
    read_json,
)
from mefuse.features.appearance.pixels import PixelSpec
from mefuse.features.appearance.runtime import as_int
from mefuse.features.base import register_extractor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@register_extractor
class SigLIP2Extractor(HFVisionExtractor):
    """SigLIP2 (or SigLIP) image embedding per frame: the attention-pool head's output."""

    name = "siglip2"
    title = "SigLIP2"
    default_model = "google/siglip2-large-patch16-384"
    fallback_resample = "bilinear"

    def __init__(self, model: str | None = None, *, max_patches: int | str | None = None,
                 **options: Any) -> None:
        self._max_patches = max_patches
        super().__init__(model, **options)

    def load_network(self, transformers: Any, path: Path) -> Any:
        config = read_json(path / "config.json")
        model_type = config.get("model_type", "")
        self.naflex = model_type.startswith("siglip2")
        if self.naflex:
            return load_pretrained(transformers.Siglip2VisionModel, path)
        if not model_type.startswith("siglip"):
            raise ConfigError(
                f"siglip2: {path} holds a {model_type or 'unknown'!r} model, not SigLIP/SigLIP2"
            )
        return load_pretrained(transformers.SiglipVisionModel, path)

    def build_spec(self, image_size: int | None) -> PixelSpec:
        if not self.naflex:
            if self._max_patches not in (None, ""):
                raise ConfigError("siglip2: max_patches applies to NaFlex checkpoints only")
            return super().build_spec(image_size)
        if image_size is not None:
            raise ConfigError("siglip2: NaFlex checkpoints take max_patches, not image_size")
        limit = self._max_patches or self.processor_config.get("max_num_patches", 256)
        limit = as_int(limit, "siglip2.max_patches")
        self.grid = math.isqrt(limit)
        side = self.grid * int(self.net.config.patch_size)
        return self.spec_from_processor(side, max_patches=limit)

    def embed(self, pixels: Any) -> Any:
        if not self.naflex:
            return self.net(pixel_values=pixels).pooler_output
        import torch

        batch, channels, height, width = pixels.shape
        patch = int(self.net.config.patch_size)
        rows, cols = height // patch, width // patch
        patches = (pixels.view(batch, channels, rows, patch, cols, patch)
                   .permute(0, 2, 4, 3, 5, 1).reshape(batch, rows * cols, patch * patch * channels))
        mask = torch.ones((batch, rows * cols), dtype=torch.int32, device=pixels.device)
        shapes = torch.tensor([[rows, cols]] * batch, dtype=torch.long, device=pixels.device)
        return self.net(pixel_values=patches, pixel_attention_mask=mask,
                        spatial_shapes=shapes).pooler_output


@register_extractor
class DINOv2Extractor(HFVisionExtractor):
    """DINOv2 CLS embedding per frame (``pooler_output``)."""

    name = "dinov2"
    title = "DINOv2"
    default_model = "facebook/dinov2-large"
    fallback_mean = IMAGENET_MEAN
    fallback_std = IMAGENET_STD

    def load_network(self, transformers: Any, path: Path) -> Any:
        return load_pretrained(transformers.Dinov2Model, path)

    def build_spec(self, image_size: int | None) -> PixelSpec:
        patch = int(self.net.config.patch_size)
        side = image_size or processor_side(self.processor_config) or 224
        side = max(patch, round(side / patch) * patch)
        return self.spec_from_processor(side)

    def embed(self, pixels: Any) -> Any:
        return self.net(pixel_values=pixels).pooler_output


@register_extractor
class CLIPExtractor(HFVisionExtractor):
    """CLIP image embedding per frame: ``image_embeds`` or the pre-projection ``pooler``."""

    name = "clip"
    title = "CLIP"
    default_model = "openai/clip-vit-large-patch14"
    fallback_mean = OPENAI_CLIP_MEAN
    fallback_std = OPENAI_CLIP_STD
    OUTPUTS: ClassVar[tuple[str, ...]] = ("embeds", "pooler")

    def __init__(self, model: str | None = None, *, output: str = "embeds",
                 **options: Any) -> None:
        if output not in self.OUTPUTS:
            raise ConfigError(f"clip.output must be one of {', '.join(self.OUTPUTS)}")
        self.output = output
        super().__init__(model, **options)

    def load_network(self, transformers: Any, path: Path) -> Any:
        return load_pretrained(transformers.CLIPVisionModelWithProjection, path)

    def embed(self, pixels: Any) -> Any:
        pooled = self.net.vision_model(pixel_values=pixels).pooler_output
        return pooled if self.output == "pooler" else self.net.visual_projection(pooled)

    def params(self) -> dict[str, Any]:
        return {**super().params(), "output": self.output}

    def variant(self) -> str:
        base = super().variant()
        return base if self.output == "embeds" else f"{base}-pooler"

    @property
    def dim(self) -> int:
        config = self.net.config
        return int(config.hidden_size if self.output == "pooler" else config.projection_dim)
