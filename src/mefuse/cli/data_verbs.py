"""Verbs that turn face video into features: ``check-data``, ``extract`` and ``demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mefuse.cli.shared_options import (
    COMPOSITE_HELP,
    DATASET_HELP,
    PART_LABELS_HELP,
    AddressOpt,
    device_callback,
    echo_listing,
    resolve_part_views,
    seeds_callback,
)
from mefuse.demo import MAX_AMPLITUDE_SCALE
from mefuse.errors import ConfigError
from mefuse.preprocess.views import VIEWS_HELP
from mefuse.utils.console import make_console
from mefuse.utils.options import DEVICE_FORMS, parse_value

console = make_console()

MaxFacelessOpt = Annotated[float, typer.Option(
    "--max-faceless", help="largest share (0..1) of a clip's crops without a face; a clip with "
    "more fails at stage 'faces' (needs the presence check)")]
KeepFacelessOpt = Annotated[bool, typer.Option(
    "--keep-faceless", help="keep clips over --max-faceless all the same (their share is in "
    "quality.csv; predict warns and writes it)")]

WorkersOpt = Annotated[int, typer.Option(
    min=0, help="threads reading and cropping ahead (0: none, each clip is read when the "
    "extractor needs it)")]

LabelsOpt = Annotated[list[str] | None, typer.Option("--labels", help=PART_LABELS_HELP)]


def parse_options(items: list[str] | None, extractors: list[str]) -> dict[str, dict[str, Any]]:
    """``name.key=value`` strings as per-extractor keyword arguments (values read as YAML, so
    ``3``, ``true`` and ``0.5`` get their types)."""
    out: dict[str, dict[str, Any]] = {name: {} for name in extractors}
    for item in items or []:
        target, sep, value = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise ConfigError(f"--option takes EXTRACTOR.KEY=VALUE, got {item!r}")
        if name not in out:
            raise ConfigError(f"--option {item!r} names extractor {name!r}, which is not being "
                              f"extracted ({', '.join(extractors)})")
        out[name][key] = parse_value(value, item, "--option")
    return out


def _list_extractors(value: bool) -> None:
    """``extract --list``: the registered extractors, one per line, then exit."""
    if not value:
        return
    from mefuse.features.base import list_extractors

    echo_listing(list_extractors())


def extract(
    store: Annotated[Path, typer.Option("--store", "-s", help="feature store to write")],
    extractor: Annotated[list[str], typer.Option(
        "--extractor", "-e", help="extractor name (repeat); see 'mefuse extract --list'")],
    dataset: Annotated[list[str] | None, typer.Option(
        "--dataset", "-d", help=DATASET_HELP)] = None,
    root: Annotated[Path | None, typer.Option("--root", "-r", help="dataset root folder")] = None,
    labels: LabelsOpt = None,
    composite: Annotated[str | None, typer.Option(help=COMPOSITE_HELP)] = None,
    dataset_option: Annotated[list[str] | None, typer.Option(
        "--dataset-option", help="adapter setting KEY=VALUE, e.g. composite=true (casme2, samm, "
        "smic, casme3, mmew), classes=4 (casme3), part=NIR (smic); NAME.KEY=VALUE with several "
        "datasets")] = None,
    clips: Annotated[Path | None, typer.Option(
        "--clips", help="a clip table with a 'source' column, instead of --dataset/--root")
    ] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="extractor setting NAME.KEY=VALUE, e.g. radio.version=radio_v2.5-l"
    )] = None,
    views: Annotated[str, typer.Option(help=VIEWS_HELP)] = "auto",
    crop_size: Annotated[int, typer.Option(help="side of the face crops (paper: 1024)")] = 1024,
    frames: Annotated[int, typer.Option(
        "--sample-frames", "--frames", help="frames extracted per clip by the paper's "
        "uniform rule (0 = every frame of the window); not the model's input length, which "
        "cv/train --frames sets")] = 0,
    face_search: Annotated[int, typer.Option(
        min=0, help="frames searched, from the first, until a face is found (0 = the whole "
        "clip)")] = 100,
    presence_check: Annotated[bool, typer.Option(
        "--presence-check/--no-presence-check",
        help="count the crops without a face (quality.csv); costs one small detection per crop")
    ] = True,
    max_faceless: MaxFacelessOpt = 0.2,
    keep_faceless: KeepFacelessOpt = False,
    workers: WorkersOpt = 1,
    batch_clips: Annotated[int, typer.Option(min=1, help="clips per extractor call")] = 1,
    shard: Annotated[str | None, typer.Option(help="K/N: this process's share")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="parallel workers: processes for mesh3d/flow (default: every "
        "core; model extractors: 1), Ray actors with --executor ray (default: the cluster's "
        "CPUs, or GPUs for models on cuda)")] = None,
    executor: Annotated[str, typer.Option(
        help=escape("local (this machine) or ray (a Ray cluster; pip install 'mefuse[ray]')"))
    ] = "local",
    address: AddressOpt = None,
    device: Annotated[str | None, typer.Option(
        help=f"{DEVICE_FORMS} (default: each extractor's own, usually auto)",
        callback=device_callback)] = None,
    overwrite: Annotated[bool, typer.Option(
        help="replace features made with another configuration")] = False,
    save_crops: Annotated[Path | None, typer.Option(help="also save the face crops here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    list_: Annotated[bool, typer.Option(
        "--list", callback=_list_extractors, is_eager=True, expose_value=False,
        help="list the available extractors and exit")] = False,
) -> None:
    """Read a dataset, crop the faces and write features to a store (resumable)."""
    from mefuse.data.adapters.composite import dataset_parts
    from mefuse.extraction.job import ExtractionJob, parse_shard
    from mefuse.extraction.parallel import extract_parallel
    from mefuse.extraction.specs import ExtractorSpec
    from mefuse.features.base import check_extractor_options, list_extractors
    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.preprocess.views import resolve_views, views_for
    from mefuse.scale.cluster import check_executor
    from mefuse.store.reports import Failure

    check_executor(executor, address)
    parts = None
    if clips is not None:
        if dataset or root or labels or composite:
            raise ConfigError("give either --clips or --dataset/--root, not both")
        views = resolve_views(views, None)
    elif dataset:
        parts = dataset_parts(dataset, root, labels, dataset_option)
        views = resolve_part_views(views, [p.name for p in parts])
    else:  # no data named: said after the run options are checked, as before
        views = resolve_views(views, None)
    preprocess = PreprocessConfig(views=views, crop_size=crop_size, frames=frames,
                                  face_search=face_search, presence_check=presence_check,
                                  max_faceless=max_faceless, keep_faceless=keep_faceless)
    options = parse_options(option, extractor)
    registry = list_extractors()
    for name in extractor:
        if name not in registry:
            raise ConfigError(f"unknown extractor {name!r}; available: {', '.join(registry)}")
        check_extractor_options(name, registry[name], options[name])  # before any data is read
    specs = [ExtractorSpec(name, options[name], device) for name in extractor]
    job = ExtractionJob(preprocess, overwrite=overwrite, workers=workers,
                        batch_clips=batch_clips, jobs=jobs, shard=parse_shard(shard),
                        save_crops=save_crops, progress=not quiet)
    if executor == "ray" and shard:
        raise ConfigError("--shard splits work by hand; --executor ray splits it for you: "
                          "give one of them")
    if executor == "ray":  # bad options of a cheap extractor fail here, once, not per actor
        for spec in specs:
            if spec.weight_free:
                spec.build().close()
    table, problems = _clip_source(parts, composite, clips, views_for(views))
    failures = [Failure("-", "dataset", p) for p in problems]
    if executor == "ray":
        from mefuse.scale.ray_extract import extract_with_ray

        summary = extract_with_ray(table, store, specs, job, address=address, device=device,
                                   problems=failures)
    else:
        summary = extract_parallel(table, store, specs, job, problems=failures)
    for failure in summary.failures:
        console.print(f"[red]failed[/red] {escape(failure.clip_id)} at {failure.stage}: "
                      f"{escape(failure.reason)}")
    console.print(summary.line())
    console.print(summary.faces_line())
    if summary.apex_line():
        console.print(summary.apex_line())
    console.print(f"store: {store} (clips.csv, failures.csv, quality.csv, one folder per "
                  "extractor)")


def _clip_source(parts: list[Any] | None, composite: str | None, clips: Path | None,
                 views: tuple[str, ...]):
    """The clip table to extract: from the datasets' adapters (several merged into one
    composite table) or from a ready clip table."""
    from mefuse.data.clips import ClipTable

    if parts is None:
        if clips is None:
            raise ConfigError("name the data: --dataset KIND --root FOLDER, --dataset "
                              "KIND:FOLDER (repeat for a composite), or --clips CLIPS.csv")
        table = ClipTable.read(clips, unlabelled=True)  # extraction needs no labels
        if "source" not in table.frame.columns:
            raise ConfigError(f"{clips} has no 'source' column naming each clip's frames")
        table.frame["source"] = [str((clips.parent / s) if not Path(s).is_absolute() else s)
                                 for s in table.frame["source"]]
        return table, []
    from mefuse.data.adapters import clip_table
    from mefuse.data.adapters.composite import load_parts

    data = load_parts(parts, composite=composite)
    for problem in data.problems:
        console.print(f"[yellow]dataset:[/yellow] {escape(problem)}")
    return clip_table(data, views), [p for p in data.problems if not p.startswith("note:")]


def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for the demo's data and results")
                   ] = Path("demo_out"),
    sequences_per_subject: Annotated[int, typer.Option(
        min=1, help="sequences per demo subject")] = 10,
    seeds: Annotated[str, typer.Option(help="training seeds: 0,1,2 or 0-2",
                                       callback=seeds_callback)] = "0",
    workers: WorkersOpt = 1,
    spot: Annotated[bool, typer.Option(
        "--spot", help="instead: generated long videos; fit the weight-free spotter on half, "
        "report its F1 on the others")] = False,
    videos: Annotated[int, typer.Option(
        min=2, help="with --spot: long videos to generate")] = 6,
    amplitude: Annotated[float, typer.Option(
        min=0.0, max=MAX_AMPLITUDE_SCALE, help="factor on the movements' amplitude (1: 1 to "
        "3 px at a 256 px face; 0.5 is harder, 0 moves nothing: a chance-level control; with "
        "--spot, the long videos' movements)")
    ] = 1.0,
) -> None:
    """Real faces with synthetic micro-movements: extract mesh3d + flow, compare strategies
    (--spot: spot movements in generated long videos instead)."""
    from mefuse.demo.pipeline import run_demo

    if spot:
        from mefuse.demo.long_videos import LongVideoSpec
        from mefuse.demo.spot_pipeline import run_spot_demo

        base = LongVideoSpec()
        spec = LongVideoSpec(
            micro_amplitude=tuple(amplitude * a for a in base.micro_amplitude),  # type: ignore[arg-type]
            macro_amplitude=tuple(amplitude * a for a in base.macro_amplitude))  # type: ignore[arg-type]
        run_spot_demo(out, videos=videos, spec=spec, console=console)
        return
    run_demo(out, sequences_per_subject=sequences_per_subject,
             seeds=[int(s) for s in seeds.split(",")], workers=workers, console=console,
             amplitude=amplitude)


def register(app: typer.Typer) -> None:
    from mefuse.cli.check_data import check_data_command

    app.command("check-data")(check_data_command)
    app.command("extract")(extract)
    app.command("demo")(demo)
