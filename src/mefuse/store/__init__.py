"""The feature store: per-clip arrays on disk with their manifests and quality table.

It sits low in the layers (above data and preprocess, below the extractors) so training,
benchmarks, importers and the demo can read and write stores without importing any extractor.
"""

from mefuse.store import layout
from mefuse.store.feature_store import (
    CONFIG_FIELDS,
    ExtractorInfo,
    FeatureStore,
    StoreWriter,
    check_key,
    read_manifest,
)

__all__ = [
    "CONFIG_FIELDS", "ExtractorInfo", "FeatureStore", "StoreWriter", "check_key", "layout",
    "read_manifest",
]
