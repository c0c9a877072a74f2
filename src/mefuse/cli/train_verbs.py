"""Verbs that work on a feature store: ``cv``, ``train``, ``predict`` and ``demo-store``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

from mefuse.errors import DataError

console = Console()

StoreOpt = Annotated[Path, typer.Option("--store", "-s", help="feature store folder")]
ClipsOpt = Annotated[Path | None, typer.Option(
    "--clips", help="clip table CSV (default: <store>/clips.csv)")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML configuration; flags given on the command line override it")]
ModalityOpt = Annotated[list[str] | None, typer.Option(
    "--modality", "-m", help="extractor key in the store; repeat for several modalities")]
StrategyOpt = Annotated[str | None, typer.Option(
    help="single, concat, sum or gated (the paper's model)")]
TaskOpt = Annotated[str | None, typer.Option(help="multilabel (sigmoid) or singlelabel (softmax)")]
ClassesOpt = Annotated[str | None, typer.Option(
    help="comma-separated class columns (default: the 4DMR five)")]
FramesOpt = Annotated[int | None, typer.Option(help="frames each clip is resampled to")]
EpochsOpt = Annotated[int | None, typer.Option(help="training epochs (fixed; no early stopping)")]
LrOpt = Annotated[float | None, typer.Option(help="peak learning rate of AdamW")]
BatchOpt = Annotated[int | None, typer.Option("--batch-size", help="clips per batch")]
ThresholdsOpt = Annotated[str | None, typer.Option(
    help="fixed (0.5) or tuned (per class, on an inner split of the training data)")]
PositionOpt = Annotated[bool | None, typer.Option(
    "--position/--no-position", help="learned temporal position embedding (beyond the paper)")]
MotionOpt = Annotated[bool | None, typer.Option(
    "--motion/--no-motion", help="feed each frame minus the first (beyond the paper)")]
DeviceOpt = Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N or auto")]
ProtocolOpt = Annotated[str | None, typer.Option(help="mskf, subject-kfold or loso")]
FoldsOpt = Annotated[int | None, typer.Option(help="folds for mskf and subject-kfold")]
SeedsOpt = Annotated[str | None, typer.Option(help="comma-separated seeds, e.g. 0,1,2")]
LevelOpt = Annotated[str | None, typer.Option(help="sequence (views merged) or clip")]
PresetOpt = Annotated[str | None, typer.Option(
    help="paper (exactly the paper's model) or recommended (safe fusion); --config and flags "
    "override it")]


def _config_data(config: Path | None, preset: str | None = None, **flags: Any
                 ) -> dict[str, Any]:
    """Preset, then YAML settings, then the flags that were given (``None`` means not given)."""
    from mefuse.train.config import load_yaml, merge
    from mefuse.train.presets import load_preset

    data = load_preset(preset) if preset else {}
    if preset:  # a preset names the paper's modalities; the store's come from -m or --config
        data.pop("modalities", None)
    data = merge(data, load_yaml(config)) if config else data
    nested = {"model": {}, "optim": {}, "thresholds": {}}
    for key, value in flags.items():
        if value is None or value == []:
            continue
        section, _, name = key.rpartition("__")
        if section:
            nested[section][name] = value
        else:
            data[key] = value
    return merge(data, {k: v for k, v in nested.items() if v})


def _read_clips(store: Path, clips: Path | None, classes: list[str] | None):
    from mefuse.data.clips import ClipTable

    return ClipTable.read(clips or store / "clips.csv", classes)


def _classes(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def cv(
    store: StoreOpt,
    clips: ClipsOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    modality: ModalityOpt = None,
    strategy: StrategyOpt = None,
    protocol: ProtocolOpt = None,
    folds: FoldsOpt = None,
    seeds: SeedsOpt = None,
    task: TaskOpt = None,
    classes: ClassesOpt = None,
    level: LevelOpt = None,
    frames: FramesOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    thresholds: ThresholdsOpt = None,
    position: PositionOpt = None,
    motion: MotionOpt = None,
    device: DeviceOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for results.json")] = Path(
        "runs/cv"),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Cross-validate one configuration on a feature store and write results.json."""
    from mefuse.train.config import CVConfig, build_config
    from mefuse.train.cv import run_cv
    from mefuse.train.report_table import result_table

    data = _config_data(
        config, preset, modalities=modality, strategy=strategy, protocol=protocol, folds=folds,
        seeds=[int(s) for s in seeds.split(",")] if seeds else None, task=task,
        classes=_classes(classes), level=level, device=device, model__frames=frames,
        optim__epochs=epochs, optim__lr=lr, optim__batch_size=batch_size,
        thresholds__mode=thresholds, model__position=position, model__motion=motion,
    )
    if "modalities" not in data:
        raise DataError("name at least one modality: --modality KEY (or 'modalities' in --config)")
    cv_config = build_config(CVConfig, data, str(config) if config else "the options")
    table = _read_clips(store, clips, cv_config.classes)
    result = run_cv(store, table, cv_config, progress=not quiet)
    path = result.write(out)
    console.print(result_table(result))
    for message in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {message}")
    console.print(f"wrote {path}")


