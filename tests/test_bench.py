"""The benchmark grid: its cells, key grouping, the whole grid from one command, resumption."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mefuse.bench.grid import Cell, build_cells, cell_id
from mefuse.bench.groups import KeyGroups, group_keys
from mefuse.bench.runner import CELLS, LOG, plan_bench, run_bench
from mefuse.bench.tables import write_tables
from mefuse.cli.main import app
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.errors import ConfigError
from mefuse.store import FeatureStore

runner = CliRunner()
SMALL = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                 min_frames=10, max_frames=16)
QUICK = {"seeds": [0], "optim": {"epochs": 2, "batch_size": 16, "warmup_epochs": 0},
         "model": {"frames": 8, "dim": 16, "hidden": 16, "queries": 2}}
KINDS = {"radio": "appearance", "siglip2": "appearance", "faceverse": "geometry",
         "smirk": "geometry"}


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_store")
    return root, make_demo_store(root, SMALL, seed=1)


def _fake_store(root, keys_and_extractors):
    store = FeatureStore(root)
    for key, extractor in keys_and_extractors.items():
        with store.writer(key, {"extractor": extractor}) as writer:
            writer.write("c1", np.zeros((3, 2), np.float32))
    return store


def test_grid_has_alone_pairs_across_kinds_all_and_every_variant():
    groups = KeyGroups(geometry=("faceverse", "smirk"), appearance=("radio",))
    cells = build_cells(groups)
    alone = [c for c in cells if c.set_kind == "alone"]
    pairs = {c.modalities for c in cells if c.set_kind == "pairs"}
    assert [c.modalities for c in alone] == [("faceverse",), ("smirk",), ("radio",)]
    assert all(c.variant == "single" for c in alone)
    assert pairs == {("faceverse", "radio"), ("smirk", "radio")}  # across kinds only
    every = [c for c in cells if c.set_kind == "all"]
    assert {c.variant for c in every} == {"concat", "sum", "gated", "position", "motion"}
    assert every[0].modalities == ("faceverse", "smirk", "radio")
    assert len(cells) == 3 + 2 * 5 + 5
    # the beyond-paper variants are the gated model with one option on
    data = Cell(("faceverse", "radio"), "motion", "pairs").config_data({"model": {"dim": 8}})
    assert data["strategy"] == "gated" and data["model"] == {"dim": 8, "position": False,
                                                             "motion": True}


def test_two_keys_of_one_kind_are_paired_and_all_is_not_repeated():
    cells = build_cells(KeyGroups(other=("noise", "signal")), variants=["single", "gated"])
    assert [(c.modalities, c.variant, c.set_kind) for c in cells] == [
        (("noise",), "single", "alone"), (("signal",), "single", "alone"),
        (("noise", "signal"), "gated", "pairs")]
    with pytest.raises(ConfigError, match="unknown strategy"):
        build_cells(KeyGroups(other=("a",)), variants=["gated", "attention"])


def test_cell_ids_are_stable_and_change_with_configuration_or_data():
    cell = Cell(("a", "b"), "gated", "pairs")
    first = cell_id(cell, {"optim": {"epochs": 3}}, {"clips": "x"})
    assert first == cell_id(cell, {"optim": {"epochs": 3}}, {"clips": "x"})
    assert first.startswith("gated__a+b__")
    assert first != cell_id(cell, {"optim": {"epochs": 4}}, {"clips": "x"})
    assert first != cell_id(cell, {"optim": {"epochs": 3}}, {"clips": "y"})


def test_keys_are_grouped_by_manifest_prefix_and_user_override(tmp_path):
    store = _fake_store(tmp_path, {"radio_v2.5-l": "radio", "faceverse": "faceverse",
                                   "smirk-v2": "something-else", "mystery": "mystery"})
    groups = group_keys(store, kinds=KINDS)
    assert groups.appearance == ("radio_v2.5-l",)  # manifest's extractor field
    assert groups.geometry == ("faceverse", "smirk-v2")  # name; leading name of the key
    assert groups.other == ("mystery",)
    groups = group_keys(store, ["faceverse", "mystery"], appearance=["mystery"], kinds=KINDS)
    assert groups.appearance == ("mystery",) and groups.geometry == ("faceverse",)
    with pytest.raises(ConfigError, match="no extractor nope"):
        group_keys(store, ["nope"], kinds=KINDS)
    with pytest.raises(ConfigError, match="both appearance and geometry"):
        group_keys(store, appearance=["mystery"], geometry=["mystery"], kinds=KINDS)


def test_whole_grid_from_one_command_then_resume_computes_only_the_missing_cell(
        small_store, tmp_path):
    root, _ = small_store
    config = tmp_path / "base.yaml"
    config.write_text("modalities: [ignored]\nstrategy: gated\nseeds: [0]\n"
                      "model: {frames: 8, dim: 16, hidden: 16, queries: 2}\n"
                      "optim: {epochs: 2, warmup_epochs: 0}\n")
    out = tmp_path / "bench"
    args = ["bench", "-s", str(root), "-c", str(config), "--seeds", "0,1", "-o", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "bench.json").read_text())
    ids = [c["cell_id"] for c in plan["cells"]]
    # noise and signal alone, their pair under five strategies
    assert len(ids) == 7 and len(set(ids)) == 7
    assert {c["variant"] for c in plan["cells"]} == {"single", "concat", "sum", "gated",
                                                     "position", "motion"}
    tables = (out / "tables.md").read_text()
    assert all(f"`{cell}`" in tables for cell in ids)
    assert "## Each extractor alone" in tables and "## Fusion strategies" in tables
    assert "Var" in tables and "Not finished" not in tables
    grid = pd.read_csv(out / "grid.csv")
    assert len(grid) == 7 * 2 and set(grid["seed"]) == {0, 1}  # one row per cell and seed
    assert {"f1_Negative", "f1_Others", "uf1", "uar", "gate"} <= set(grid.columns)
    cells = pd.read_csv(out / "cells.csv")
    assert set(cells["cell_id"]) == set(ids) and (cells["macro_f1_var"] >= 0).all()
    first = json.loads((out / CELLS / ids[0] / "results.json").read_text())
    assert first["config"]["seeds"] == [0, 1] and first["config"]["optim"]["epochs"] == 2

    # interrupt: one cell lost, one left half-written, a temporary folder of a killed worker
    stamps = {c: (out / CELLS / c / "results.json").stat().st_mtime_ns for c in ids}
    shutil.rmtree(out / CELLS / ids[3])
    (out / CELLS / ids[5] / "cell.json").unlink()
    (out / CELLS / f".{ids[1]}.tmp123").mkdir()
    before = len(_events(out))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    events = {e["cell_id"]: e["event"] for e in _events(out)[before:]}
    assert sorted(c for c, e in events.items() if e == "computed") == sorted([ids[3], ids[5]])
    assert sum(e == "skipped" for e in events.values()) == 5
    for cell in ids:
        changed = (out / CELLS / cell / "results.json").stat().st_mtime_ns != stamps.get(cell)
        assert changed == (cell in (ids[3], ids[5])), cell
    assert not list((out / CELLS).glob(".*"))
    assert "computed 2, reused 5" in result.output


@pytest.mark.slow  # spawns two worker processes that import torch
def test_parallel_workers_give_the_serial_numbers(small_store, tmp_path):
    """Bit for bit (issue 11 #16): --jobs 1 computes with one torch thread, as a worker does,
    whatever the parent process's own thread count."""
    import torch

    root, table = small_store
    wide = {**QUICK, "model": {**QUICK["model"], "dim": 64, "hidden": 64}}  # at width 16 the
    # thread count changes nothing, and this test could not fail
    plan = plan_bench(root, table, wide, variants=["single", "gated"], kinds={})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        serial = run_bench(plan, table, tmp_path / "serial", jobs=1)
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)
    parallel = run_bench(plan, table, tmp_path / "parallel", jobs=2)
    assert sorted(serial.computed) == sorted(parallel.computed) and len(serial.computed) == 3
    for cell in serial.computed:
        a = pd.read_csv(tmp_path / "serial" / CELLS / cell / "predictions.csv")
        b = pd.read_csv(tmp_path / "parallel" / CELLS / cell / "predictions.csv")
        columns = [c for c in a.columns if c.startswith("p_")]
        assert (a[columns].to_numpy() == b[columns].to_numpy()).all()
    cell = json.loads((tmp_path / "parallel" / CELLS / parallel.computed[0] / "cell.json")
                      .read_text())
    assert cell["pid"] != os.getpid()  # it ran in a worker process


