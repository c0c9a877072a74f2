"""Verbs that work on a feature store: ``cv``, ``train``, ``predict`` and ``demo-store``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape

from mefuse.cli.data_verbs import KeepFacelessOpt, MaxFacelessOpt
from mefuse.cli.shared_options import (
    ArchitectureOpt,
    BatchOpt,
    ClassesOpt,
    ClipsOpt,
    ConfigOpt,
    DeviceOpt,
    EngineOpt,
    EpochsOpt,
    FoldsOpt,
    FramesOpt,
    LevelOpt,
    LrOpt,
    MaxStackOpt,
    ModalityOpt,
    MotionOpt,
    PositionOpt,
    PresetOpt,
    ProtocolOpt,
    SamplingOpt,
    SeedOpt,
    SeedsOpt,
    StoreOpt,
    StrategyOpt,
    TaskOpt,
    ThresholdsOpt,
    config_data,
    config_flags,
    parse_classes,
    resolve_store_modalities,
    section_flags,
    single_label_hint,
    store_task_defaults,
    train_config_data,
)
from mefuse.errors import DataError
from mefuse.store import FeatureStore
from mefuse.utils.console import make_console
from mefuse.utils.outputs import OutputPlan

console = make_console()


@section_flags("fusion")
def cv(
    store: StoreOpt,
    clips: ClipsOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    modality: ModalityOpt = None,
    strategy: StrategyOpt = None,
    architecture: ArchitectureOpt = None,
    protocol: ProtocolOpt = None,
    folds: FoldsOpt = None,
    seeds: SeedsOpt = None,
    task: TaskOpt = None,
    classes: ClassesOpt = None,
    level: LevelOpt = None,
    frames: FramesOpt = None,
    sampling: SamplingOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    thresholds: ThresholdsOpt = None,
    position: PositionOpt = None,
    motion: MotionOpt = None,
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    max_stack: MaxStackOpt = None,
    fusion: dict[str, Any] | None = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for results.json")] = Path(
        "runs/cv"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
    audit: Annotated[bool, typer.Option(
        "--audit", help="also score every epoch on its test fold to show how much the field's "
        "leaky rule (best epoch chosen on the test fold) would inflate the result; reported "
        "apart, labelled leaky, never as the result")] = False,
) -> None:
    """Cross-validate one configuration on a feature store and write results.json."""
    from mefuse.train.config import CVConfig, build_config
    from mefuse.train.cv import run_cv
    from mefuse.train.protocols import optimism_note
    from mefuse.train.report_table import (
        confusion_matrix_table,
        dataset_part_table,
        result_table,
    )
    from mefuse.utils.console import write_tables

    data = config_data(config, preset, **config_flags(locals()))
    feature_store = FeatureStore(store)  # checked by its first read, after the flags' errors
    store_task_defaults(store, data, task, parse_classes(classes))
    resolve_store_modalities(feature_store, data, console)
    cv_config = build_config(CVConfig, data, str(config) if config else "the preset and flags")
    if cv_config.engine == "batched" and cv_config.model.architecture != "fusion":
        console.print(f"[dim]note: {cv_config.model.architecture} trains one fit at a time (the "
                      "batched engine stacks fusion networks only)[/dim]")
    plan = OutputPlan().uses_store(feature_store).reads(clips, "the clip table")
    plan.reads(config, "the configuration file")
    for name in ("results.json", "predictions.csv", "attention.npz"):
        plan.writes(out / name, f"cv results -o {out}:")
    plan.check()
    table = feature_store.clips(clips, cv_config.classes)
    single_label_hint(store, table, cv_config.task)
    result = run_cv(feature_store, table, cv_config, progress=not quiet, audit=audit)
    path = result.write(out)
    tables = [result_table(result)]
    for extra in (dataset_part_table(result), confusion_matrix_table(result)):
        if extra is not None:
            tables.append(extra)
    if result.audit is not None:
        from mefuse.train.audit import audit_table

        tables.append(audit_table(result.audit))
    for table_ in tables:
        console.print(table_)
    for message in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(message)}")
    note = optimism_note(result.config["protocol"], result.folds)
    if note:
        console.print(f"[blue]note:[/blue] {note}", highlight=False)
    written = write_tables(out, tables)
    console.print(f"wrote {path} and {', '.join(p.name for p in written)}")


@section_flags("fusion")
def train(
    store: StoreOpt,
    clips: ClipsOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    modality: ModalityOpt = None,
    strategy: StrategyOpt = None,
    architecture: ArchitectureOpt = None,
    task: TaskOpt = None,
    classes: ClassesOpt = None,
    frames: FramesOpt = None,
    sampling: SamplingOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    thresholds: ThresholdsOpt = None,
    position: PositionOpt = None,
    motion: MotionOpt = None,
    device: DeviceOpt = None,
    seed: SeedOpt = 0,
    fusion: dict[str, Any] | None = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="model file to write")] = Path(
        "runs/model.pt"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Fit one model on all labelled clips of a store and save it."""
    from mefuse.train.config import TrainConfig, build_config
    from mefuse.train.fit import fit_on_store

    data = train_config_data(config, preset, **config_flags(locals()))
    feature_store = FeatureStore(store)  # checked by its first read, after the flags' errors
    store_task_defaults(store, data, task, parse_classes(classes))
    resolve_store_modalities(feature_store, data, console)
    train_config = build_config(TrainConfig, data,
                                str(config) if config else "the preset and flags")
    plan = OutputPlan().uses_store(feature_store).reads(clips, "the clip table")
    plan.reads(config, "the configuration file")
    plan.writes(out, "model file -o")
    plan.check()
    table = feature_store.clips(clips, train_config.classes)
    single_label_hint(store, table, train_config.task)
    estimator = fit_on_store(feature_store, table, train_config, seed=seed, progress=not quiet)
    out.parent.mkdir(parents=True, exist_ok=True)
    estimator.save(out)
    gate = ", ".join(f"{k} {v:.2f}" for k, v in estimator.gate_weights().items())
    decisions = ("decisions: the most probable class" if train_config.task == "singlelabel"
                 else f"thresholds: {np.round(estimator.fitted_thresholds, 2).tolist()}")
    console.print(f"trained on {int(table.labelled.sum())} clips ({train_config.task}); "
                  f"gate: {gate}; {decisions}")
    console.print(f"wrote {out}")


