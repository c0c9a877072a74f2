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
        "--threshold", help="weight-free spotter: peak height in noise deviations above the "
        "video's median (default: the spotter's, 10, or the spotter file's)")] = None,
    spotter_name: Annotated[str | None, typer.Option(
        "--spotter", help="weightfree (default) or learned (needs --spotter-file)",
        show_default=False)] = None,
    spotter_file: Annotated[Path | None, typer.Option(
        "--spotter-file", help="a spotter fitted on training videos by 'mefuse spot-eval "
        "--fit-out'")] = None,
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
    """Spot ME and MaE intervals (onset, apex, offset, type, score) in long videos, weight-free
    or with a fitted spotter file; with --model, classify each ME interval as well."""
    import pandas as pd

    from mefuse.data.frames import open_frames
    from mefuse.spotting.signal import check_fps
    from mefuse.spotting.spotter import Spotter
    from mefuse.utils.csvsafe import write_csv
    from mefuse.utils.outputs import OutputPlan
    from mefuse.utils.progress import progress_bar

    if fps is not None:
        check_fps(fps)
    chosen, signal_config = _spotter_for(spotter_name, spotter_file, threshold)
    if views != "auto":
        from mefuse.preprocess.views import views_for

        views_for(views)
    estimator = None
    if model is not None:
        from mefuse.train.trainer import TrainedModel

        estimator = TrainedModel.load(model)
    plan = OutputPlan().reads(model, "the model file").reads(spotter_file, "the spotter file")
    for item in inputs:
        plan.reads(item, "an input")
    plan.writes(out, "spotted intervals -o")
    plan.check()
    reader = Spotter(signal_config)
    tables = []
    for item in inputs:
        with open_frames(item) as source:  # a missing or unreadable input is named here
            length = len(source)
        with progress_bar(f"spot {item.name}", length, not quiet, unit="frames") as advance:
            signal = reader.signal(item, fps, progress=advance)
        found = chosen.spot(signal.values, signal.fps, _name(item))
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


def _spotter_for(name: str | None, path: Path | None, threshold: float | None) -> Any:
    """The spotter ``mefuse spot`` applies and the signal settings it reads, from
    ``--spotter``, ``--spotter-file`` and ``--threshold`` (one-line errors for bad mixes)."""
    import dataclasses

    from mefuse.errors import ConfigError
    from mefuse.spotting.intervals import IntervalRule
    from mefuse.spotting.signal import SignalConfig
    from mefuse.spotting.spotter import Spotter
    from mefuse.spotting.weightfree import (
        SPOTTER_KINDS,
        WeightFreeSpotter,
        load_spotter,
        spotter_kind,
    )

    if name is not None and name not in SPOTTER_KINDS:
        raise ConfigError(f"--spotter must be one of {', '.join(SPOTTER_KINDS)}, got {name!r}")
    if path is None:
        if name == "learned":
            raise ConfigError("--spotter learned needs --spotter-file: fit it on labelled videos "
                              "with 'mefuse spot-eval --spotter learned --fit-out spotter.json'")
        rule = IntervalRule() if threshold is None else IntervalRule(p=threshold)
        rule.check()
        return WeightFreeSpotter(Spotter(rule=rule)), SignalConfig()
    spotter, signal_config = load_spotter(path)
    kind = spotter_kind(spotter)
    if name is not None and name != kind:
        raise ConfigError(f"--spotter {name} but {path} holds a {kind} spotter")
    if threshold is not None:
        if not isinstance(spotter, WeightFreeSpotter):
            raise ConfigError("--threshold applies to the weight-free spotter; the learned "
                              "spotter's threshold is fitted with it")
        rule = dataclasses.replace(spotter.spotter.rule, p=threshold)
        rule.check()
        spotter.spotter.rule = rule
    return spotter, signal_config


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
                     str(row.type), f"{row.score:.3g}", *cells)
    return view


