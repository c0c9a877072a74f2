"""The demo: generated datasets and stores, and ``mefuse demo``'s whole-pipeline run.

- :mod:`mefuse.demo.faces`: real face photographs animated with synthetic micro-movements,
  written in the 4DMR layout (``mefuse demo``);
- :mod:`mefuse.demo.features`: a synthetic feature store with known signal (``mefuse demo-store``,
  tests, benchmarks);
- :mod:`mefuse.demo.pipeline`: extract, cross-validate and print the comparison table.

It sits above training and preprocessing because it drives them; nothing below imports it.
"""

MAX_AMPLITUDE_SCALE = 10.0
"""Largest ``mefuse demo --amplitude``: 30 px at most at a 256 px face, already far past a
micro-movement (a larger warp folds the face over itself). Here, not in :mod:`.faces`, so that
the command line can name it without importing OpenCV."""
