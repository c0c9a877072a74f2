"""The visual report of a ``mefuse cv`` run or a ``mefuse bench`` folder.

- :mod:`mefuse.report.analysis` computes what is plotted (confusion counts, gate weights,
  class-averaged attention, fold scores) from a :class:`~mefuse.train.results.CVResult`;
- :mod:`mefuse.report.plots` draws it with matplotlib (Agg canvas, no global backend change);
- :mod:`mefuse.report.html` assembles one self-contained HTML page with the PNGs beside it;
- :mod:`mefuse.report.browser` renders that page in headless Chromium, for checks.
"""

from mefuse.report.html import write_report

__all__ = ["write_report"]
