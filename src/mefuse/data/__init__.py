"""Clip tables, frame sources, dataset adapters and demo data."""
