"""Spotting expressions in long videos: the MEGC evaluation (and, beside it, the spotters).

A layer of its own right above ``train``: it needs the data layer's interval table and may use
trained models, and the reporting and CLI layers above it call it.
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

__all__ += ["LearnedSettings", "LearnedSpotter", "LosoResult", "Spotter", "evaluate_loso"]
