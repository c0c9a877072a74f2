"""The foundation-model appearance extractors, registered on import.

The extractor registry imports this module by name; importing it needs neither transformers nor
RADIO's code, which are imported when an extractor is built (``pip install 'mefuse[hf]'``).

========  =====================================  ===========================================
name      model                                  vector per frame
========  =====================================  ===========================================
radio     NVIDIA RADIO v2.5 / C-RADIO            summary: one CLS token per teacher, or one
siglip2   SigLIP2 (fixed resolution or NaFlex)   attention-pool head output (pooler_output)
dinov2    DINOv2                                 layer-normed CLS token (pooler_output)
clip      CLIP vision tower                      image_embeds (or the pre-projection pooler)
========  =====================================  ===========================================
"""

from mefuse.features.appearance.hf_models import (
    CLIPExtractor,
    DINOv2Extractor,
    SigLIP2Extractor,
)
from mefuse.features.appearance.radio import RADIOExtractor

__all__ = ["CLIPExtractor", "DINOv2Extractor", "RADIOExtractor", "SigLIP2Extractor"]
