"""SMIRK's expression encoder as the ``smirk`` extractor: 50 FLAME expression coefficients.

SMIRK (Retsinas et al., CVPR 2024; github.com/georgeretsi/smirk) has separate pose, shape and
expression encoders; only the expression one is needed here. Its official ``SMIRK_em1.pt`` is a
flat state dict holding all three encoders (``smirk_encoder.*``) and the image generator
(``smirk_generator.*``); the expression encoder's 278 tensors sit under
``smirk_encoder.expression_encoder.``. Its 55 outputs are 50 expression coefficients, 2 eyelid
and 3 jaw values; the extractor keeps the 50.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from mefuse.features.geometry.checkpoints import CheckpointSpec
from mefuse.features.geometry.crops import Crop, smirk_crop
from mefuse.features.geometry.encoder_base import CoefficientEncoder, register_encoder
from mefuse.features.geometry.nets import SmirkExpressionNet

PREFIX = "smirk_encoder.expression_encoder."


@register_encoder
class SmirkExtractor(CoefficientEncoder):
    """``smirk``: SMIRK expression coefficients (50 per frame) from ``SMIRK_em1.pt``."""

    name = "smirk"
    spec = CheckpointSpec(
        encoder="smirk",
        title="SMIRK",
        file_name="SMIRK_em1.pt",
        source="the SMIRK repository https://github.com/georgeretsi/smirk (README, "
               "'bash quick_install.sh': the pretrained model's Google Drive link)",
    )
    layout = "smirk"
    crop_size = 224
    expression = slice(0, 50)
    crop_rule = "smirk: landmark box, side mean(w,h)*1.4, warp 224"

    def build_network(self) -> nn.Module:
        return SmirkExpressionNet()

    def state_from(self, checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
        state = {k[len(PREFIX):]: v for k, v in checkpoint.items()
                 if isinstance(k, str) and k.startswith(PREFIX)}
        # A file holding the expression encoder alone (prefix already removed) is accepted too.
        return state or checkpoint

    def crop(self, frame: np.ndarray, landmarks: np.ndarray) -> Crop:
        return smirk_crop(frame, landmarks, size=self.crop_size)
