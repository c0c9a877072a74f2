"""The paper's workflow on a 4DMR-layout dataset, end to end through the installed command, with
the paper's configuration given as a preset and as the repository's file: check-data, extract,
cv, train, submit (from a model and from a training store) and validate. Every verb that takes
a configuration accepts both presets and both configuration files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from mefuse.demo.faces import DemoFacesSpec, make_demo_faces
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.submit import validate_submission
from test_cli_errors import run_mefuse

ROOT = Path(__file__).resolve().parent.parent
QUICK = ["--epochs", "2", "--frames", "6"]
"""Flags that make the paper's recipe fast; everything else comes from the configuration."""
MODALITIES = ["-m", "mesh3d", "-m", "flow"]  # the weight-free extractors stand in for the paper's


def ok(args: list[str], cwd: Path) -> str:
    result = run_mefuse(args, cwd)
    assert result.returncode == 0, f"mefuse {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def fourdmr(tmp_path_factory) -> tuple[Path, Path, list[int]]:
    """A tiny 4DMR challenge root (train/ with labels, test/ without) and its feature store,
    made by the real check-data and extract verbs."""
    work = tmp_path_factory.mktemp("fourdmr")
    data = work / "data"
    labels = make_demo_faces(data, DemoFacesSpec(sequences_per_subject=2, min_frames=6,
                                                 max_frames=8))
    frame = pd.read_csv(labels)
    test = frame["Id"] % 4 == 0
    (data / "test").mkdir()
    for sequence in frame.loc[test, "Id"]:
        shutil.move(data / "train" / f"{sequence:03d}", data / "test" / f"{sequence:03d}")
    frame[~test].to_csv(labels, index=False)
    assert "ok:" in ok(["check-data", "-d", "4dmr", "-r", str(data)], work)
    store = work / "store"
    ok(["extract", "-d", "4dmr", "-r", str(data), "-s", str(store), "-e", "mesh3d", "-e",
        "flow", "--crop-size", "256", "-j", "1", "-q"], work)
    return work, store, sorted(int(i) for i in frame.loc[test, "Id"])


@pytest.mark.slow
@pytest.mark.parametrize("config", [["--preset", "paper"],
                                    ["-c", str(ROOT / "configs" / "paper.yaml")]],
                         ids=["preset", "file"])
def test_the_paper_workflow_runs_with_the_paper_configuration(fourdmr, config, tmp_path):
    work, store, test_ids = fourdmr
    ok(["cv", "-s", str(store), *config, *MODALITIES, *QUICK, "--seeds", "0", "-q",
        "-o", str(tmp_path / "cv")], work)
    assert (tmp_path / "cv" / "results.json").is_file()
    model = tmp_path / "model.pt"
    ok(["train", "-s", str(store), *config, *MODALITIES, *QUICK, "--thresholds", "tuned", "-q",
        "-o", str(model)], work)
    from_model = tmp_path / "from_model.csv"
    ok(["submit", "--model", str(model), "-s", str(store), "-o", str(from_model)], work)
    trained = tmp_path / "trained.csv"
    ok(["submit", "--train-store", str(store), "-s", str(store), *config, *MODALITIES, *QUICK,
        "-o", str(trained)], work)
    for submission in (from_model, trained):
        assert validate_submission(submission, test_ids) == len(test_ids)
    checked = ok(["submit", "--validate", str(trained), "-s", str(store)], work)
    assert f"Ids match the {len(test_ids)} test sequences" in checked


@pytest.fixture(scope="module")
def split_store(tmp_path_factory) -> tuple[Path, Path]:
    """A small feature store with a test split, for the configuration forms below."""
    root = tmp_path_factory.mktemp("split_store")
    spec = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                    min_frames=10, max_frames=16)
    table = make_demo_store(root, spec, seed=5)
    frame = table.frame.copy()
    test = frame["sequence_id"].str[1:].astype(int) % 4 == 0
    frame["split"] = ["test" if t else "train" for t in test]
    frame.loc[test, ["Negative", "Positive", "Repression", "Surprise", "Others"]] = float("nan")
    frame.to_csv(root / "split_clips.csv", index=False)
    return root, root / "split_clips.csv"


@pytest.mark.parametrize("config", [
    ["--preset", "recommended"], ["-c", str(ROOT / "configs" / "recommended.yaml")],
    ["-c", "paper"]], ids=["preset", "file", "name"])
def test_train_and_submit_take_every_preset_and_file(split_store, config, tmp_path):
    """The verbs that fit one model once refused every preset and the repository's files
    (their cross-validation settings were unknown to a single fit)."""
    root, clips = split_store
    common = [*config, "-m", "signal", "-m", "noise", "--epochs", "2", "--frames", "6"]
    ok(["train", "-s", str(root), "--clips", str(clips), *common, "-q",
        "-o", str(tmp_path / "m.pt")], tmp_path)
    ok(["submit", "--train-store", str(root), "--train-clips", str(clips), "-s", str(root),
        "--clips", str(clips), *common, "-o", str(tmp_path / "s.csv")], tmp_path)
    assert validate_submission(tmp_path / "s.csv") > 0
