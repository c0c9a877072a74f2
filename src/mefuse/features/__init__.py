"""Per-frame feature extractors and their registry (the pipeline that runs them is
:mod:`mefuse.extraction`)."""
