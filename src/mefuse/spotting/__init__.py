"""Spotting: finding when micro- and macro-expressions happen in long videos, without weights.

- :mod:`mefuse.spotting.signal`: the streaming per-frame motion signal (face regions placed by
  the mesh, each frame against the frame ``k`` earlier, head motion and illumination removed);
- :mod:`mefuse.spotting.intervals`: peaks of that signal turned into onset/apex/offset
  intervals with a type (ME or MaE) and a score;
- :mod:`mefuse.spotting.spotter`: :class:`~mefuse.spotting.spotter.Spotter`, whose threshold is
  fitted on training videos only, and ``spot`` applied to new ones;
- :mod:`mefuse.spotting.matching`: a minimal IoU >= 0.5 matcher used by ``fit`` to score a
  threshold (the MEGC evaluation module supersedes it for reporting).

It sits above the feature extractors (it reuses ``regionflow``'s region layout and head-motion
fit) and below training; spot-then-recognise, which needs a trained model, lives in
:mod:`mefuse.spot_recognise`.
"""
