"""The ``cv``, ``train``, ``predict`` and ``demo-store`` verbs through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mefuse.cli.main import app

runner = CliRunner()


def test_demo_store_cv_train_predict(tmp_path):
    store = tmp_path / "store"
    result = runner.invoke(app, ["demo-store", str(store), "--seed", "2"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["cv", "-s", str(store), "-m", "signal", "-m", "noise",
                                 "--epochs", "6", "--seeds", "0,1", "-o", str(tmp_path / "run"),
                                 "-q"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["config"]["seeds"] == [0, 1] and len(data["folds"]) == 6
    assert data["config"]["optim"]["epochs"] == 6
    result = runner.invoke(app, ["train", "-s", str(store), "-m", "signal", "--strategy",
                                 "single", "--epochs", "3", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["predict", "--model", str(tmp_path / "m.pt"), "-s", str(store),
                                 "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p_sequences.csv").read_text().startswith("sequence_id,p_Negative")


def test_yaml_config_with_flag_override(tmp_path, demo_store):
    root, _ = demo_store
    config = tmp_path / "c.yaml"
    config.write_text("modalities: [signal]\nstrategy: single\noptim: {epochs: 2}\n")
    result = runner.invoke(app, ["cv", "-s", str(root), "-c", str(config), "--epochs", "3",
                                 "-o", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "run" / "results.json").read_text())
    assert data["config"]["optim"]["epochs"] == 3
    assert data["config"]["strategy"] == "single"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "nope"], "modality 'nope' is not in the store; its extractor keys: noise"),
        (["-m", "signal", "--strategy", "best"], "strategy"),
        (["-m", "signal", "--classes", "Negative,Fear"], "unknown class column(s) 'Fear'"),
        ([], "name at least one modality"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_write_nothing(tmp_path, demo_store, args, message):
    root, _ = demo_store
    out = tmp_path / "run"
    process = subprocess.run(
        [sys.executable, "-m", "mefuse.cli.main", "cv", "-s", str(root), "-o", str(out), "-q",
         *args], capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 2, process.stderr
    assert message in process.stderr
    assert "Traceback" not in process.stderr
    assert not (out / "results.json").exists()
