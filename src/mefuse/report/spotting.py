"""The spotting section of ``mefuse report``: a ``mefuse spot-eval`` run folder's scores (MEGC
table per spotter), its per-video counts and the spotted intervals beside the truth.

Read from the run folder's files only (``spot_results.json``, ``predictions.csv``,
``truth.csv``), so the report needs neither the videos nor their signals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.errors import DataError
from mefuse.utils.jsonfile import read_json_object

RESULTS = "spot_results.json"
FORMAT = "mefuse-spot-results"
SHOWN_INTERVALS = 300
"""At most this many interval rows in the page (the CSV has them all)."""


def _fmt(value: Any) -> str:
    return f"{float(value):.3f}"


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def spotting_section(source: Path) -> dict[str, Any]:
    """The template's ``spotting`` dict for a run folder holding ``spot_results.json``."""
    document = read_json_object(source / RESULTS, "spotting results",
                                "run 'mefuse spot-eval' again")
    if document.get("format") != FORMAT or not isinstance(document.get("spotters"), dict):
        raise DataError(f"{source / RESULTS} is not a 'mefuse spot-eval' results file")
    spotters: dict[str, Any] = document["spotters"]
    scores = []
    for kind, entry in spotters.items():
        for part in ("ME", "MaE", "overall"):
            counts = entry.get("scores", {}).get(part, {})
            scores.append({"spotter": kind, "part": part, "tp": counts.get("tp", 0),
                           "fp": counts.get("fp", 0), "fn": counts.get("fn", 0),
                           "precision": _fmt(counts.get("precision", 0)),
                           "recall": _fmt(counts.get("recall", 0)),
                           "f1": _fmt(counts.get("f1", 0))})
        if "strs" in entry:
            scores.append({"spotter": kind, "part": "STRS (ME)", "tp": "", "fp": "", "fn": "",
                           "precision": "", "recall": "", "f1": _fmt(entry["strs"]["strs"])})
    truth = _read_csv(source / "truth.csv")
    predictions = _read_csv(source / "predictions.csv")
    videos = []
    for video, info in document.get("videos", {}).items():
        mine = truth[truth["video"] == video] if "video" in truth else truth.iloc[0:0]
        row = {"video": video, "subject": info.get("subject", ""),
               "frames": info.get("frames", ""),
               "truth": f"{int((mine['type'] == 'ME').sum())} / "
                        f"{int((mine['type'] == 'MaE').sum())}" if len(mine) else "0 / 0",
               "cells": []}
        for entry in spotters.values():
            counts = entry.get("by_video", {}).get(video, {})
            row["cells"].append(f"{counts.get('tp', 0)} / {counts.get('fp', 0)} / "
                                f"{counts.get('fn', 0)}")
        videos.append(row)
    intervals = []
    if not truth.empty:
        intervals += [{"source": "truth", "video": r["video"], "onset": r["onset"],
                       "offset": r["offset"], "type": r["type"], "score": ""}
                      for r in truth.to_dict(orient="records")]
    if not predictions.empty and "spotter" in predictions:
        intervals += [{"source": r["spotter"], "video": r["video"], "onset": r["onset"],
                       "offset": r["offset"], "type": r["type"],
                       "score": f"{float(r['score']):.3g}"}
                      for r in predictions.to_dict(orient="records")]
    intervals.sort(key=lambda r: (str(r["video"]), int(r["onset"])))
    signals = document.get("signals", {})
    return {"spotters": list(spotters), "scores": scores, "videos": videos,
            "intervals": intervals[:SHOWN_INTERVALS], "n_intervals": len(intervals),
            "failed": document.get("failed", {}),
            "cards": [("dataset", str(document.get("dataset", "?"))),
                      ("videos", str(len(document.get("videos", {})))),
                      ("truth ME / MaE", f"{document.get('truth', {}).get('ME', 0)} / "
                                         f"{document.get('truth', {}).get('MaE', 0)}"),
                      ("protocol", str(document.get("protocol", "?"))),
                      ("signals computed / reused",
                       f"{signals.get('computed', 0)} / {signals.get('reused', 0)}")]}


__all__ = ["RESULTS", "spotting_section"]
