"""The field's baselines (STSTNet, HTNet) as model choices on the apex-image modality."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mefuse.bench.grid import Cell, build_cells, variant_label
from mefuse.bench.groups import KeyGroups
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, DataError
from mefuse.model.baselines import APEX_IMAGE_WIDTH, HTNet, STSTNet, build_baseline
from mefuse.store import FeatureStore
from mefuse.train.config import CVConfig, OptimConfig, TrainConfig, build_config
from mefuse.train.cv import run_cv
from mefuse.train.trainer import TrainedModel

CLASSES = ("Negative", "Positive", "Surprise")
QUICK = OptimConfig(epochs=12, batch_size=8, warmup_epochs=1)


def make_apex_store(root: Path, *, subjects: int = 6, per_subject: int = 6, seed: int = 0,
                    key: str = "apeximage", width: int = APEX_IMAGE_WIDTH) -> ClipTable:
    """A store of (1, 3*28*28) apex images whose class is a motion blob in its own place and
    channel (u top-left, v top-right, strain at the mouth), over noise: trivially separable."""
    rng = np.random.default_rng(seed)
    store = FeatureStore(root)
    rows = []
    with store.writer(key, {"extractor": key}) as writer:
        for s in range(subjects):
            for i in range(per_subject):
                label = (s + i) % len(CLASSES)
                image = rng.normal(0.0, 0.3, (3, 28, 28)).astype(np.float32)
                rows_, cols = [(4, 12), (4, 12), (18, 26)][label], [(4, 12), (16, 24),
                                                                    (8, 20)][label]
                image[label, rows_[0]:rows_[1], cols[0]:cols[1]] += 2.0
                clip = f"s{s}_c{i}"
                flat = image.reshape(1, -1)
                writer.write(clip, flat[:, :width] if width < flat.shape[1] else np.pad(
                    flat, ((0, 0), (0, width - flat.shape[1]))))
                rows.append({"clip_id": clip, "sequence_id": clip, "view": "none",
                             "subject": f"sub{s}",
                             **{c: int(j == label) for j, c in enumerate(CLASSES)}})
    table = ClipTable.from_frame(pd.DataFrame(rows), list(CLASSES))
    table.write(store.clips_path)
    return table


@pytest.fixture(scope="module")
def apex_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("apex_store")
    return root, make_apex_store(root)


def _cv_config(architecture: str, **extra) -> CVConfig:
    return CVConfig(modalities=["apeximage"], task="singlelabel", classes=list(CLASSES),
                    protocol="subject-kfold", folds=3, seeds=[0], level="clip",
                    model={"architecture": architecture}, optim=QUICK, **extra)


def test_forward_shapes_and_published_sizes():
    x = [torch.randn(4, 18, APEX_IMAGE_WIDTH)]
    for network in (STSTNet(3), HTNet(5, "singlelabel")):
        assert network(x).shape == (4, network.num_classes)
        assert network(x, network.sample_noise(4)).shape == (4, network.num_classes)
        logits, attention = network.forward_with_attention(x)
        assert logits.shape == (4, network.num_classes) and attention == []
    # STSTNet is tiny: 3 + 5 + 8 filters of 3x3x3, their batch norms, fc 400 -> 3
    assert sum(p.numel() for p in STSTNet(3).parameters()) == 1683
    assert 50_000 < sum(p.numel() for p in HTNet(3).parameters()) < 200_000  # kept small
    # the quadrants are the regions: a token in the top-right lands in region 1
    h = HTNet(3)
    grid = torch.arange(14 * 14, dtype=torch.float32).reshape(1, 14, 14, 1)
    assert h.regions(grid)[1, 0, 0] == 7 and h.regions(grid)[2, 0, 0] == 7 * 14
    assert torch.equal(h.unregions(h.regions(grid), 1).permute(0, 2, 3, 1), grid)
    with pytest.raises(ValueError, match="2352-wide"):
        build_baseline("ststnet", [24], 3)


def test_configuration_refuses_what_a_baseline_cannot_use():
    with pytest.raises(ConfigError, match="model.architecture"):
        build_config(TrainConfig, {"modalities": ["a"], "model": {"architecture": "foo"}})
    with pytest.raises(ConfigError, match="reads one modality"):
        build_config(TrainConfig, {"modalities": ["a", "b"],
                                   "model": {"architecture": "ststnet"}})
    with pytest.raises(ConfigError, match="has no fusion; leave out the fusion option"):
        build_config(TrainConfig, {"modalities": ["a"], "model": {"architecture": "htnet"},
                                   "fusion": {"aux_weight": 1.0}})
    assert TrainConfig(modalities=["a"]).model.architecture == "fusion"  # the paper's default


@pytest.mark.parametrize("architecture", ["ststnet", "htnet"])
def test_baselines_learn_a_separable_store_under_subject_folds(apex_store, architecture):
    root, table = apex_store
    result = run_cv(root, table, _cv_config(architecture))  # batched engine: falls back
    uf1 = result.summary["uf1_pooled_mean"] if "uf1_pooled_mean" in result.summary else \
        result.pooled[0]["uf1"]
    assert uf1 > 0.8, result.pooled  # chance is about 0.33
    assert result.config["model"]["architecture"] == architecture


def test_a_saved_baseline_loads_weights_only_and_predicts_the_same(apex_store, tmp_path):
    root, table = apex_store
    store = FeatureStore(root)
    config = TrainConfig(modalities=["apeximage"], task="singlelabel", classes=list(CLASSES),
                         model={"architecture": "ststnet"}, optim=QUICK)
    data = store.load_modalities(table.clip_ids, ["apeximage"], config.model.frames)
    model = TrainedModel(config, seed=1).fit(data, table.labels)
    path = tmp_path / "ststnet.pt"
    model.save(path)
    state = torch.load(path, weights_only=True)
    assert state["config"]["model"]["architecture"] == "ststnet"
    loaded = TrainedModel.load(path)
    assert isinstance(loaded.network, STSTNet)
    np.testing.assert_allclose(loaded.predict_proba(data), model.predict_proba(data), atol=1e-6)
    assert (loaded.predict(data) == model.predict(data)).all()
    assert loaded.gate_weights() == {"apeximage": 1.0}


def test_a_store_without_the_apex_image_is_refused_naming_the_extractor(tmp_path):
    table = make_apex_store(tmp_path, subjects=3, per_subject=2, key="flow", width=24)
    with pytest.raises(DataError, match="mefuse extract --extractor apeximage"):
        run_cv(tmp_path, table, CVConfig(
            modalities=["flow"], task="singlelabel", classes=list(CLASSES), folds=2,
            protocol="subject-kfold", model={"architecture": "htnet"}, optim=QUICK))


def test_the_bench_grid_puts_the_baselines_beside_the_papers_model():
    groups = KeyGroups(other=("apeximage", "flow"))
    cells = build_cells(groups, variants=["single", "gated", "ststnet", "htnet"])
    baseline = [(c.modalities, c.variant, c.set_kind) for c in cells if c.set_kind == "baseline"]
    assert baseline == [(("apeximage",), "ststnet", "baseline"),
                        (("apeximage",), "htnet", "baseline")]
    assert {c.variant for c in cells if c.modalities == ("apeximage",)} == {
        "single", "ststnet", "htnet"}
    data = Cell(("apeximage",), "htnet", "baseline").config_data(
        {"model": {"architecture": "ststnet"}, "fusion": {"late": True}})
    assert data["model"]["architecture"] == "htnet" and data["strategy"] == "single"
    assert not data["fusion"]["late"]
    # a fusion column never inherits a base configuration's baseline
    fused = Cell(("apeximage", "flow"), "gated", "pairs").config_data(
        {"model": {"architecture": "ststnet"}})
    assert fused["model"]["architecture"] == "fusion"
    assert variant_label("ststnet") == "STSTNet (baseline)"
    with pytest.raises(ConfigError, match="--extractor apeximage"):
        build_cells(KeyGroups(other=("flow",)), variants=["single", "htnet"])


def _mefuse(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_cv_with_a_baseline_and_its_errors(apex_store, tmp_path):
    root, _ = apex_store
    done = _mefuse("cv", "-s", str(root), "-m", "apeximage", "--architecture", "ststnet",
                   "--task", "singlelabel", "--classes", ",".join(CLASSES),
                   "--protocol", "subject-kfold", "--folds", "3", "--epochs", "3",
                   "--level", "clip", "-q", "-o", str(tmp_path / "cv"))
    assert done.returncode == 0, done.stderr + done.stdout
    assert "ststnet trains one fit at a time" in done.stdout
    assert (tmp_path / "cv" / "results.json").is_file()
    bad = _mefuse("cv", "-s", str(root), "-m", "apeximage", "--architecture", "foo")
    assert bad.returncode == 2
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "'foo' is not a model choice" in lines[0], bad.stderr
    assert "fusion, ststnet, htnet" in lines[0]
