"""``mefuse bench``: cross-validate a grid of feature sets x strategies and tabulate it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from mefuse.bench.grid import default_variant_names
from mefuse.cli.shared_options import (
    AddressOpt,
    BatchOpt,
    ClassesOpt,
    ClipsOpt,
    DeviceOpt,
    EngineOpt,
    EpochsOpt,
    FoldsOpt,
    FramesOpt,
    LevelOpt,
    LrOpt,
    MaxStackOpt,
    PresetOpt,
    ProtocolOpt,
    SamplingOpt,
    SeedsOpt,
    StoreOpt,
    TaskOpt,
    ThresholdsOpt,
    architecture_callback,
    config_data,
    config_flags,
    parse_classes,
    store_task_defaults,
)
from mefuse.utils.console import make_console
from mefuse.utils.outputs import check_output_folder

console = make_console()


def variants_help() -> str:
    """``--variants`` help, read from the variant table of :mod:`mefuse.bench.grid` (a row
    added there is a choice here)."""
    from mefuse.bench.grid import VARIANT_TABLE

    columns = ", ".join(v.name if v.name == v.label else f"{v.name} ({v.label})"
                        for v in VARIANT_TABLE)
    return escape(f"comma-separated strategy variants: {columns}; single is each extractor "
                  "alone, the others fuse")


def _keys(value: str | None) -> list[str]:
    return [k.strip() for k in value.split(",") if k.strip()] if value else []


def bench(
    store: StoreOpt,
    clips: ClipsOpt = None,
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML base configuration (its modalities and strategy are "
        "ignored: each cell sets them); flags override it")] = None,
    preset: PresetOpt = None,
    modality: Annotated[list[str] | None, typer.Option(
        "--modality", "-m", help="extractor key to include; repeat (default: every key of "
        "the store)")] = None,
    appearance: Annotated[str | None, typer.Option(
        help="comma-separated keys to treat as appearance (2D) features")] = None,
    geometry: Annotated[str | None, typer.Option(
        help="comma-separated keys to treat as geometry (3D) features")] = None,
    variants: Annotated[str, typer.Option(help=variants_help())] = ",".join(
        default_variant_names()),
    sets: Annotated[str, typer.Option(
        help="feature sets: alone, pairs (across kinds), all (every key together)")] = (
        "alone,pairs,all"),
    architecture: Annotated[str | None, typer.Option(
        help="ststnet or htnet: add that baseline's column to the grid (on the apeximage "
        "keys; same as naming it in --variants); fusion: no change",
        callback=architecture_callback)] = None,
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
    device: DeviceOpt = None,
    engine: EngineOpt = None,
    max_stack: MaxStackOpt = None,
    jobs: Annotated[int, typer.Option(
        "--jobs", "-j", min=1, help="cells computed in parallel (processes, one torch thread "
        "each)")] = 1,
    executor: Annotated[str, typer.Option(
        help=escape("local (--jobs processes) or ray (each cell a Ray task; pip install "
                    "'mefuse[ray]')"))] = "local",
    address: AddressOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="bench folder")] = Path("runs/bench"),
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="list the cells (and which are done) without computing")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar")] = False,
) -> None:
    """Cross-validate a grid of feature sets x strategies; resumable; write paper-style tables."""
    from mefuse.bench.runner import CELLS, is_done, plan_bench, run_bench
    from mefuse.bench.tables import TABLES_MD, write_tables
    from mefuse.scale.cluster import check_executor
    from mefuse.store import FeatureStore

    check_executor(executor, address)
    check_output_folder(out, "bench folder -o")

    data = config_data(config, preset, **config_flags(locals()))
    feature_store = FeatureStore(store)  # checked by its first read, after the flags' errors
    store_task_defaults(store, data, task, parse_classes(classes))
    chosen = _keys(variants)
    if architecture not in (None, "fusion") and architecture not in chosen:
        chosen.append(architecture)  # a baseline is its own column of the grid
    data.get("model", {}).pop("architecture", None)  # each cell sets its own
    ignored = [k for k in ("modalities", "strategy") if data.pop(k, None) is not None]
    if ignored:
        console.print(f"[dim]note: {' and '.join(ignored)} of {config or preset} ignored; "
                      "each cell sets its own[/dim]")
    table = feature_store.clips(clips, data.get("classes"))
    plan = plan_bench(feature_store, table, data, keys=modality or None,
                      appearance=_keys(appearance), geometry=_keys(geometry),
                      variants=chosen, sets=_keys(sets),
                      clips_source=str(clips or feature_store.clips_path))
    groups = plan.groups.as_dict()
    console.print("extractors: " + "; ".join(f"{g} {', '.join(k)}" for g, k in groups.items()
                                             if k))
    done = sum(is_done(out / CELLS / c.cell_id) for c in plan.cells)
    console.print(f"{len(plan.cells)} cells, {done} already done, "
                  f"{len(plan.cells) - done} to compute")
    if dry_run:
        listing = Table("cell", "set", "feature set", "strategy", "done", title_justify="left")
        for c in plan.cells:
            listing.add_row(c.cell_id, c.cell.set_kind, c.cell.feature_set, c.cell.variant,
                            "yes" if is_done(out / CELLS / c.cell_id) else "")
        console.print(listing)
        return
    cell_executor = None
    if executor == "ray":
        from functools import partial

        from mefuse.scale.ray_bench import execute_cells

        cell_executor = partial(execute_cells, address=address)
    outcome = run_bench(plan, table, out, jobs=jobs, progress=not quiet, executor=cell_executor)
    tables = write_tables(out)
    _print_cells(tables)
    note = _protocol_note(out / CELLS, [c.cell_id for c in plan.cells])
    if note:
        console.print(f"[blue]note:[/blue] {note}", highlight=False)
    for cell, reason in outcome.failed.items():
        console.print(f"[red]failed[/red] {cell}: {escape(reason)}")
    console.print(f"computed {len(outcome.computed)}, reused {len(outcome.skipped)}, failed "
                  f"{len(outcome.failed)} in {outcome.runtime_s:.1f} s; wrote "
                  f"{out / TABLES_MD}, {out / 'cells.csv'}, {out / 'grid.csv'}")
    if outcome.failed:
        raise typer.Exit(1)


def _protocol_note(cells_dir: Path, cell_ids: list[str]) -> str | None:
    """The mskf reminder (:func:`~mefuse.train.protocols.optimism_note`) from the folds of the
    first computed cell (every cell of a bench is scored on the same folds)."""
    import json

    from mefuse.train.protocols import optimism_note

    for cell_id in cell_ids:
        path = cells_dir / cell_id / "results.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return optimism_note(data["config"]["protocol"], data["folds"])
    return None


def _print_cells(tables: Any) -> None:
    from mefuse.bench.grid import variant_label
    from mefuse.bench.tables import headline_label

    if tables.cells.empty:
        return
    score = headline_label(tables.cells)
    view = Table(title="bench", title_justify="left")
    for name in ("feature set", "strategy", score, "var (%²)", "UF1", "UAR"):
        view.add_column(name, justify="left" if name in ("feature set", "strategy") else "right",
                        no_wrap=name == score)
    for _, r in tables.cells.iterrows():
        view.add_row(r["feature_set"], variant_label(r["variant"]),
                     f"{r['headline']:.3f}±{r['headline_std']:.3f}",
                     f"{1e4 * r['macro_f1_var']:.2f}" if score == "Macro-F1" else "–",
                     f"{r['uf1_mean']:.3f}", f"{r['uar_mean']:.3f}")
    console.print(view)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
