"""Progress off a terminal, and mismatch errors that name the differing fields."""

from __future__ import annotations

import io

import numpy as np
import pytest

from mefuse.errors import StoreConfigMismatch
from mefuse.store import FeatureStore
from mefuse.utils.diff import describe_differences, differing_fields
from mefuse.utils.progress import progress_bar


def test_progress_writes_plain_lines_when_the_stream_is_not_a_terminal(monkeypatch):
    monkeypatch.setenv("MEFUSE_PROGRESS_SECONDS", "0")
    stream = io.StringIO()
    with progress_bar("extract", 10, unit="frames", stream=stream) as advance:
        advance(4)
        advance(4, total=20)  # the total can be re-estimated
        advance(12, description="done")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("extract: 4/10 frames (40%)") and "left" in lines[0]
    assert lines[1].startswith("extract: 8/20 frames (40%)")
    assert lines[-1].startswith("extract: 20/20 frames (100%)") and lines[-1].endswith("done")
    assert "\x1b" not in stream.getvalue()  # no terminal control codes in logs


def test_progress_is_silent_when_disabled():
    stream = io.StringIO()
    with progress_bar("cv", 3, enabled=False, stream=stream) as advance:
        advance(3)
    assert stream.getvalue() == ""


def test_differences_are_named_by_dotted_path():
    old = {"params": {"size": 64, "grid": 8}, "preprocess": {"crop_size": 256}, "w": None}
    new = {"params": {"size": 64, "grid": 12}, "preprocess": {"crop_size": 1024}, "w": None}
    assert differing_fields(old, new) == [("params.grid", 8, 12),
                                          ("preprocess.crop_size", 256, 1024)]
    text = describe_differences(old, new, "model", "store")
    assert text == "params.grid: model 8, store 12; preprocess.crop_size: model 256, store 1024"


def test_store_mismatch_names_the_field_and_the_fix(tmp_path):
    store = FeatureStore(tmp_path)
    config = {"extractor": "flow", "params": {"size": 64}, "weights": None,
              "preprocess": {"crop_size": 256}}
    with store.writer("flow", config, overwrite=False) as writer:
        writer.write("c1", np.zeros((3, 4), np.float32))
    other = {**config, "preprocess": {"crop_size": 1024}}
    with pytest.raises(StoreConfigMismatch) as error:
        store.writer("flow", other, overwrite=False).__enter__()
    message = str(error.value)
    assert "preprocess.crop_size: store has 256, this run uses 1024" in message
    assert "--overwrite" in message and "{'extractor'" not in message
