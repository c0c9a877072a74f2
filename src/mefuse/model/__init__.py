"""The fusion classifier: per-modality multi-query attention pools, a fusion gate and a head.

Names load on first use (PEP 562) so that ``mefuse.model.strategies`` imports without torch.
"""

from mefuse.model.strategies import STRATEGIES

_LAZY: dict[str, str] = {
    "FusionNetwork": "mefuse.model.fusion",
    "MultiQueryAttentionPool": "mefuse.model.pool",
}


_RENAMED = {"FusionClassifier": "FusionNetwork"}  # rename-classes: keep
"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""


def __getattr__(name: str) -> object:
    """Load the torch-backed names on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _RENAMED:
        from mefuse.utils.deprecation import renamed

        return renamed(__name__, name, _RENAMED)
    raise AttributeError(f"module 'mefuse.model' has no attribute {name!r}")


__all__ = ["STRATEGIES", "FusionNetwork", "MultiQueryAttentionPool"]