def train(
    store: StoreOpt,
    clips: ClipsOpt = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    modality: ModalityOpt = None,
    strategy: StrategyOpt = None,
    task: TaskOpt = None,
    classes: ClassesOpt = None,
    frames: FramesOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    thresholds: ThresholdsOpt = None,
    position: PositionOpt = None,
    motion: MotionOpt = None,
    device: DeviceOpt = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="model file to write")] = Path(
        "runs/model.pt"),
) -> None:
    """Fit one model on all labelled clips of a store and save it."""
    from mefuse.train.config import TrainConfig, build_config
    from mefuse.train.fit import fit_on_store

    data = _config_data(
        config, preset, modalities=modality, strategy=strategy, task=task,
        classes=_classes(classes),
        device=device, model__frames=frames, optim__epochs=epochs, optim__lr=lr,
        optim__batch_size=batch_size, thresholds__mode=thresholds, model__position=position,
        model__motion=motion,
    )
    for key in ("protocol", "folds", "seeds", "level"):
        data.pop(key, None)  # a cv configuration file serves training too
    if "modalities" not in data:
        raise DataError("name at least one modality: --modality KEY (or 'modalities' in --config)")
    train_config = build_config(TrainConfig, data, str(config) if config else "the options")
    table = _read_clips(store, clips, train_config.classes)
    estimator = fit_on_store(store, table, train_config, seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    estimator.save(out)
    gate = ", ".join(f"{k} {v:.2f}" for k, v in estimator.gate_weights().items())
    console.print(f"trained on {int(table.labelled.sum())} clips; gate: {gate}; "
                  f"thresholds: {np.round(estimator.thresholds, 2).tolist()}")
    console.print(f"wrote {out}")


def predict(
    model: Annotated[Path, typer.Option("--model", help="model file written by 'mefuse train'")],
    store: StoreOpt,
    clips: Annotated[Path | None, typer.Option(
        "--clips", help="clip table of the clips to score (default: <store>/clips.csv if it "
        "exists, else every clip that has all the model's modalities)")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of per-clip probabilities")] = Path(
        "runs/predictions.csv"),
) -> None:
    """Score the clips of a store with a saved model; write per-clip and per-sequence CSVs."""
    from mefuse.train.fit import predict_store

    clip_frame, sequence_frame = predict_store(model, store, clips)
    from mefuse.utils.atomic import atomic_open

    with atomic_open(out, "w", encoding="utf-8", newline="") as handle:
        clip_frame.to_csv(handle, index=False)
    sequence_path = out.with_name(out.stem + "_sequences.csv")
    with atomic_open(sequence_path, "w", encoding="utf-8", newline="") as handle:
        sequence_frame.to_csv(handle, index=False)
    console.print(f"scored {len(clip_frame)} clips ({len(sequence_frame)} sequences); "
                  f"wrote {out} and {sequence_path}")


def demo_store(
    out: Annotated[Path, typer.Argument(help="folder for the demo feature store")],
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    paper_shaped: Annotated[bool, typer.Option(
        help="128 sequences x 2 views, 18-60 frames, widths 1536 and 171")] = False,
    complementary: Annotated[bool, typer.Option(
        help="modalities 'stream_a' and 'stream_b', each carrying only part of the classes"
    )] = False,
) -> None:
    """Write a synthetic feature-level store (modalities 'signal' and 'noise') and clips.csv."""
    import dataclasses

    from mefuse.data.demo_features import DemoSpec, make_demo_store, paper_shaped_spec

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