def predict(
    model: Annotated[Path, typer.Option("--model", help="model file written by 'mefuse train'")],
    inputs: Annotated[list[Path] | None, typer.Argument(
        help="video files or frame folders to score: the model's extractors run on them with "
        "the preprocessing it was trained with (leave out to score a store's clips)",
        show_default=False)] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", "-s", help="feature store to score; with INPUTS, where their features are "
        "kept (default: a temporary folder)")] = None,
    clips: Annotated[Path | None, typer.Option(
        "--clips", help="clip table of the store's clips to score (default: <store>/clips.csv "
        "if it exists, else every clip that has all the model's modalities)")] = None,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="extractor setting NAME.KEY=VALUE for INPUTS, e.g. the weights path "
        "of an encoder (a model file cannot carry it)")] = None,
    views: Annotated[str, typer.Option(
        help="camera layout of INPUTS: auto (the training data's), both (two cameras side by "
        "side), left, right or none (one full view)")] = "auto",
    device: DeviceOpt = None,
    max_faceless: MaxFacelessOpt = 0.2,
    keep_faceless: KeepFacelessOpt = False,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of per-clip probabilities")] = Path(
        "runs/predictions.csv"),
    force: Annotated[bool, typer.Option(
        "--force", help="replace an existing <out>_sequences.csv that mefuse did not write")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Score videos, frame folders or a store's clips with a saved model; print and write
    per-clip and per-sequence probabilities and decisions."""
    from mefuse.predictions import Predictions, sequences_csv
    from mefuse.preprocess.views import views_for
    from mefuse.train.fit import predict_store
    from mefuse.train.trainer import TrainedModel
    from mefuse.utils.outputs import header_starts

    estimator = TrainedModel.load(model)  # a missing or damaged model is named first
    if views != "auto":
        views_for(views)
        if not inputs:
            raise DataError("--views applies to INPUTS (a store's features are already made)")
    sequence_path = sequences_csv(out)
    plan = OutputPlan(force=force).reads(model, "the model file").reads(clips, "the clip table")
    feature_store = FeatureStore(store) if store is not None else None
    plan.uses_store(feature_store)
    for item in inputs or []:
        plan.reads(item, "an input")
    plan.writes(out, "predictions -o")
    plan.writes(sequence_path, "per-sequence predictions", named=False,
                previous=header_starts("sequence_id", "p_"))
    plan.check()
    if inputs:
        from mefuse.cli.data_verbs import parse_options
        from mefuse.inference import predict_inputs

        if clips is not None:
            raise DataError("--clips selects clips of a store; with INPUTS every input is scored")
        names = [v.get("extractor") for v in estimator.provenance.get("extractors", {}).values()]
        options = parse_options(option, [n for n in names if n])
        result = predict_inputs(
            estimator, inputs, store=store, options=options, device=device, progress=not quiet,
            views=views, max_faceless=max_faceless, keep_faceless=keep_faceless)
        for failure in result.failures:
            console.print(f"[red]failed[/red] {escape(failure.clip_id)} at {failure.stage}: "
                          f"{escape(failure.reason)}")
        for message in result.warnings:
            console.print(f"[yellow]warning:[/yellow] {escape(message)}")
        warn_faceless(result.clips, max_faceless)
        print_apexes(result.clips)
    else:
        if feature_store is None:
            raise DataError("give video files or frame folders to score, or --store STORE")
        if option:
            raise DataError("--option applies to INPUTS (a store's features are already made)")
        result = Predictions(*predict_store(estimator, feature_store, clips),
                             sources=(str(store),))
    result.to_csv(out)
    console.print(prediction_table(result.sequences))
    console.print(f"scored {len(result.clips)} clips ({len(result.sequences)} sequences); "
                  f"wrote {out} and {sequence_path}")


def print_apexes(clips: Any) -> None:
    """One line per scored input clip: the frame where its face's motion peaks (the apex)."""
    import pandas as pd

    if "apex_frame" not in clips.columns:
        return
    for _, row in clips.iterrows():
        if not pd.isna(row["apex_frame"]):
            console.print(f"apex {escape(str(row['clip_id']))}: frame {int(row['apex_frame'])} "
                          "(peak of the face's motion; apex_frame in the CSV)")


def warn_faceless(clips: Any, max_faceless: float) -> None:
    """One warning per scored clip whose crops lack a face more often than ``max_faceless``
    (kept by ``--keep-faceless``): its scores describe frames without a face."""
    from mefuse.extraction.prepare import percent

    for _, row in clips[clips["faceless_share"] > max_faceless].iterrows():
        console.print(f"[yellow]warning[/yellow] {escape(str(row['clip_id']))}: no face in "
                      f"{percent(row['faceless_share'])} of its crops (more than --max-faceless "
                      f"{max_faceless:g}; kept by --keep-faceless); its scores are unreliable")


def prediction_table(sequences: Any) -> Any:
    """Per-sequence probabilities (and decisions, bold) as a rich table."""
    from rich.table import Table

    classes = [c[2:] for c in sequences.columns if c.startswith("p_")]
    table = Table("sequence", *classes, title="probabilities (decided classes in bold)",
                  title_justify="left")
    for _, row in sequences.head(50).iterrows():
        cells = [f"[bold]{row[f'p_{c}']:.2f}[/bold]" if int(row[c]) else f"{row[f'p_{c}']:.2f}"
                 for c in classes]
        table.add_row(str(row["sequence_id"]), *cells)
    return table


def demo_store(
    out: Annotated[Path, typer.Argument(help="folder for the demo feature store")],
    seed: Annotated[int, typer.Option(min=0, help="generator seed")] = 0,
    paper_shaped: Annotated[bool, typer.Option(
        help="128 sequences x 2 views, 18-60 frames, widths 1536 and 171")] = False,
    complementary: Annotated[bool, typer.Option(
        help="modalities 'stream_a' and 'stream_b', each carrying only part of the classes"
    )] = False,
) -> None:
    """Write a synthetic feature-level store (modalities 'signal' and 'noise') and clips.csv."""
    import dataclasses

    from mefuse.demo.features import DemoSpec, make_demo_store, paper_shaped_spec

    spec = paper_shaped_spec() if paper_shaped else DemoSpec()
    spec = dataclasses.replace(spec, complementary=complementary)
    table = make_demo_store(out, spec, seed=seed)
    names = "'stream_a' and 'stream_b'" if complementary else "'signal' and 'noise'"
    console.print(f"wrote {len(table)} clips of modalities {names} to {out}")


def register(app: typer.Typer) -> None:
    app.command("cv")(cv)
    app.command("train")(train)
    app.command("predict")(predict)
    app.command("demo-store")(demo_store)



