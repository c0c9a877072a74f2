"""``mefuse submit``: the 4DMR challenge submission CSV from a model (or train first), or the
check of an existing submission file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mefuse.cli.shared_options import (
    ArchitectureOpt,
    BatchOpt,
    ConfigOpt,
    DeviceOpt,
    EpochsOpt,
    FramesOpt,
    LrOpt,
    ModalityOpt,
    MotionOpt,
    PositionOpt,
    PresetOpt,
    SamplingOpt,
    SeedOpt,
    StrategyOpt,
    config_flags,
    given_flags,
    resolve_store_modalities,
    section_flags,
    store_task_defaults,
    train_config_data,
)
from mefuse.errors import ConfigError
from mefuse.store import FeatureStore
from mefuse.utils.console import make_console
from mefuse.utils.csvsafe import write_csv
from mefuse.utils.outputs import OutputPlan, header_starts

console = make_console()


@section_flags("fusion")
def submit(
    out: Annotated[Path, typer.Option("--out", "-o", help="submission CSV to write")] = Path(
        "submission.csv"),
    model: Annotated[Path | None, typer.Option(
        "--model", help="model file written by 'mefuse train' (with --thresholds tuned)")] = None,
    store: Annotated[Path | None, typer.Option(
        "--store", "-s", help="feature store of the test sequences")] = None,
    clips: Annotated[Path | None, typer.Option(
        "--clips", help="clip table of the test store (default: <store>/clips.csv)")] = None,
    split: Annotated[str, typer.Option(
        help="score the clips whose 'split' column has this value (when the table has one); "
        "'all' scores every clip")] = "test",
    train_store: Annotated[Path | None, typer.Option(
        "--train-store", help="train first, on this store's labelled clips (thresholds tuned "
        "on an inner split of it), instead of loading --model")] = None,
    train_clips: Annotated[Path | None, typer.Option(
        "--train-clips", help="clip table of --train-store (default: <train-store>/clips.csv)")
    ] = None,
    config: ConfigOpt = None,
    preset: PresetOpt = None,
    modality: ModalityOpt = None,
    strategy: StrategyOpt = None,
    architecture: ArchitectureOpt = None,
    frames: FramesOpt = None,
    sampling: SamplingOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    batch_size: BatchOpt = None,
    position: PositionOpt = None,
    motion: MotionOpt = None,
    device: DeviceOpt = None,
    seed: SeedOpt = 0,
    fusion: dict[str, Any] | None = None,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="also save the model trained with --train-store")] = None,
    negative_excludes_positive: Annotated[bool, typer.Option(
        "--negative-excludes-positive", help="clear Positive wherever Negative is predicted")
    ] = False,
    allow_fixed_thresholds: Annotated[bool, typer.Option(
        "--allow-fixed-thresholds", help="accept a model whose thresholds were not tuned")
    ] = False,
    validate: Annotated[Path | None, typer.Option(
        "--validate", help="only check this submission file (with --store, also that its Ids "
        "are exactly the test sequences')")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="replace an existing <out>_probabilities.csv that mefuse did not write")
    ] = False,
) -> None:
    """Write the 4DMR challenge submission CSV (or validate one with --validate FILE).

    With --train-store, a model is trained first: its settings come from --preset, then
    --config, then the flags (the cross-validation settings of a preset or file are ignored;
    thresholds are always tuned on an inner split of the training data)."""
    from mefuse import submit as sub

    # the doors' stores, checked by their first read, after the flags' errors
    test_store = FeatureStore(store) if store is not None else None
    training_store = FeatureStore(train_store) if train_store is not None else None
    if validate is not None:
        expected = None
        if test_store is not None:
            expected = sub.expected_ids(sub.select_clips(test_store.clips(clips), split))
        rows = sub.validate_submission(validate, expected)
        checked = f", Ids match the {len(expected)} test sequences" if expected else ""
        console.print(f"{validate}: valid 4DMR submission, {rows} rows{checked}")
        return
    if test_store is None:
        raise ConfigError("name the test store: --store DIR")
    if (model is None) == (train_store is None):
        raise ConfigError("give either --model FILE (a trained model) or --train-store DIR "
                          "with --preset or --config (train, then submit)")
    flags = config_flags(locals())
    if train_store is None:
        given = [o for o, v in (("--config", config), ("--preset", preset)) if v is not None]
        given += given_flags(locals())
        if given:
            raise ConfigError(f"{given[0]} sets how a model is trained: it applies with "
                              "--train-store, not with --model (a trained model keeps its own "
                              "settings)")
    detail = out.with_name(out.stem + "_probabilities.csv")
    plan = OutputPlan(force=force).reads(model, "the model file").reads(clips, "the clip table")
    plan.reads(train_clips, "the training clip table").reads(config, "the configuration file")
    plan.uses_store(test_store, "the test store").uses_store(training_store, "the training store")
    plan.writes(out, "submission -o")
    plan.writes(detail, "per-sequence probabilities", named=False,
                previous=header_starts("sequence_id", "Id"))
    if save_model is not None:
        plan.writes(save_model, "model file --save-model")
    plan.check()
    if training_store is not None:
        estimator = _train(training_store, train_clips, train_config_data(config, preset, **flags),
                           str(config) if config else "the preset and flags", seed)
        if save_model is not None:
            estimator.save(save_model)
            console.print(f"wrote {save_model}")
    else:
        estimator = model
    test = sub.select_clips(test_store.clips(clips), split)
    frame, sequences = sub.predict_submission(
        estimator, test_store, test, negative_excludes_positive=negative_excludes_positive,
        allow_fixed=allow_fixed_thresholds)
    path = sub.write_submission(frame, out, sub.expected_ids(test))
    write_csv(sequences, detail)
    counts = ", ".join(f"{c} {int(frame[c].sum())}" for c in sub.SUBMISSION_COLUMNS[1:])
    console.print(f"wrote {path}: {len(frame)} sequences ({counts}); validated. "
                  f"Probabilities in {detail}")


def _train(store: FeatureStore, clips: Path | None, data: dict, source: str, seed: int):
    from mefuse import submit as sub
    from mefuse.train.config import TrainConfig, build_config

    store_task_defaults(store.root, data, None, None)
    resolve_store_modalities(store, data, console)
    train_config = build_config(TrainConfig, data, source)
    table = store.clips(clips, train_config.classes)
    estimator = sub.train_for_submission(store, table, train_config, seed=seed)
    thresholds = ", ".join(f"{c} {t:.2f}" for c, t in zip(estimator.classes,
                                                          estimator.fitted_thresholds, strict=True))
    console.print(f"trained on {int(table.labelled.sum())} clips; tuned thresholds: {thresholds}")
    return estimator


def register(app: typer.Typer) -> None:
    app.command("submit")(submit)
