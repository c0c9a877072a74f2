"""Benchmark grids: every extractor alone, their pairings and a fusion-strategy ablation.

- :mod:`mefuse.bench.groups` sorts a store's extractor keys into appearance and geometry;
- :mod:`mefuse.bench.grid` builds the cells (feature set x strategy) and their stable ids;
- :mod:`mefuse.bench.runner` runs the cells, resumable and in parallel;
- :mod:`mefuse.bench.tables` turns finished cells into CSV and paper-style markdown tables.
"""
