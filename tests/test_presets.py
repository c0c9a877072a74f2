"""Presets (paper, recommended), the fusion columns of the bench and its paired comparisons."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mefuse.bench.grid import Cell
from mefuse.bench.runner import plan_bench, run_bench
from mefuse.bench.tables import write_tables
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.train.config import CVConfig, FusionConfig, TrainConfig
from mefuse.train.presets import load_preset

ROOT = Path(__file__).resolve().parent.parent
SMALL = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                 min_frames=10, max_frames=16)
QUICK = {"seeds": [0], "protocol": "subject-kfold",
         "optim": {"epochs": 2, "batch_size": 16, "warmup_epochs": 0},
         "model": {"frames": 8, "dim": 16, "hidden": 16, "queries": 2}}


def test_presets_ship_in_the_package_and_match_the_repository_copies():
    for name in ("paper", "recommended"):
        packaged = ROOT / "src" / "mefuse" / "presets" / f"{name}.yaml"
        assert packaged.read_text() == (ROOT / "configs" / f"{name}.yaml").read_text()
    paper = CVConfig(**load_preset("paper"))
    assert paper.fusion == FusionConfig()  # every option off
    assert paper.train_config() == TrainConfig(modalities=paper.modalities)  # code defaults
    recommended = CVConfig(**load_preset("recommended"))
    assert recommended.fusion.select == "inner" and recommended.fusion.aux_weight > 0
    # the recommended preset changes only the fusion section
    assert recommended.model_copy(update={"fusion": FusionConfig()}) == paper


def test_every_bench_column_sets_its_own_fusion_and_plain_columns_stay_the_paper():
    base = load_preset("recommended")
    base.pop("modalities")
    for variant, check in [
        ("gated", lambda f: f == FusionConfig()),
        ("concat", lambda f: f == FusionConfig()),
        ("motion", lambda f: f == FusionConfig()),
        ("moddrop", lambda f: f.modality_dropout > 0 and f.aux_weight == 0),
        ("aux", lambda f: f.aux_weight > 0 and f.modality_dropout == 0),
        ("entropy", lambda f: f.gate_entropy > 0),
        ("late", lambda f: f.late and f.select == "none"),
        ("recommended", lambda f: f == TrainConfig(modalities=["a", "b"],
                                                   fusion=load_preset("recommended")["fusion"]
                                                   ).fusion),
    ]:
        data = Cell(("a", "b"), variant, "pairs").config_data(base)
        config = CVConfig(**data)
        assert check(config.fusion), variant
        assert config.strategy == ("concat" if variant == "concat" else "gated")


def test_bench_writes_paired_comparisons_with_intervals(tmp_path):
    root = tmp_path / "store"
    table = make_demo_store(root, SMALL, seed=1)
    plan = plan_bench(root, table, QUICK, variants=["single", "concat", "gated", "recommended"],
                      kinds={})
    out = tmp_path / "bench"
    outcome = run_bench(plan, table, out)
    assert not outcome.failed
    write_tables(out)
    comparisons = pd.read_csv(out / "comparisons.csv")
    kinds = sorted(comparisons["kind"])
    assert kinds == ["gated vs concat", "recommended vs gated"] + ["vs best single"] * 3
    cells = pd.read_csv(out / "cells.csv").set_index("cell_id")
    for _, row in comparisons.iterrows():
        expected = (cells.loc[row["a_cell"], "macro_f1_mean"]
                    - cells.loc[row["b_cell"], "macro_f1_mean"])
        assert row["difference"] == pytest.approx(expected, abs=1e-5)  # CSV keeps 6 digits
        assert row["low"] <= row["difference"] <= row["high"]
        assert row["unit"] == "subject" and row["n_units"] == 6
    best = comparisons[comparisons["kind"] == "vs best single"]
    singles = cells[cells["variant"] == "single"]["macro_f1_mean"]
    assert set(best["b_cell"]) == {singles.idxmax()}
    tables = (out / "tables.md").read_text()
    assert "## Paired comparisons" in tables and "subjects resampled" in tables

    from mefuse.report import write_report

    page = write_report(out, tmp_path / "report", detail=0).read_text()
    assert "Paired comparisons" in page and "recommended (noise + signal)" in page


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mefuse.cli.main", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_preset_selects_the_recommended_fusion_and_refuses_an_unknown_one(tmp_path):
    root = tmp_path / "store"
    process = _cli("demo-store", str(root), "--complementary")
    assert process.returncode == 0, process.stderr
    assert {p.name for p in root.iterdir()} >= {"stream_a", "stream_b", "clips.csv"}
    out = tmp_path / "run"
    process = _cli("cv", "-s", str(root), "-m", "stream_a", "-m", "stream_b", "--preset",
                   "recommended", "--seeds", "0", "--epochs", "1", "--frames", "6", "-o",
                   str(out), "-q")
    assert process.returncode == 0, process.stderr
    import json

    result = json.loads((out / "results.json").read_text())
    assert result["config"]["fusion"]["select"] == "inner"
    assert result["config"]["modalities"] == ["stream_a", "stream_b"]
    assert all(f["choice"] in ("fused", "stream_a", "stream_b") for f in result["folds"])
    bad = _cli("cv", "-s", str(root), "-m", "stream_a", "--preset", "best", "-o", str(out))
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error:") and "unknown preset 'best'" in bad.stderr
    assert "Traceback" not in bad.stderr
