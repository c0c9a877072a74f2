"""``mefuse bench --executor ray``: each cell of the grid is a Ray task.

A task cross-validates one cell with one torch thread and moves its result folder into the
bench folder atomically (:func:`mefuse.bench.runner.compute_cell`), so the bench folder, which
must be on a file system every node sees at the same path, is the only record: a task whose
worker dies is retried by Ray, and a rerun skips the cells that are done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mefuse.bench.runner import PlannedCell, _guarded
from mefuse.data.clips import ClipTable
from mefuse.scale.cluster import RETRIES, ray_session


def cell_task(store: str, clips: ClipTable, planned: PlannedCell, cells_dir: str
              ) -> tuple[str, str | None, float]:
    """One cell in a Ray worker, single-threaded like a local ``--jobs`` worker."""
    import torch

    torch.set_num_threads(1)
    return _guarded(store, clips, planned, cells_dir)


def execute_cells(store: str, clips: ClipTable, cells_dir: Path, todo: Sequence[PlannedCell],
                  *, address: str | None = None) -> Iterator[tuple[str, str | None, float]]:
    """Yield ``(cell_id, error or None, runtime)`` as the cells finish on the cluster."""
    with ray_session(address) as ray:
        remote = ray.remote(num_cpus=1, max_retries=RETRIES)(cell_task)
        clips_ref = ray.put(clips)
        store = str(Path(store).resolve())
        pending: dict[Any, str] = {
            remote.remote(store, clips_ref, planned, str(cells_dir.resolve())): planned.cell_id
            for planned in todo}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                name = pending.pop(done[0])
                try:
                    yield ray.get(done[0])
                except ray.exceptions.RayError as exc:  # died more often than retried
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    yield name, f"worker failed after {RETRIES} retries: {first}", 0.0
        finally:
            for ref in pending:  # interrupted: finished cells are on disk, drop the rest
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
