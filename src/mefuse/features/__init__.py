"""Per-frame feature extractors, their registry, and the on-disk feature store."""
