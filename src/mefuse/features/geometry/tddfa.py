"""3DDFA-V3's coefficient regressor as the ``3ddfa`` extractor: 64 expression coefficients.

3DDFA-V3 (Wang et al., CVPR 2024; github.com/wang-zidu/3DDFA-V3) regresses 257 coefficients
with a ResNet-50 and seven 1x1-conv heads in Deep3DFaceRecon's order: identity 80, expression
64, albedo 80, angles 3, lighting 27, tx/ty 2, tz 1; the extractor keeps outputs 80:144. Its
``net_recon.pth`` is a dict whose ``net_recon`` entry is the state dict (``backbone.*``,
``final_layers.0-6.*``). The MobileNetV3 variant (``net_recon_mbnet.pth``) uses a network of its
own, which mefuse does not rebuild; such a file is refused with a message that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from mefuse.features.geometry.checkpoints import CheckpointSpec
from mefuse.features.geometry.crops import Crop, tddfa_crop
from mefuse.features.geometry.encoder_base import CoefficientEncoder, register_encoder
from mefuse.features.geometry.nets import TDDFA_HEADS, ResNetCoefficientNet

EXPRESSION_START = TDDFA_HEADS[0]


@register_encoder
class TDDFAExtractor(CoefficientEncoder):
    """``3ddfa``: 3DDFA-V3 expression coefficients (64 per frame) from ``net_recon.pth``."""

    name = "3ddfa"
    spec = CheckpointSpec(
        encoder="3ddfa",
        title="3DDFA-V3",
        file_name="net_recon.pth",
        source="the 3DDFA-V3 repository https://github.com/wang-zidu/3DDFA-V3 (assets/README.md: "
               "the Hugging Face dataset Zidu-Wang/3DDFA-V3, folder assets)",
    )
    layout = "3ddfa"
    crop_size = 224
    expression = slice(EXPRESSION_START, EXPRESSION_START + TDDFA_HEADS[1])
    crop_rule = "3ddfa: five-point fit to Deep3DFaceRecon template, rescale 102/s, cut 224"

    def build_network(self) -> nn.Module:
        return ResNetCoefficientNet(TDDFA_HEADS)

    def state_from(self, checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
        inner = checkpoint.get("net_recon")
        return inner if isinstance(inner, Mapping) else checkpoint

    def crop(self, frame: np.ndarray, landmarks: np.ndarray) -> Crop:
        return tddfa_crop(frame, landmarks, size=self.crop_size)
