"""Spotting: finding when micro- and macro-expressions happen in long videos, and scoring it.

- :mod:`mefuse.spotting.signal`: the streaming per-frame motion signal (face regions placed by
  the mesh, each frame against the frame ``k`` earlier, head motion and illumination removed);
- :mod:`mefuse.spotting.intervals`: peaks of that signal turned into onset/apex/offset
  intervals with a type (ME or MaE) and a score;
- :mod:`mefuse.spotting.spotter`: :class:`~mefuse.spotting.spotter.Spotter`, the weight-free
  spotter, whose threshold is fitted on training videos only and applied to new ones;
- :mod:`mefuse.spotting.weightfree`: that spotter behind the common ``fit(signals, fps, truth)``
  / ``spot(signal, fps, video)`` interface (:mod:`mefuse.spotting.loso`), and the spotter file;
- :mod:`mefuse.spotting.signal_store`: per-frame signals stored once per video;
- :mod:`mefuse.spotting.dataset_eval`: leave-one-subject-out on a labelled long-video dataset
  (``mefuse spot-eval``);
- :mod:`mefuse.spotting.evaluation`: the MEGC evaluation (IoU >= 0.5 with a truth of the same
  type, each truth matched once, P/R/F1 accumulated over videos) and MEGC 2025's STRS.

A layer right above ``train``: it reuses ``regionflow``'s region layout and head-motion fit,
may use trained models, and the reporting and CLI layers above it call it. Spot-then-recognise,
which needs the inference path, lives in :mod:`mefuse.spot_recognise`.
"""

from mefuse.spotting.evaluation import (
    IOU_THRESHOLD,
    Counts,
    SpottingScores,
    STRScores,
    evaluate_spotting,
    interval_iou,
    match_intervals,
    str_score,
)

__all__ = ["IOU_THRESHOLD", "Counts", "STRScores", "SpottingScores", "evaluate_spotting",
           "interval_iou", "match_intervals", "str_score"]

from mefuse.spotting.learned import LearnedSettings, LearnedSpotter
from mefuse.spotting.loso import LosoResult, Spotter, evaluate_loso
from mefuse.spotting.signal_store import SignalStore, StoredSignals, VideoInput
from mefuse.spotting.weightfree import WeightFreeSpotter, load_spotter, new_spotter, save_spotter

__all__ += ["LearnedSettings", "LearnedSpotter", "LosoResult", "Spotter", "evaluate_loso"]
__all__ += ["SignalStore", "StoredSignals", "VideoInput", "WeightFreeSpotter", "load_spotter",
            "new_spotter", "save_spotter"]
