"""The encoder networks, written as plain ``nn.Module``s whose parameter names equal those of the
official checkpoints, so that those load with ``strict=True``.

- :class:`SmirkExpressionNet`: SMIRK's expression encoder, timm's
  ``tf_mobilenetv3_large_minimal_100`` feature extractor (last stage, 960 channels), global
  average pooling and one linear layer of 55 outputs (50 expression, 2 eyelid, 3 jaw).
- :class:`ResNetCoefficientNet`: a torchvision ResNet-50 trunk (its parameter names are the
  checkpoints' ``backbone.*``) with one 1x1 convolution per coefficient group on the pooled
  feature (``final_layers.N``); FaceVerse v4 has eight groups (621 outputs), 3DDFA-V3 seven (257).

timm and torchvision are imported when a network is built, not when this module is imported, so
that mefuse works on stored features without the ``timm`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mefuse.errors import MefuseError

SMIRK_BACKBONE = "tf_mobilenetv3_large_minimal_100"
SMIRK_OUTPUTS = 55
FACEVERSE_HEADS: tuple[int, ...] = (156, 177, 251, 27, 3, 2, 1, 4)
"""id, expression (171 trained + 6 tongue), texture, lighting, angles, tx/ty, tz, eyes."""
TDDFA_HEADS: tuple[int, ...] = (80, 64, 80, 3, 27, 2, 1)
"""id, expression, albedo, angles, lighting, tx/ty, tz."""


def import_timm() -> Any:
    """``timm``, or a clear error saying how to install it."""
    try:
        import timm
    except ImportError as exc:
        raise MefuseError(
            "the 'smirk' encoder needs timm (and torchvision): pip install 'mefuse[timm]'"
        ) from exc
    return timm


def import_torchvision_models() -> Any:
    """``torchvision.models``, or a clear error saying how to install it."""
    try:
        from torchvision import models
    except ImportError as exc:
        raise MefuseError(
            "the 'faceverse' and '3ddfa' encoders need torchvision: pip install 'mefuse[timm]'"
        ) from exc
    return models


class SmirkExpressionNet(nn.Module):
    """SMIRK's expression encoder: image ``(B, 3, 224, 224)`` in [0, 1] -> ``(B, 55)``."""

    def __init__(self) -> None:
        super().__init__()
        timm = import_timm()
        self.encoder = timm.create_model(SMIRK_BACKBONE, pretrained=False, features_only=True)
        width = self.encoder.feature_info[-1]["num_chs"]
        self.expression_layers = nn.Sequential(nn.Linear(width, SMIRK_OUTPUTS))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.encoder(images)[-1].mean(dim=(2, 3))
        return self.expression_layers(features)


class ResNetCoefficientNet(nn.Module):
    """ResNet-50 trunk plus 1x1-conv coefficient heads: ``(B, 3, S, S)`` -> ``(B, sum(heads))``."""

    def __init__(self, heads: Sequence[int]) -> None:
        super().__init__()
        models = import_torchvision_models()
        backbone = models.resnet50(weights=None)
        width = backbone.fc.in_features
        # The checkpoints have no classifier; an Identity keeps the trunk's names and forward.
        backbone.fc = nn.Identity()
        self.backbone = backbone
        self.final_layers = nn.ModuleList(
            nn.Conv2d(width, n, kernel_size=1, bias=True) for n in heads
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = self.backbone(images)[:, :, None, None]
        return torch.cat([head(pooled) for head in self.final_layers], dim=1).flatten(1)