def spot_eval(
    dataset: Annotated[str, typer.Option(
        "--dataset", "-d", help="long-video dataset kind: casme2-lv, samm-lv or casme3-lv",
        show_default=False)],
    root: Annotated[Path, typer.Option("--root", "-r", help="the dataset's folder",
                                       show_default=False)],
    labels: Annotated[Path | None, typer.Option(
        "--labels", help="the label sheet (default: found in the root)")] = None,
    spotter_name: Annotated[str | None, typer.Option(
        "--spotter", help="weightfree, learned or both (default: both; with --fit-out: "
        "weightfree)", show_default=False)] = None,
    loso: Annotated[bool, typer.Option(
        "--loso/--no-loso", help="leave-one-subject-out evaluation (--no-loso: only fit, "
        "with --fit-out)")] = True,
    fit_out: Annotated[Path | None, typer.Option(
        "--fit-out", help="fit the spotter on every video and save it here (JSON) for "
        "'mefuse spot --spotter-file'")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="model written by 'mefuse train': recognise each spotted ME interval "
        "and score spot-then-recognise (STRS) against the truth's emotions")] = None,
    views: Annotated[str, typer.Option(
        help="with --model: camera layout of the videos (auto: the model's training data's; "
        "none for one face per frame)")] = "auto",
    device: DeviceOpt = None,
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="run folder: signals/, predictions.csv, truth.csv, "
        "spot_results.json")] = Path("runs/spot-eval"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")] = False,
) -> None:
    """Evaluate spotters on a labelled long-video dataset (leave-one-subject-out, MEGC scores)
    and/or fit one on it; per-frame signals are computed once and stored under OUT/signals."""
    from mefuse.data.adapters import load_long_videos
    from mefuse.errors import ConfigError
    from mefuse.spotting import dataset_eval as de
    from mefuse.spotting.signal import SignalConfig
    from mefuse.spotting.signal_store import SIGNALS, SignalStore
    from mefuse.spotting.weightfree import SPOTTER_KINDS, save_spotter
    from mefuse.utils.outputs import OutputPlan
    from mefuse.utils.progress import progress_bar

    choices = (*SPOTTER_KINDS, "both")
    if spotter_name is not None and spotter_name not in choices:
        raise ConfigError(f"--spotter must be one of {', '.join(choices)}, got {spotter_name!r}")
    if fit_out is not None and spotter_name == "both":
        raise ConfigError("--fit-out saves one spotter: choose --spotter weightfree or learned")
    if not loso and fit_out is None:
        raise ConfigError("--no-loso leaves nothing to do: add --fit-out FILE")
    if model is not None and not loso:
        raise ConfigError("--model scores the leave-one-subject-out predictions: drop --no-loso")
    kinds = list(SPOTTER_KINDS) if spotter_name in (None, "both") else [spotter_name]
    if views != "auto":
        from mefuse.preprocess.views import views_for

        views_for(views)
    if not root.exists():
        raise ConfigError(f"--root {root} does not exist")
    estimator = None
    if model is not None:
        from mefuse.train.trainer import TrainedModel

        estimator = TrainedModel.load(model)
    plan = OutputPlan().reads(model, "the model file").reads(labels, "the label sheet")
    if loso:
        plan.writes(out / de.RESULTS, "spotting results")
    if fit_out is not None:
        plan.writes(fit_out, "the fitted spotter --fit-out")
    plan.check()
    data = load_long_videos(dataset, root, labels)
    for problem in data.errors[:10]:
        console.print(f"[yellow]warning:[/] {escape(problem)}")
    if len(data.errors) > 10:
        console.print(f"[yellow]warning:[/] ... and {len(data.errors) - 10} more problems in the "
                      "labels")
    if not data.videos:
        raise ConfigError(f"{root}: the {dataset} adapter found no video")
    config = SignalConfig()
    store = SignalStore(out / SIGNALS, config)

    def bar(item: Any, frames: int) -> Any:
        return progress_bar(f"signal {item.video}", frames, not quiet, unit="frames")

    stored = store.compute(de.dataset_inputs(data), bar=bar,
                           report=lambda line: console.print(f"[yellow]warning:[/] "
                                                             f"{escape(line)}"))
    console.print(f"signals: {len(stored.computed)} computed, {len(stored.reused)} reused, "
                  f"{len(stored.failed)} failed ({out / SIGNALS})")
    truth = de.usable_truth(data, stored)
    if loso:
        runs = de.run_loso(stored, truth, kinds, signal_config=config,
                           progress=None if quiet else console.print)
        predictions = de.predictions_table(runs)
        if estimator is not None:
            predictions = _score_strs(runs, predictions, truth, data, estimator, views, device,
                                      quiet)
        document = de.results_document(data.name, root, runs, stored, truth,
                                       signal_config=config)
        paths = de.write_run(out, document, predictions, truth)
        for run in runs:
            console.print(scores_table(run))
        console.print(f"wrote {paths['results']} and {paths['predictions']}")
    if fit_out is not None:
        kind = kinds[0] if spotter_name is not None else "weightfree"
        fitted = de.fit_spotter(stored, truth, kind, signal_config=config)
        save_spotter(fitted, fit_out, config)
        console.print(f"fitted the {kind} spotter on {len(stored.signals)} videos; wrote "
                      f"{fit_out}")


def _score_strs(runs: Any, predictions: Any, truth: Any, data: Any, estimator: Any, views: str,
                device: str | None, quiet: bool) -> Any:
    """Recognise each spotter's ME intervals and set its STRS (ME track, MEGC 2025)."""
    import pandas as pd

    from mefuse.errors import DataError
    from mefuse.spot_recognise import recognise_predictions
    from mefuse.spotting.evaluation import str_score

    if "emotion" not in truth.columns or not truth["emotion"].fillna("").astype(str).str.strip(
            ).any():
        raise DataError(f"{data.name}: the truth has no emotions; STRS (--model) needs them")
    sources = {v.video_id: v.source for v in data.videos}
    parts = []
    for run in runs:
        rows = predictions[predictions["spotter"] == run.kind]
        recognised = recognise_predictions(rows, sources, estimator, views=views, device=device,
                                           progress=not quiet)
        me = recognised[recognised["type"] == "ME"]
        run.strs = str_score(me, truth[truth["type"] == "ME"], types="ME")
        parts.append(recognised)
    return pd.concat(parts, ignore_index=True)


def scores_table(run: Any) -> Any:
    """One spotter's MEGC table: TP, FP, FN, precision, recall, F1 for ME, MaE and overall."""
    from rich.table import Table

    view = Table("", "TP", "FP", "FN", "precision", "recall", "F1",
                 title=f"{run.kind} spotter, leave-one-subject-out", title_justify="left",
                 caption="IoU >= 0.5; counts summed over videos", caption_justify="left")
    for name, row in run.result.scores.table().iterrows():
        view.add_row(str(name), *(str(int(row[c])) for c in ("tp", "fp", "fn")),
                     *(f"{row[c]:.3f}" for c in ("precision", "recall", "f1")))
    if run.strs is not None:
        view.add_row("STRS (ME)", "", "", "", "", "", f"{run.strs.strs:.3f}")
    return view


def register(app: typer.Typer) -> None:
    app.command("spot")(spot)
    app.command("spot-eval")(spot_eval)


__all__ = ["register", "scores_table", "spot", "spot_eval"]
