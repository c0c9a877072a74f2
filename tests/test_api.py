"""The Python API and the scikit-learn estimator on cached features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mefuse
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.estimator import ModelParams, OptimParams

SMALL = DemoSpec(subjects=6, sequences_per_subject=4, views=("left",), signal_dim=8,
                 noise_dim=12, min_frames=6, max_frames=10)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("api") / "store"
    make_demo_store(root, SMALL, seed=1)
    return root


def test_import_mefuse_exposes_the_entry_points():
    for name in ("load_store", "clips_table", "cross_validate", "train_model", "predict",
                 "FusionClassifier"):
        assert callable(getattr(mefuse, name)), name
    with pytest.raises(AttributeError):
        mefuse.no_such_thing  # noqa: B018


def test_load_store_as_arrays_and_table(store):
    table = mefuse.clips_table(store)
    assert list(table.columns[:4]) == ["clip_id", "sequence_id", "view", "subject"]
    data = mefuse.load_store(store, ["signal", "noise"], frames=8)
    assert data.X.shape == (len(table), 8, 20) and data.widths == [8, 12]
    assert data.y.shape == (len(table), 5) and set(np.unique(data.y)) <= {0, 1}
    assert len(set(data.groups)) == 6
    np.testing.assert_array_equal(data.X[:, :, :8], data.arrays[0])


def test_estimator_clone_params_and_cross_val_score_with_groups(store):
    from sklearn.base import clone
    from sklearn.model_selection import GroupKFold, cross_val_score

    data = mefuse.load_store(store, ["signal", "noise"], frames=8)
    model = mefuse.FusionClassifier(modalities=data.modalities, widths=data.widths,
                               optim=OptimParams(epochs=3, batch_size=8),
                               model=ModelParams(dim=16, hidden=16))
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert copy.set_params(optim__epochs=2).optim.epochs == 2 and model.optim.epochs == 3
    scores = cross_val_score(model, data.X, data.y, groups=data.groups, cv=GroupKFold(3),
                             scoring="f1_macro")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    fitted = clone(model).fit(data.X, data.y)
    probabilities = fitted.predict_proba(data.X)
    assert probabilities.shape == data.y.shape
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert set(np.unique(fitted.predict(data.X))) <= {0, 1}
    assert set(fitted.gate_weights()) == {"signal", "noise"}
    # same seed, same numbers: the estimator's training is deterministic
    again = clone(model).fit(data.X, data.y).predict_proba(data.X)
    np.testing.assert_allclose(again, probabilities, rtol=0, atol=1e-6)


def test_estimator_single_label_and_bad_widths(store):
    from sklearn.exceptions import NotFittedError

    data = mefuse.load_store(store, ["signal"], frames=8)
    y = data.y.argmax(axis=1)
    names = np.array(["Negative", "Positive", "Repression", "Surprise", "Others"])[y]
    model = mefuse.FusionClassifier(modalities=["signal"], strategy="single",
                               optim=OptimParams(epochs=2), model=ModelParams(dim=16, hidden=16))
    with pytest.raises(NotFittedError):
        model.predict(data.X)
    model.fit(data.X, names)
    assert set(model.predict(data.X)) <= set(names)
    with pytest.raises(mefuse.MefuseError, match="widths"):
        mefuse.FusionClassifier(modalities=["a", "b"], widths=[3, 3]).fit(data.X, data.y)


def test_cross_validate_train_and_predict_on_a_store(store, tmp_path):
    result = mefuse.cross_validate(store, ["signal"], strategy="single", folds=2,
                                   protocol="subject-kfold", optim={"epochs": 2})
    assert 0 <= result.summary["macro_f1_mean"] <= 1
    model = mefuse.train_model(store, ["signal"], strategy="single", optim={"epochs": 2})
    predictions = mefuse.predict(model, store=store)
    assert len(predictions.clips) == len(mefuse.clips_table(store))
    assert "p_Negative" in predictions.sequences.columns


# --------------------------------------------------------------------------- check_data
def _generic_dataset(root, frames: int, end: int):
    """A ``folder`` dataset of one sequence with ``frames`` PNG frames and window 0..end."""
    import cv2
    import pandas as pd

    (root / "a").mkdir(parents=True)
    for index in range(frames):
        cv2.imwrite(str(root / "a" / f"{index}.png"), np.full((8, 8, 3), 50, np.uint8))
    pd.DataFrame([{"path": "a", "subject": "s", "start": 0, "end": end}]).to_csv(
        root / "clips.csv", index=False)
    return root


def test_check_data_is_a_door_of_the_api(tmp_path):
    good = mefuse.check_data("folder", _generic_dataset(tmp_path / "good", 3, 2), views="none")
    assert good.ok and good.errors == []
    info = good.summary()
    assert (info["sequences"], info["clips"], info["frames_max"]) == (1, 1, 3)
    assert info["views"] == ["full"] and good.views_choice == "none"
    assert "ok: every source opens" in str(good) and "1 sequences" in str(good)
    assert repr(good).startswith("<CheckReport folder at ") and repr(good).endswith(", ok>")
    bad = mefuse.check_data("folder", _generic_dataset(tmp_path / "bad", 2, 5), views=["full"])
    assert not bad.ok and "does not fit the 2 frames" in bad.errors[-1]
    assert "1 problem(s) to fix" in str(bad) and "does not fit" in str(bad)
    assert repr(bad).endswith("1 problem(s)>")


def test_check_data_refuses_what_stops_the_adapter(tmp_path):
    from mefuse.errors import ConfigError, DataError

    with pytest.raises(DataError, match="does not exist"):
        mefuse.check_data("folder", tmp_path / "missing")
    with pytest.raises(ConfigError):
        mefuse.check_data("nosuch", tmp_path)


def test_the_cli_module_keeps_the_old_name_of_the_check():
    from mefuse.cli.check_data import check_data

    assert check_data is mefuse.check_data


# ------------------------------------------------------------------ issue 20: one result object
def test_predict_returns_one_result_that_prints_writes_and_still_unpacks(store, tmp_path):
    """``predict`` returns a :class:`Predictions`: both tables, what was scored, a short printed
    summary, the CLI's two CSV files; unpacking as a tuple still works for one release, with a
    DeprecationWarning, and gives the same two tables."""
    from mefuse.predictions import Predictions
    from mefuse.utils.csvsafe import read_csv

    model = mefuse.train_model(store, ["signal"], strategy="single", optim={"epochs": 2})
    predictions = mefuse.predict(model, store=store)
    assert isinstance(predictions, Predictions)
    assert predictions.sources == (str(store),)
    assert predictions.warnings == () and predictions.failures == ()
    assert predictions.classes == [c[2:] for c in predictions.clips.columns if c[:2] == "p_"]
    text = repr(predictions)
    assert text.splitlines()[0] == (
        f"Predictions: {len(predictions.clips)} clips in {len(predictions.sequences)} sequences "
        "from 1 source; 0 failures, 0 warnings")
    first = predictions.sequences["sequence_id"].iloc[0]
    assert first in text and "more (see .sequences)" in text
    assert str(predictions) == text and "<table" in predictions._repr_html_()
    clips_csv, sequences_csv = predictions.to_csv(tmp_path / "out.csv")
    assert sequences_csv == tmp_path / "out_sequences.csv"
    pd.testing.assert_frame_equal(read_csv(clips_csv), predictions.clips, check_dtype=False)
    assert list(read_csv(sequences_csv)["sequence_id"]) == list(
        predictions.sequences["sequence_id"])
    with pytest.warns(DeprecationWarning, match="use its .clips and .sequences"):
        clips, sequences = predictions
    assert clips is predictions.clips and sequences is predictions.sequences
