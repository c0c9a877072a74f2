"""Appearance extractors: weight-free dense optical flow and foundation-model embeddings."""
