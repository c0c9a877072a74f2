"""``train`` and ``predict``: a saved model round-trips and refuses mismatched features."""

from __future__ import annotations

import itertools
import json
import shutil

import numpy as np
import pytest
import torch

from mefuse.errors import DataError
from mefuse.train.config import OptimConfig, TrainConfig
from mefuse.train.data import load_modalities
from mefuse.train.fit import fit_on_store, predict_store
from mefuse.train.trainer import TrainedModel


@pytest.fixture(scope="module")
def fitted(demo_store):
    root, table = demo_store
    config = TrainConfig(modalities=["signal", "noise"], optim=OptimConfig(epochs=10),
                         thresholds={"mode": "tuned"})
    return fit_on_store(root, table, config, seed=3)


def test_saved_model_round_trips_with_weights_only(fitted, demo_store, tmp_path):
    root, table = demo_store
    fitted.save(tmp_path / "model.pt")
    torch.load(tmp_path / "model.pt", weights_only=True)  # plain tensors and data only
    loaded = TrainedModel.load(tmp_path / "model.pt")
    data = load_modalities(root, table.clip_ids[:10], ["signal", "noise"], 18)
    np.testing.assert_allclose(loaded.predict_proba(data), fitted.predict_proba(data), atol=1e-6)
    np.testing.assert_array_equal(loaded.thresholds, fitted.thresholds)
    assert loaded.gate_weights() == pytest.approx(fitted.gate_weights())


def test_predict_store_merges_views_per_class(fitted, demo_store):
    root, _ = demo_store
    clips, sequences = predict_store(fitted, root)
    assert len(sequences) == clips["sequence_id"].nunique()
    first = clips[clips["sequence_id"] == sequences["sequence_id"].iloc[0]]
    assert sequences["p_Negative"].iloc[0] == pytest.approx(first["p_Negative"].max())
    assert sequences["Others"].iloc[0] == first["Others"].max()


def test_predict_refuses_features_of_another_configuration(fitted, demo_store, tmp_path):
    root, _ = demo_store
    copy = tmp_path / "store"
    shutil.copytree(root, copy)
    manifest_path = copy / "noise" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["params"]["seed"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DataError, match="'noise'.*configured differently"):
        predict_store(fitted, copy)


def test_a_file_that_is_not_a_model(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a mefuse model") as caught:
        TrainedModel.load(tmp_path / "x.pt")
    assert "weights_only=False" not in str(caught.value)  # torch's advice is not ours
    assert len(str(caught.value)) < 300
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        TrainedModel.load(tmp_path / "empty.pt")
    torch.save({"hello": 1}, tmp_path / "y.pt")
    with pytest.raises(DataError, match="not a mefuse model"):
        TrainedModel.load(tmp_path / "y.pt")


def test_a_version_2_model_file_still_loads_and_other_versions_say_so(fitted, demo_store,
                                                                      tmp_path):
    root, table = demo_store
    fitted.save(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["format"] == "mefuse-model/3"
    weights = state["state_dict"]
    for index in range(len(fitted.network.pools)):  # version 2 kept K and V in one layer
        prefix = f"pools.{index}."
        for part in ("weight", "bias"):
            weights[f"{prefix}key_value.{part}"] = torch.cat(
                [weights.pop(f"{prefix}key.{part}"), weights.pop(f"{prefix}value.{part}")])
    torch.save({**state, "format": "mefuse-model/2"}, tmp_path / "v2.pt")
    data = load_modalities(root, table.clip_ids, ["signal", "noise"], 18)
    np.testing.assert_array_equal(TrainedModel.load(tmp_path / "v2.pt").predict_proba(data),
                                  fitted.predict_proba(data))
    torch.save({**state, "format": "mefuse-model/1"}, tmp_path / "v1.pt")
    with pytest.raises(DataError, match="mefuse-model/1 model file.*retrain"):
        TrainedModel.load(tmp_path / "v1.pt")


def test_standardiser_is_fitted_on_the_training_clips_only(demo_store):
    root, table = demo_store
    data = load_modalities(root, table.clip_ids, ["signal"], 18)
    train = np.arange(0, 60)
    estimator = TrainedModel(
        TrainConfig(modalities=["signal"], strategy="single", optim=OptimConfig(epochs=1)))
    estimator.fit(data.take(train), table.labels[train], classes=list(table.classes))
    expected = data.arrays[0][train].reshape(-1, data.dims[0]).mean(axis=0)
    np.testing.assert_allclose(estimator.standardiser.mean[0], expected, rtol=1e-5, atol=1e-6)
    everything = data.arrays[0].reshape(-1, data.dims[0]).mean(axis=0)
    assert not np.allclose(estimator.standardiser.mean[0], everything, atol=1e-3)


def test_learning_rate_warms_up_then_decays_to_zero():
    from mefuse.train.trainer import warmup_cosine

    factors = [warmup_cosine(step, 10, 100) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))
    assert factors[-1] < 0.01
