"""FaceVerse v4's coefficient regressor as the ``faceverse`` extractor: 171 expression values.

FaceVerse v4 (Wang et al., CVPR 2022; github.com/LizhenWangT/FaceVerse_v4) regresses 621
coefficients with a ResNet-50 and eight 1x1-conv heads: identity 156, expression 177, texture
251, lighting 27, angles 3, tx/ty 2, tz 1, eyes 4. Of the 177 expression values the last 6
(tongue) were never trained, so the extractor keeps outputs 156:327. The paper's best single
stream, and half of its best fusion, is this one. ``faceverse_resnet50.pth`` is a bare state dict
(``backbone.*``, ``final_layers.0-7.*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from mefuse.features.geometry.checkpoints import CheckpointSpec
from mefuse.features.geometry.crops import Crop, faceverse_crop
from mefuse.features.geometry.encoder_base import CoefficientEncoder, register_encoder
from mefuse.features.geometry.nets import FACEVERSE_HEADS, ResNetCoefficientNet

EXPRESSION_START = FACEVERSE_HEADS[0]
EXPRESSION_TRAINED = 171


@register_encoder
class FaceVerseExtractor(CoefficientEncoder):
    """``faceverse``: FaceVerse v4 expression coefficients (171 per frame)."""

    name = "faceverse"
    spec = CheckpointSpec(
        encoder="faceverse",
        title="FaceVerse v4",
        file_name="faceverse_resnet50.pth",
        source="the FaceVerse v4 repository https://github.com/LizhenWangT/FaceVerse_v4 "
               "(README, 'FaceVerse version 4 network' download link)",
    )
    layout = "faceverse"
    crop_size = 256
    expression = slice(EXPRESSION_START, EXPRESSION_START + EXPRESSION_TRAINED)
    crop_rule = "faceverse: square landmark box L, x c+-0.65L, y c-0.7L..c+0.6L, pad 0, 256"

    def build_network(self) -> nn.Module:
        return ResNetCoefficientNet(FACEVERSE_HEADS)

    def state_from(self, checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
        inner = checkpoint.get("state_dict")
        return inner if isinstance(inner, Mapping) else checkpoint

    def crop(self, frame: np.ndarray, landmarks: np.ndarray) -> Crop:
        return faceverse_crop(frame, landmarks, size=self.crop_size)
