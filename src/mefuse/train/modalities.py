"""Modality names in a configuration, matched to the extractor keys of a store.

A preset names a modality by its extractor (``radio``), while the store folder is the
extractor's key, which may carry its variant (``radio_v2.5-g``, ``siglip2-large-patch16-256``).
A name that is exactly a key is used as is; otherwise the single key that starts with the name
followed by ``_``, ``-`` or ``.`` is used (and said); several candidates, or none, are an error
that lists the store's keys, so a modality is never guessed between two variants. The matching
lives in :mod:`mefuse.store.modalities` (:meth:`FeatureStore.resolve`); this module keeps its
old names.
"""

from __future__ import annotations

from collections.abc import Sequence

from mefuse.store.modalities import SEPARATORS, resolve_modalities

__all__ = ["SEPARATORS", "pool_names", "resolve_modalities"]


def pool_names(strategy: str, modalities: Sequence[str]) -> list[str]:
    """One name per attention pool of the model: ``concat`` pools all modalities together
    (``"a+b"``), every other strategy has one pool per modality. Gate weights and attention maps
    are labelled with these names."""
    return ["+".join(modalities)] if strategy == "concat" else list(modalities)
