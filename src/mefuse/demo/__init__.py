"""The demo: generated datasets and stores, and ``mefuse demo``'s whole-pipeline run.

- :mod:`mefuse.demo.faces`: real face photographs animated with synthetic micro-movements,
  written in the 4DMR layout (``mefuse demo``);
- :mod:`mefuse.demo.features`: a synthetic feature store with known signal (``mefuse demo-store``,
  tests, benchmarks);
- :mod:`mefuse.demo.pipeline`: extract, cross-validate and print the comparison table.

It sits above training and preprocessing because it drives them; nothing below imports it.
"""
