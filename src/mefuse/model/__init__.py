"""The fusion classifier: per-modality multi-query attention pools, a fusion gate and a head."""

from mefuse.model.fusion import STRATEGIES, FusionClassifier
from mefuse.model.pool import MultiQueryAttentionPool

__all__ = ["STRATEGIES", "FusionClassifier", "MultiQueryAttentionPool"]
