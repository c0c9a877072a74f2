"""Run a benchmark grid: plan the cells, skip the finished ones, compute the rest in parallel.

On-disk layout of a bench folder::

    <out>/bench.json                 the plan: store, clip table, key groups, base configuration,
                                     and every cell (id, feature set, variant, kinds)
    <out>/bench.log                  one JSON line per cell event: computed, skipped, failed
    <out>/cells/<cell_id>/           one finished cell: results.json, predictions.csv,
                                     attention.npz (as ``mefuse cv`` writes them) and cell.json
    <out>/grid.csv, cells.csv, tables.md   the tables (see :mod:`mefuse.bench.tables`)

A cell is computed in a hidden temporary folder beside the others and renamed into place when
complete (``cell.json`` is written last), so a cell folder either holds a whole result or does not
exist: an interrupted run leaves no half cell, and a rerun computes exactly the missing ones.
Workers are separate processes (spawned, so no thread pool of the parent is inherited) with one
torch thread each: on a small machine N single-threaded cells beat one N-threaded cell, because
these models are too small for intra-op parallelism to pay. ``--jobs 1`` computes its cells with
one torch thread too, so a cell's numbers do not depend on ``--jobs`` (a different thread count
changes the order of floating-point sums, by about 1e-7). Workers die with the parent
(:func:`mefuse.utils.lifeline.die_with_parent`), so a killed bench leaves no process behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mefuse.bench.grid import SET_KINDS, Cell, build_cells, cell_id
from mefuse.bench.groups import KeyGroups, group_keys
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, MefuseError
from mefuse.store import CONFIG_FIELDS, FeatureStore, layout
from mefuse.train.results import RESULTS
from mefuse.utils.atomic import (
    make_dirs,
    remove_stale_temporaries,
    storage_error,
    write_json,
)
from mefuse.utils.hashing import text_digest
from mefuse.utils.lifeline import die_with_parent
from mefuse.utils.progress import progress_bar

PLAN = "bench.json"
LOG = "bench.log"
CELLS = "cells"
CELL_FILE = "cell.json"

CellExecutor = Callable[[str, ClipTable, Path, list["PlannedCell"]],
                        Iterator[tuple[str, str | None, float]]]
"""Computes cells ``(store, clips, cells_dir, todo)``, yielding ``(cell_id, error, runtime)``."""


@dataclass(frozen=True)
class PlannedCell:
    """A cell with its id, validated configuration and the kind of each modality."""

    cell: Cell
    cell_id: str
    config: dict[str, Any]
    kinds: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {"cell_id": self.cell_id, "modalities": list(self.cell.modalities),
                "kinds": list(self.kinds), "variant": self.cell.variant,
                "set": self.cell.set_kind, "feature_set": self.cell.feature_set}


@dataclass
class BenchPlan:
    """Everything a bench run will compute, and where."""

    store: Path
    clips_source: str
    groups: KeyGroups
    base: dict[str, Any]
    cells: list[PlannedCell]

    def to_dict(self) -> dict[str, Any]:
        return {"format": "mefuse-bench/1", "store": str(self.store.resolve()),
                "clips": self.clips_source, "groups": self.groups.as_dict(),
                "base_config": self.base, "cells": [c.describe() for c in self.cells]}


@dataclass
class BenchOutcome:
    """What one ``run_bench`` call did."""

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    runtime_s: float = 0.0


def plan_bench(
    store: FeatureStore | str | Path,
    clips: ClipTable,
    base: Mapping[str, Any],
    *,
    keys: Sequence[str] | None = None,
    appearance: Sequence[str] = (),
    geometry: Sequence[str] = (),
    variants: Sequence[str] | None = None,
    sets: Sequence[str] = SET_KINDS,
    kinds: dict[str, str] | None = None,
    clips_source: str = layout.CLIPS,
) -> BenchPlan:
    """The grid's cells for ``store``: ids, and configurations validated before anything runs.

    ``base`` is a cross-validation configuration without ``modalities`` and ``strategy`` (each
    cell sets them); a bad value in it fails here, once, rather than in every cell.
    """
    from mefuse.train.config import EXECUTION_FIELDS, CVConfig, build_config

    for key in ("modalities", "strategy"):
        if key in base:
            raise ConfigError(f"the bench sets {key!r} per cell; leave it out of the base "
                              "configuration (choose extractors with --modality, --appearance, "
                              "--geometry and strategies with --variants)")
    feature_store = FeatureStore.open(store)  # the door's store (a path: opened, for scripts)
    groups = group_keys(feature_store, keys, appearance=appearance, geometry=geometry,
                        kinds=kinds)
    cells = build_cells(groups, variants, sets)
    table_print = clip_table_fingerprint(clips)
    key_prints = {k: extractor_fingerprint(feature_store, k) for k in groups.keys}
    planned = []
    for cell in cells:
        config = build_config(CVConfig, cell.config_data(base), "the bench configuration")
        dumped = config.model_dump(mode="json")
        fingerprint = {"clips": table_print, "features": {m: key_prints[m]
                                                          for m in cell.modalities}}
        # How a cell is computed (engine, stack size) does not change its results: leave it
        # out of the id, so a folder computed by one engine is complete for the other.
        what = {k: v for k, v in dumped.items() if k not in EXECUTION_FIELDS}
        if what["model"].get("sampling") == "uniform":  # the default, and the only sampling
            # before the setting existed: leave it out, so earlier bench folders stay complete
            what["model"] = {k: v for k, v in what["model"].items() if k != "sampling"}
        planned.append(PlannedCell(cell, cell_id(cell, what, fingerprint), dumped,
                                   tuple(groups.kind_of(m) for m in cell.modalities)))
    return BenchPlan(feature_store.root, clips_source, groups, dict(base), planned)


def clip_table_fingerprint(clips: ClipTable) -> str:
    """Hash of the columns that define the data a cell sees (ids, subjects, labels)."""
    columns = ["clip_id", "sequence_id", "view", "subject", *clips.classes]
    text = clips.frame[columns].to_csv(index=False)
    return text_digest(text)


def extractor_fingerprint(store: FeatureStore, key: str) -> dict[str, Any]:
    """What an extractor's manifest says about how its features were made."""
    manifest = store.info(key).manifest
    counts = manifest.get("clips", {})
    digest = text_digest(json.dumps(counts, sort_keys=True))
    return {**{f: manifest.get(f) for f in CONFIG_FIELDS}, "dim": manifest.get("dim"),
            "clips": digest}


