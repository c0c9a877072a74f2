"""The clip table: validation with messages that name the row, clip or column."""

from __future__ import annotations

import pandas as pd
import pytest

from mefuse import FOURDMR_CLASSES
from mefuse.data.clips import ClipTable
from mefuse.errors import DataError


def frame(**overrides):
    rows = {
        "clip_id": ["a_left", "a_right", "b_left"],
        "sequence_id": ["a", "a", "b"],
        "view": ["left", "right", "left"],
        "subject": ["s1", "s1", "s2"],
        **{c: [0, 0, 0] for c in FOURDMR_CLASSES},
    }
    rows["Negative"] = [1, 0, 0]
    rows["Surprise"] = [0, 1, 1]
    rows.update(overrides)
    return pd.DataFrame(rows)


def test_round_trip_and_sequences(tmp_path):
    table = ClipTable.from_frame(frame())
    table.write(tmp_path / "clips.csv")
    again = ClipTable.read(tmp_path / "clips.csv")
    assert again.clip_ids == ["a_left", "a_right", "b_left"]
    assert (again.labels == table.labels).all()
    sequences = again.sequences()
    assert sequences["sequence_id"].tolist() == ["a", "b"]
    assert sequences.loc[0, "Negative"] == 1 and sequences.loc[0, "Surprise"] == 1


def test_numeric_looking_ids_stay_strings(tmp_path):
    table = ClipTable.from_frame(frame(sequence_id=["007", "007", "010"],
                                       subject=["01", "01", "02"]))
    table.write(tmp_path / "clips.csv")
    assert ClipTable.read(tmp_path / "clips.csv").frame["sequence_id"].tolist() == [
        "007", "007", "010"]


def test_unknown_class_column_is_named():
    with pytest.raises(DataError, match="unknown class column.*'Fear'"):
        ClipTable.from_frame(frame(), classes=["Negative", "Fear"])


def test_missing_required_column():
    with pytest.raises(DataError, match="missing column.*subject"):
        ClipTable.from_frame(frame().drop(columns="subject"))


def test_duplicate_clip_and_non_binary_label():
    with pytest.raises(DataError, match="'a_left' appears more than once"):
        ClipTable.from_frame(frame(clip_id=["a_left", "a_left", "b"]))
    with pytest.raises(DataError, match="'Positive'.*'b_left' has '2'"):
        ClipTable.from_frame(frame(Positive=[0, 0, 2]))


def test_unlabelled_rows_are_allowed_but_not_as_labels():
    table = ClipTable.from_frame(frame(**{c: [None] * 3 for c in FOURDMR_CLASSES}))
    assert not table.labelled.any()
    with pytest.raises(DataError, match="has no labels"):
        _ = table.labels


def test_a_sequence_of_two_subjects_is_refused():
    with pytest.raises(DataError, match="sequence 'a' has clips of several subjects"):
        ClipTable.from_frame(frame(subject=["s1", "s2", "s2"]))


def test_unsafe_clip_id_is_refused():
    with pytest.raises(DataError, match="cannot name a file"):
        ClipTable.from_frame(frame(clip_id=["a/left", "a_right", "b_left"]))
