"""The 3D reconstruction encoders of the extractor registry: ``smirk``, ``faceverse``, ``3ddfa``.

The registry imports this one module; importing it registers all three (as extractors and in
:data:`ENCODERS`). It needs only torch: timm and torchvision are imported when an encoder is
built, so listing extractors works without the ``timm`` extra.
"""

from mefuse.features.geometry.encoder_base import ENCODERS, CoefficientEncoder, list_encoders
from mefuse.features.geometry.faceverse import FaceVerseExtractor
from mefuse.features.geometry.smirk import SmirkExtractor
from mefuse.features.geometry.tddfa import TDDFAExtractor

__all__ = ["ENCODERS", "CoefficientEncoder", "FaceVerseExtractor", "SmirkExtractor",
           "TDDFAExtractor", "list_encoders"]