def is_done(cell_dir: Path) -> bool:
    """A cell is done when its folder holds both ``results.json`` and ``cell.json``."""
    return (cell_dir / CELL_FILE).is_file() and (cell_dir / RESULTS).is_file()


def run_bench(
    plan: BenchPlan,
    clips: ClipTable,
    out: str | Path,
    *,
    jobs: int = 1,
    progress: bool = False,
    on_event: Callable[[str, str], None] | None = None,
    executor: CellExecutor | None = None,
) -> BenchOutcome:
    """Compute every cell of ``plan`` that ``out`` does not hold yet.

    ``jobs`` > 1 runs cells in that many worker processes with one torch thread each. A cell that
    fails is logged with its reason and the others go on. ``on_event(cell_id, event)`` is called
    for each cell (``skipped``, ``computed`` or ``failed``). ``executor`` computes the cells
    elsewhere instead of local processes (for example :func:`mefuse.scale.ray_bench.
    execute_cells` on a Ray cluster); it must write each cell with :func:`compute_cell`.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out)
    cells_dir = out / CELLS
    make_dirs(cells_dir)
    outcome = BenchOutcome()
    started = time.perf_counter()
    with _exclusive(out):
        _remove_partial(cells_dir)
        remove_stale_temporaries(out)
        write_json(out / PLAN, plan.to_dict())
        todo = []
        for planned in plan.cells:
            if is_done(cells_dir / planned.cell_id):
                outcome.skipped.append(planned.cell_id)
                _log(out, planned.cell_id, "skipped")
                if on_event:
                    on_event(planned.cell_id, "skipped")
            else:
                todo.append(planned)
        with progress_bar("bench", len(todo), progress) as advance:
            if executor is not None:
                results = executor(str(plan.store), clips, cells_dir, todo)
            else:
                results = _execute(plan, clips, cells_dir, todo, jobs)
            for cell_key, error, runtime in results:
                if error is None:
                    outcome.computed.append(cell_key)
                    _log(out, cell_key, "computed", runtime_s=round(runtime, 3))
                    advance(description=f"{cell_key.split('__')[0]} {cell_key.split('__')[1]}")
                else:
                    outcome.failed[cell_key] = error
                    _log(out, cell_key, "failed", error=error)
                    advance(description=f"[red]failed[/red] {cell_key}")
                if on_event:
                    on_event(cell_key, "computed" if error is None else "failed")
    outcome.runtime_s = time.perf_counter() - started
    return outcome


def _execute(plan: BenchPlan, clips: ClipTable, cells_dir: Path, todo: list[PlannedCell],
             jobs: int) -> Iterator[tuple[str, str | None, float]]:
    """Yield ``(cell_id, error or None, runtime)`` as cells finish."""
    store = str(plan.store)
    if jobs == 1 or len(todo) <= 1:
        with _one_torch_thread():
            for planned in todo:
                yield _guarded(store, clips, planned, str(cells_dir))
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context,
                             initializer=_init_worker, initargs=(os.getpid(),)) as pool:
        pending: dict[Future, str] = {
            pool.submit(_guarded, store, clips, planned, str(cells_dir)): planned.cell_id
            for planned in todo
        }
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    name = pending.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:  # a worker that died (killed, out of memory)
                        yield name, f"worker process failed: {exc!r}", 0.0
        except BaseException:  # interrupted: finished cells are on disk, drop the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Compute in this process with one torch thread, as a worker does, then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _init_worker(parent_pid: int | None = None) -> None:
    """Die with the parent; one torch thread per worker process: the cells are the
    parallelism."""
    if parent_pid is not None:
        die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _guarded(store: str, clips: ClipTable, planned: PlannedCell, cells_dir: str
             ) -> tuple[str, str | None, float]:
    """Compute one cell; a user error or a bug in one cell is reported, not raised."""
    started = time.perf_counter()
    try:
        compute_cell(store, clips, planned, Path(cells_dir))
    except MefuseError as exc:
        return planned.cell_id, str(exc), time.perf_counter() - started
    except Exception as exc:
        return planned.cell_id, f"{type(exc).__name__}: {exc}", time.perf_counter() - started
    return planned.cell_id, None, time.perf_counter() - started


def compute_cell(store: FeatureStore | str | Path, clips: ClipTable, planned: PlannedCell,
                 cells_dir: Path) -> Path:
    """Cross-validate one cell and move its complete result folder into place atomically."""
    from mefuse.train.config import CVConfig
    from mefuse.train.cv import run_cv

    final = cells_dir / planned.cell_id
    started = time.perf_counter()
    result = run_cv(FeatureStore.open(store), clips, CVConfig(**planned.config), progress=False)
    tmp = Path(tempfile.mkdtemp(prefix=f".{planned.cell_id}.", dir=cells_dir))
    try:
        result.write(tmp)
        write_json(tmp / CELL_FILE, {**planned.describe(), "config": planned.config,
                                     "runtime_s": round(time.perf_counter() - started, 3),
                                     "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                     "pid": os.getpid()})
        if final.exists() and not is_done(final):
            shutil.rmtree(final)  # a folder left by hand or by an old version: incomplete
        if is_done(final):
            return final  # another worker got there first; its result is as good
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_partial(cells_dir: Path) -> None:
    """Temporary cell folders of a run that was killed."""
    for path in cells_dir.glob(".*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _log(out: Path, cell: str, event: str, **extra: Any) -> None:
    line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "cell_id": cell, "event": event, **extra}
    with open(out / LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One bench run per folder at a time (two would compute the same cells twice)."""
    try:
        handle = open(out / ".lock", "a+")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise storage_error(out / ".lock", exc) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another 'mefuse bench' is running on {out}; wait for it or "
                              "use another --out folder") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
