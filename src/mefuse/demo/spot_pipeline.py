"""``mefuse demo --spot``: the weight-free spotter fitted and scored on generated long videos.

1. generate ``videos`` long videos (:mod:`mefuse.demo.long_videos`; the two real photographs
   in turn, each with micro- and macro-movements, head movements and an illumination change at
   known times);
2. compute each video's motion signal once (timed: frames per second);
3. fit the spotter's threshold on the first half of the videos **only**;
4. spot the other half and score them against the truth: F1 for ME, MaE and overall at
   IoU >= 0.5 (:mod:`mefuse.spotting.matching`), and the intervals that fell on a head movement
   or the illumination change (which should be none).

Tables and CSVs (``truth.csv``, ``spots.csv``, ``fit.csv``) go to ``out/spotting``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from mefuse.demo.long_videos import LongVideoSpec, make_long_video
from mefuse.errors import ConfigError
from mefuse.spotting.evaluation import f1_by_type, interval_iou
from mefuse.spotting.spotter import Spotter
from mefuse.utils.console import make_console, write_tables
from mefuse.utils.csvsafe import write_csv
from mefuse.utils.outputs import check_output_folder
from mefuse.utils.progress import progress_bar


@dataclass
class SpotDemoResult:
    """Training choice, test F1 (``ME``, ``MaE``, ``overall``), speed and the tables."""

    p: float
    train_f1: float
    test_f1: dict[str, float]
    frames_per_second: float
    false_on_distractors: int
    spots: pd.DataFrame
    truth: pd.DataFrame


def on_distractor(spots: pd.DataFrame, distractors: pd.DataFrame) -> int:
    """Spotted intervals that overlap a head movement or illumination change by IoU >= 0.5."""
    count = 0
    for row in spots.to_dict("records"):
        near = distractors[distractors["video"] == row["video"]]
        if any(interval_iou(int(row["onset"]), int(row["offset"]), int(d["onset"]),
                            int(d["offset"])) >= 0.5 for d in near.to_dict("records")):
            count += 1
    return count


def run_spot_demo(out: str | Path, *, videos: int = 6, spec: LongVideoSpec | None = None,
                  seed: int = 0, console: Console | None = None, progress: bool = True
                  ) -> SpotDemoResult:
    """Generate, fit on the first half, score on the second half; print and write tables."""
    if videos < 2:
        raise ConfigError(f"the spotting demo needs at least 2 videos, got {videos}")
    console = console or make_console()
    spec = spec or LongVideoSpec()
    folder = check_output_folder(out, "demo output folder") / "spotting"
    console.print("[bold]mefuse demo --spot[/bold]: real photographs with [bold]synthetic[/bold]"
                  f" movements; {videos} long videos of {spec.seconds:g} s at {spec.fps:g} fps")
    photos = ("astronaut", "hopper")
    spotter = Spotter()
    generated, signals = [], {}
    seconds = frames = 0.0
    with progress_bar("videos", videos, progress, unit="videos") as advance:
        for index in range(videos):
            video = make_long_video(replace(spec), seed=seed + index,
                                    photo=photos[index % len(photos)])
            start = time.perf_counter()
            signals[video.name] = spotter.signal(video.frames, video.fps)
            seconds += time.perf_counter() - start
            frames += len(video.frames)
            generated.append(video)
            advance()
    split = videos // 2
    train, test = generated[:split], generated[split:]
    truth = pd.concat([v.truth for v in generated], ignore_index=True)
    distractors = pd.concat([v.distractors for v in generated], ignore_index=True)
    fit = spotter.fit({v.name: signals[v.name] for v in train}, truth)
    spots = pd.concat([spotter.intervals(signals[v.name], v.name) for v in test],
                      ignore_index=True)
    test_truth = truth[truth["video"].isin([v.name for v in test])]
    scores = f1_by_type(spots, test_truth)
    false_alarms = on_distractor(spots, distractors)
    result = SpotDemoResult(fit.p, fit.f1, scores, frames / max(seconds, 1e-9), false_alarms,
                            spots, truth)
    table = Table("", "ME", "MaE", "overall", title=(
        f"demo --spot: threshold fitted on {len(train)} videos (p = {fit.p:g}, training F1 "
        f"{fit.f1:.2f}), scored on {len(test)} others (IoU >= 0.5)"), title_justify="left")
    table.add_row("F1", *(f"{scores[k]:.2f}" for k in ("ME", "MaE", "overall")))
    table.add_row("truth intervals", *(str(int((test_truth["type"] == k).sum()))
                                       for k in ("ME", "MaE")), str(len(test_truth)))
    table.add_row("spotted", *(str(int((spots["type"] == k).sum())) for k in ("ME", "MaE")),
                  str(len(spots)))
    console.print(table)
    console.print(f"spotted on a head movement or the illumination change: {false_alarms}; "
                  f"signal speed {result.frames_per_second:.0f} frames/s "
                  f"({spec.size} px frames, one process)")
    write_csv(truth, folder / "truth.csv")
    write_csv(spots, folder / "spots.csv")
    write_csv(fit.table, folder / "fit.csv")
    write_tables(folder, [table])
    console.print(f"results in {folder}")
    return result
