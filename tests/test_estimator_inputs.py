"""Bad input to FusionClassifier and the Python API: a clear MefuseError, never a silently wrong
model.

Issue 18, items 3 (FusionClassifier's input validation), 17 (API errors that were not MefuseError)
and 21 (a multi-hot row in single-label training named by its clip id, not a row number).
"""

from __future__ import annotations

import numpy as np
import pytest

import mefuse
from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.errors import ConfigError, InvalidArrayError, MefuseError
from mefuse.estimator import ModelParams, OptimParams
from test_cli_errors import run_mefuse

SMALL = DemoSpec(subjects=4, sequences_per_subject=3, views=("left",), signal_dim=6,
                 noise_dim=4, min_frames=4, max_frames=6)
QUICK = {"optim": OptimParams(epochs=1), "model": ModelParams(dim=8, hidden=8, queries=1)}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs") / "store"
    make_demo_store(root, SMALL, seed=2)
    return root


@pytest.fixture(scope="module")
def data(store):
    return mefuse.load_store(store, ["signal", "noise"], frames=4)


def _model(**settings):
    return mefuse.FusionClassifier(**{"modalities": ["signal", "noise"], "widths": [6, 4], **QUICK,
                                 **settings})


# ---------------------------------------------------------------- item 3: X and y at fit
def test_nan_or_inf_in_x_is_refused_at_fit_and_at_predict(data):
    bad = data.X.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(InvalidArrayError, match="Input X contains NaN"):
        _model().fit(bad, data.y)
    bad[0, 1, 2] = np.inf
    with pytest.raises(InvalidArrayError, match="infinity"):
        _model().fit(bad, data.y)
    fitted = _model().fit(data.X, data.y)
    with pytest.raises(InvalidArrayError, match="infinity"):
        fitted.predict_proba(bad)
    with pytest.raises(ValueError):  # also scikit-learn's contract
        fitted.predict(bad)
    assert np.isfinite(fitted.predict_proba(data.X)).all()


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (lambda y: y[:-2], "inconsistent numbers of samples"),
        (lambda y: np.r_[0.5, np.arange(len(y) - 1) % 2], "Unknown label type"),
        (lambda y: np.r_[np.nan, np.arange(len(y) - 1) % 2], "Input y contains NaN"),
        (lambda y: np.zeros(len(y)), "at least two classes"),
        (lambda y: np.full(len(y), "Surprise"), "only one class"),
        (lambda y: y * 2, "0/1 matrix"),
        (lambda y: None, "requires y to be passed"),
    ],
    ids=["y-short", "y-half", "y-nan", "one-class", "one-named-class", "not-0-1", "no-y"],
)
def test_bad_labels_are_refused(data, labels, message):
    with pytest.raises(InvalidArrayError, match=message):
        _model().fit(data.X, labels(data.y))


def test_labels_of_the_wrong_shape_for_the_task(data):
    with pytest.raises(InvalidArrayError, match="1-D array of class labels"):
        _model(task="singlelabel").fit(data.X, data.y)
    with pytest.raises(InvalidArrayError, match="0/1 matrix"):
        _model(task="multilabel").fit(data.X, data.y.argmax(axis=1))
    with pytest.raises(ConfigError, match="task must be"):
        _model(task="regression").fit(data.X, data.y)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"widths": [0, 10]}, "must all be positive"),
        ({"widths": [-2, 12]}, "must all be positive"),
        ({"widths": [6.0, 4.0]}, "whole numbers"),
        ({"widths": [6, 3]}, "add up to X's 10 columns"),
        ({"modalities": "signal", "widths": None}, "list of one or more names"),
        ({"modalities": ["signal", "noise"], "widths": None}, "how many of X's 10 columns"),
    ],
    ids=["zero", "negative", "floats", "sum", "string", "missing"],
)
def test_bad_modalities_or_widths_are_refused(data, settings, message):
    with pytest.raises(ConfigError, match=message):
        _model(**settings).fit(data.X, data.y)


