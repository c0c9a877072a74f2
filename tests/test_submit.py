"""The 4DMR submission: written from a model for held-out sequences, views merged by OR, and a
validator that refuses every malformed file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mefuse import FOURDMR_CLASSES
from mefuse.cli.main import app
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.errors import ConfigError, DataError
from mefuse.submit import (
    SUBMISSION_COLUMNS,
    sequence_number,
    submission_frame,
    submission_problems,
    validate_submission,
)
from mefuse.train.fit import predict_store
from mefuse.train.trainer import TrainedModel

runner = CliRunner()
SMALL = DemoSpec(subjects=6, sequences_per_subject=6, signal_dim=12, noise_dim=16,
                 min_frames=10, max_frames=16)
HEADER = ",".join(SUBMISSION_COLUMNS)
QUICK_YAML = ("modalities: [signal, noise]\nstrategy: gated\n"
              "model: {frames: 8, dim: 16, hidden: 16, queries: 2}\n"
              "optim: {epochs: 3, warmup_epochs: 0}\n")


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """A demo store whose clip table marks every fourth sequence as unlabelled test data."""
    root = tmp_path_factory.mktemp("submit_store")
    table = make_demo_store(root, SMALL, seed=5)
    frame = table.frame.copy()
    test = frame["sequence_id"].str[1:].astype(int) % 4 == 0
    frame["split"] = np.where(test, "test", "train")
    frame.loc[test, list(FOURDMR_CLASSES)] = np.nan
    frame.to_csv(root / "split_clips.csv", index=False)
    ids = sorted(int(s[1:]) for s in frame.loc[test, "sequence_id"].unique())
    return root, root / "split_clips.csv", ids


@pytest.fixture(scope="module")
def tuned_model(held_out, tmp_path_factory):
    root, clips, _ = held_out
    path = tmp_path_factory.mktemp("model") / "model.pt"
    result = runner.invoke(app, ["train", "-s", str(root), "--clips", str(clips), "-m", "signal",
                                 "-m", "noise", "--thresholds", "tuned", "--epochs", "3",
                                 "--frames", "8", "-o", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_submission_for_held_out_sequences_passes_the_validator(held_out, tuned_model,
                                                                tmp_path):
    root, clips, ids = held_out
    out = tmp_path / "submission.csv"
    result = runner.invoke(app, ["submit", "--model", str(tuned_model), "-s", str(root),
                                 "--clips", str(clips), "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.splitlines()[0] == HEADER
    frame = pd.read_csv(out)
    assert frame["Id"].tolist() == ids  # the test sequences only, sorted by Id
    assert set(np.unique(frame[list(FOURDMR_CLASSES)])) <= {0, 1}
    assert validate_submission(out, ids) == len(ids)
    check = runner.invoke(app, ["submit", "--validate", str(out), "-s", str(root), "--clips",
                                str(clips)])
    assert check.exit_code == 0 and f"match the {len(ids)} test sequences" in check.output

    # views merged by a per-class OR of each view's thresholded decision
    model = TrainedModel.load(tuned_model)
    assert model.config.thresholds.mode == "tuned"
    per_clip, _ = predict_store(model, root, clips)
    per_clip = per_clip[per_clip["sequence_id"].str[1:].astype(int).isin(ids)]
    merged = per_clip.groupby("sequence_id")[list(FOURDMR_CLASSES)].max()
    merged.index = [sequence_number(s) for s in merged.index]
    assert (merged.sort_index().to_numpy() == frame[list(FOURDMR_CLASSES)].to_numpy()).all()
    probabilities = pd.read_csv(tmp_path / "submission_probabilities.csv")
    assert probabilities["Id"].tolist() == ids and "p_Negative" in probabilities


def test_a_fixed_threshold_model_is_refused_unless_allowed(held_out, tmp_path):
    root, clips, ids = held_out
    model = tmp_path / "fixed.pt"
    result = runner.invoke(app, ["train", "-s", str(root), "--clips", str(clips), "-m", "signal",
                                 "--strategy", "single", "--epochs", "2", "-o", str(model)])
    assert result.exit_code == 0, result.output
    args = ["submit", "--model", str(model), "-s", str(root), "--clips", str(clips), "-o",
            str(tmp_path / "s.csv")]
    result = runner.invoke(app, args)
    assert isinstance(result.exception, ConfigError) and "tuned" in str(result.exception)
    assert not (tmp_path / "s.csv").exists()
    result = runner.invoke(app, [*args, "--allow-fixed-thresholds"])
    assert result.exit_code == 0, result.output
    assert validate_submission(tmp_path / "s.csv", ids) == len(ids)


def test_train_store_mode_tunes_thresholds_on_training_data(held_out, tmp_path):
    root, clips, ids = held_out
    config = tmp_path / "c.yaml"
    config.write_text(QUICK_YAML + "thresholds: {mode: fixed}\nseeds: [0]\n")
    result = runner.invoke(app, ["submit", "--train-store", str(root), "--train-clips",
                                 str(clips), "--config", str(config), "-s", str(root),
                                 "--clips", str(clips), "--save-model", str(tmp_path / "m.pt"),
                                 "--negative-excludes-positive", "-o", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert "tuned thresholds" in result.output
    model = TrainedModel.load(tmp_path / "m.pt")
    assert model.config.thresholds.mode == "tuned"  # forced, although the file said fixed
    assert model.provenance["n_clips"] == 2 * (36 - len(ids))  # labelled (training) clips only
    frame = pd.read_csv(tmp_path / "s.csv")
    assert not ((frame["Negative"] == 1) & (frame["Positive"] == 1)).any()
    validate_submission(tmp_path / "s.csv", ids)


def test_negative_excludes_positive_is_off_by_default():
    sequences = pd.DataFrame({"sequence_id": ["seq_12", "seq_3"], "Negative": [1, 0],
                              "Positive": [1, 1], "Repression": [0, 0], "Surprise": [0, 1],
                              "Others": [0, 0]})
    plain = submission_frame(sequences)
    assert plain["Id"].tolist() == [3, 12]  # sorted by Id
    assert plain["Positive"].tolist() == [1, 1]
    ruled = submission_frame(sequences, negative_excludes_positive=True)
    assert ruled["Positive"].tolist() == [1, 0] and ruled["Negative"].tolist() == [0, 1]
    with pytest.raises(DataError, match="share the submission Id"):
        submission_frame(sequences.assign(sequence_id=["a_3", "b_3"]))


def test_sequence_number_is_the_last_integer_of_the_id():
    assert sequence_number("12") == 12
    assert sequence_number("seq_012") == 12
    assert sequence_number("4DMR_12") == 12
    with pytest.raises(DataError, match="no integer"):
        sequence_number("abc")


GOOD = f"{HEADER}\n1,0,1,0,0,0\n2,1,0,0,1,0\n5,0,0,0,0,1\n"


@pytest.mark.parametrize(("text", "expected", "problem"), [
    ("Id,Negative,Positive,Repression,Surprise\n1,0,1,0,0\n", None, "missing Others"),
    (f"{HEADER},Extra\n1,0,1,0,0,0,0\n", None, "unexpected 'Extra'"),
    ("Id,Positive,Negative,Repression,Surprise,Others\n1,0,1,0,0,0\n", None, "wrong order"),
    ("id,negative,positive,repression,surprise,others\n1,0,1,0,0,0\n", None, "wrong header"),
    (f"{HEADER}\n1,0,2,0,0,0\n", None, "Positive is '2'"),
    (f"{HEADER}\n1,0,1.0,0,0,0\n", None, "Positive is '1.0'"),
    (f"{HEADER}\n1,0,,0,0,0\n", None, "an empty cell"),
    (f"{HEADER}\n1,0,1,0,0\n", None, "5 cells"),
    (f"{HEADER}\nx1,0,1,0,0,0\n", None, "not a non-negative integer"),
    (f"{HEADER}\n1,0,1,0,0,0\n1,0,0,0,0,1\n", None, "duplicate Id"),
    (f"{HEADER}\n2,0,1,0,0,0\n1,0,0,0,0,1\n", None, "not sorted"),
    (GOOD, {1, 2, 5, 7}, "missing: 7"),
    (GOOD, {1, 2}, "not among the test sequences: 5"),
    (f"{HEADER}\n", None, "no row"),
    ("", None, "empty"),
    ("\ufeff" + GOOD, None, "byte-order mark"),
    (GOOD + "\n\n", None, "ends with 2 blank lines"),
    (GOOD + "\n\n\n\n", None, "ends with 4 blank lines"),
    (GOOD.replace("2,1,0", '"2",1,0'), None, 'line 3 holds a quote character'),
    (GOOD.replace("\n5,", "\n05,"), None, "Id '05' has a leading zero"),
    (GOOD.replace("\n5,", "\n12345678901234567890123,"), None, "beyond the 64-bit integers"),
])
def test_validator_rejects_malformed_files(text, expected, problem, tmp_path):
    problems = submission_problems(text, expected)
    assert any(problem in p for p in problems), problems
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match="not a valid 4DMR submission"):
        validate_submission(path, expected)


def test_validator_accepts_a_good_file_and_the_cli_rejects_a_bad_one(tmp_path):
    assert submission_problems(GOOD) == []
    assert submission_problems(GOOD.rstrip("\n")) == []  # no final newline: the same rows
    assert submission_problems(GOOD + "\n") == []  # one extra final newline is harmless
    assert submission_problems(GOOD.replace("\n", "\r\n")) == []
    assert submission_problems(f"{HEADER}\n0,0,1,0,0,0\n10,1,0,0,0,0\n") == []  # Id 0 is fine
    assert submission_problems(GOOD, {1, 2, 5}) == []
    path = tmp_path / "bad.csv"
    path.write_text(GOOD.replace("5,0,0,0,0,1", "5,0,0,0,0,yes"), encoding="utf-8")
    result = runner.invoke(app, ["submit", "--validate", str(path)])
    assert isinstance(result.exception, DataError) and "Others is 'yes'" in str(result.exception)
