"""The ``mefuse`` command line: one entry point, one module per group of verbs."""