def test_x_at_predict_must_match_the_fitted_shape(data):
    fitted = _model().fit(data.X, data.y)
    with pytest.raises(InvalidArrayError,
                       match="X has 5 features, but FusionClassifier is expecting"):
        fitted.predict(data.X[:, :, :5])
    with pytest.raises(InvalidArrayError, match="X has 3 frames per clip, but the model was fitted "
                                                "on 4"):
        fitted.predict(data.X[:, :3])
    with pytest.raises(InvalidArrayError, match="Expected 2D array, got 1D"):
        fitted.predict(data.X[0, 0])
    with pytest.raises(InvalidArrayError, match="got 4 dimensions"):
        fitted.predict(data.X[..., np.newaxis])


def test_two_dimensional_x_is_one_frame_per_clip(data):
    flat = data.X[:, 0, :]
    fitted = _model().fit(flat, data.y)
    assert fitted.n_features_in_ == 10 and fitted.frames_ == 1
    np.testing.assert_allclose(fitted.predict_proba(flat),
                               _model().fit(flat[:, None, :], data.y).predict_proba(flat[:, None]),
                               rtol=0, atol=1e-6)


# ---------------------------------------------------------------- item 17: the Python API
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: mefuse.load_store(s, ["signal"], frames=0), "frames=0: Input should be greater"),
        (lambda s: mefuse.load_store(s, ["signal"], frames=-3), "frames=-3"),
        (lambda s: mefuse.load_store(s, ["signal"], frames=1e9), "less than or equal to 512"),
        (lambda s: mefuse.load_store(s, ["signal"], frames=2.5), "fractional part"),
        (lambda s: mefuse.load_store(s, []), "modalities=\\[\\]: .*at least 1 item"),
        (lambda s: mefuse.load_store(s, "signal"), "\\['signal'\\], not a lone string"),
        (lambda s: mefuse.load_store(s, ["signal"], classes="Surprise"), "not a lone string"),
        (lambda s: mefuse.load_store(42, ["signal"]), "store=42: expected str \\| Path"),
        (lambda s: mefuse.cross_validate(s, "signal"), "not a lone string"),
        (lambda s: mefuse.train_model(s, "signal"), "not a lone string"),
        (lambda s: mefuse.predict(42, store=s), "not int 42"),
        (lambda s: mefuse.predict(mefuse.FusionClassifier(), store=s), "call its predict"),
        (lambda s: mefuse.predict("m.pt", inputs="clip.mp4"), "not a lone string"),
        (lambda s: mefuse.predict("m.pt", inputs=["clip.mp4"], bogus=1), "no option 'bogus'"),
    ],
    ids=["frames-0", "frames-negative", "frames-1e9", "frames-float", "no-modality",
         "modality-string", "classes-string", "store-number", "cv-string", "train-string",
         "model-number", "model-estimator", "inputs-string", "unknown-option"],
)
def test_api_arguments_are_checked(store, call, message):
    with pytest.raises(ConfigError, match=message):
        call(store)


def test_predict_on_a_store_refuses_options_it_would_ignore(store):
    model = mefuse.train_model(store, ["signal"], strategy="single", optim={"epochs": 1})
    with pytest.raises(ConfigError, match="takes no options \\(got bogus\\)"):
        mefuse.predict(model, store=store, bogus=1)
    assert len(mefuse.predict(model, store=store).clips) == len(mefuse.clips_table(store))


def test_api_accepts_tuples_paths_and_numpy_integers(store):
    data = mefuse.load_store(str(store), ("signal",), frames=np.int64(3))
    assert data.X.shape[1:] == (3, 6)


# ---------------------------------------------------------------- item 21: the clip's id
def test_single_label_training_names_the_multi_hot_clip(tmp_path, demo_store):
    root, table = demo_store
    counts = table.frame[list(table.classes)].sum(axis=1).to_numpy()
    clip = table.frame["clip_id"].iloc[int(np.flatnonzero(counts != 1)[0])]
    result = run_mefuse(["train", "-s", str(root), "-m", "signal", "--strategy", "single",
                         "--task", "singlelabel", "--epochs", "1", "-o", str(tmp_path / "m.pt"),
                         "-q"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert f"clip {clip!r} of the training data has {counts.max()}" in result.stderr
    assert not (tmp_path / "m.pt").exists()


def test_errors_are_mefuse_errors_and_value_errors():
    assert issubclass(InvalidArrayError, MefuseError) and issubclass(InvalidArrayError, ValueError)
