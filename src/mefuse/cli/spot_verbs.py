"""``mefuse spot``: spot micro- and macro-expressions in long videos (and recognise them)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mefuse.cli.shared_options import DeviceOpt
from mefuse.utils.console import make_console

console = make_console()


def spot(
    inputs: Annotated[list[Path], typer.Argument(
        help="long videos: video files or frame folders", show_default=False)],
    fps: Annotated[float | None, typer.Option(
        "--fps", help="frame rate: required for frame folders; for video files read from the "
        "file unless given here")] = None,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="peak height in noise deviations above the video's median "
        "(default: the spotter's, 10; fit it on training videos with the Python API)")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="model written by 'mefuse train': classify each spotted ME interval "
        "and add its class probabilities (spot then recognise)")] = None,
    views: Annotated[str, typer.Option(
        help="with --model: camera layout of the videos (auto: the model's training data's; "
        "none for one face per frame)")] = "auto",
    device: DeviceOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of spotted intervals")] = Path(
        "runs/spots.csv"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Spot ME and MaE intervals (onset, apex, offset, type, score) in long videos, weight-free;
    with --model, classify each ME interval as well."""
    import pandas as pd

    from mefuse.data.frames import open_frames
    from mefuse.spotting.intervals import IntervalRule
    from mefuse.spotting.signal import check_fps
    from mefuse.spotting.spotter import Spotter
    from mefuse.utils.csvsafe import write_csv
    from mefuse.utils.outputs import OutputPlan
    from mefuse.utils.progress import progress_bar

    if fps is not None:
        check_fps(fps)
    rule = IntervalRule() if threshold is None else IntervalRule(p=threshold)
    rule.check()
    if views != "auto":
        from mefuse.preprocess.views import views_for

        views_for(views)
    estimator = None
    if model is not None:
        from mefuse.train.trainer import TrainedModel

        estimator = TrainedModel.load(model)
    plan = OutputPlan().reads(model, "the model file")
    for item in inputs:
        plan.reads(item, "an input")
    plan.writes(out, "spotted intervals -o")
    plan.check()
    spotter = Spotter(rule=rule)
    tables = []
    for item in inputs:
        with open_frames(item) as source:  # a missing or unreadable input is named here
            length = len(source)
        with progress_bar(f"spot {item.name}", length, not quiet, unit="frames") as advance:
            found = spotter.spot(item, fps, name=_name(item), progress=advance)
        if estimator is not None:
            from mefuse.spot_recognise import recognise_intervals

            found = recognise_intervals(item, found, estimator, views=views, device=device,
                                        progress=not quiet)
        tables.append(found)
    table = pd.concat(tables, ignore_index=True)
    write_csv(table, out)
    console.print(spot_table(table))
    counts = table["type"].value_counts()
    console.print(f"spotted {counts.get('ME', 0)} ME and {counts.get('MaE', 0)} MaE intervals "
                  f"in {len(inputs)} video{'s' if len(inputs) != 1 else ''}; wrote {out}")


def _name(path: Path) -> str:
    from mefuse.inference import input_name

    return input_name(path)


def spot_table(table: Any) -> Any:
    """The intervals (and class probabilities, when recognised) as a rich table."""
    from rich.table import Table

    classes = [c for c in table.columns if c.startswith("p_")]
    view = Table("video", "onset", "apex", "offset", "type", "score", *[c[2:] for c in classes],
                 title="spotted intervals (frame positions, 0-based)", title_justify="left")
    for row in table.head(100).itertuples():
        cells = [f"{getattr(row, c):.2f}" if getattr(row, c) == getattr(row, c) else "-"
                 for c in classes]
        view.add_row(escape(str(row.video)), str(row.onset), str(row.apex), str(row.offset),
                     str(row.type), f"{row.score:.1f}", *cells)
    return view


def register(app: typer.Typer) -> None:
    app.command("spot")(spot)


__all__ = ["register", "spot"]
