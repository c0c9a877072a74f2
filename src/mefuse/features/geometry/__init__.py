"""Geometry extractors: 3D expression coefficients (reconstruction encoders, MediaPipe)."""