def test_a_failing_cell_is_reported_and_the_rest_finish(small_store, tmp_path):
    root, table = small_store
    store = tmp_path / "store"
    shutil.copytree(root, store)
    broken = store / "noise" / f"{table.clip_ids[0]}.npy"
    np.save(broken, np.full((4, 16), np.nan, np.float32))
    out = tmp_path / "bench"
    result = runner.invoke(app, ["bench", "-s", str(store), "--variants", "single",
                                 "--epochs", "2", "--seeds", "0", "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert "NaN" in result.output and "failed 1" in result.output
    tables = write_tables(out)
    assert list(tables.cells["feature_set"]) == ["signal"]
    assert len(tables.missing) == 1 and "Not finished" in (out / "tables.md").read_text()


def test_bench_rejects_bad_options(small_store, tmp_path):
    root, _ = small_store
    result = runner.invoke(app, ["bench", "-s", str(root), "--sets", "triples", "-o",
                                 str(tmp_path)])
    assert isinstance(result.exception, ConfigError)
    assert "unknown feature set kind" in str(result.exception)
    with pytest.raises(ConfigError, match="sets 'strategy' per cell"):
        plan_bench(root, small_store[1], {"strategy": "gated"}, kinds={})


def test_dry_run_lists_the_cells_and_computes_nothing(small_store, tmp_path):
    root, _ = small_store
    out = tmp_path / "bench"
    result = runner.invoke(app, ["bench", "-s", str(root), "--variants", "single,sum",
                                 "--appearance", "noise", "--geometry", "signal", "--dry-run",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 cells, 0 already done, 3 to compute" in result.output
    assert "geometry signal; appearance noise" in result.output
    assert not (out / "cells").exists() or not any((out / "cells").iterdir())


def _events(out):
    """The events of every run on a bench folder, oldest first (one JSON object a line)."""
    path = out / LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
