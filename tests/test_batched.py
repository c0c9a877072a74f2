"""Fold-batched training: the stacked engine equals the one-at-a-time loop, fit for fit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from mefuse.data.clips import ClipTable
from mefuse.train import stacked_adamw
from mefuse.train.batched import FitSpec, fit_batched
from mefuse.train.config import CVConfig, OptimConfig
from mefuse.train.cv import run_cv
from mefuse.train.data import load_modalities
from mefuse.train.stacked_adamw import StackedAdamW, clip_grad_norms_
from mefuse.train.trainer import TrainedModel, schedule_lengths

QUICK = OptimConfig(epochs=3, warmup_epochs=1)


# ---------------------------------------------------------------------------- optimiser
@pytest.mark.parametrize("fused", [True, False])
def test_stacked_adamw_equals_torch_adamw_for_one_fit(fused):
    torch.manual_seed(0)
    shapes = [(5, 3), (3,), (2,)]
    scales, decays = [1.0, 1.0, 10.0], [0.05, 0.0, 0.0]
    mine = [torch.randn(1, *s) for s in shapes]
    theirs = [torch.nn.Parameter(p[0].clone()) for p in mine]
    groups = [{"params": [t], "lr": 1e-2 * sc, "weight_decay": wd}
              for t, sc, wd in zip(theirs, scales, decays, strict=True)]
    reference = torch.optim.AdamW(groups, fused=fused)
    stacked = StackedAdamW(mine, scales, decays)
    for step in range(25):
        factor = 0.5 + 0.5 * np.cos(step / 7)
        grads = [torch.randn(1, *s) for s in shapes]
        for t, g, group, sc in zip(theirs, grads, reference.param_groups, scales, strict=True):
            t.grad = g[0].clone()
            group["lr"] = 1e-2 * sc * factor
        reference.step()
        stacked.step(grads, torch.tensor([1e-2 * factor], dtype=torch.float64),
                     torch.tensor([True]))
    for m, t in zip(mine, theirs, strict=True):
        assert torch.allclose(m[0], t.detach(), atol=1e-6, rtol=0)
        assert not torch.equal(m[0], torch.zeros_like(m[0]))


@pytest.mark.parametrize("kernel", [True, False], ids=["fused-kernel", "tensor-ops"])
def test_stacked_adamw_skips_inactive_fits_and_keeps_each_fits_rate(kernel, monkeypatch):
    """Both update paths; the gradients are not contiguous, as vmap's often are (the fused
    kernel once read such slices as dense memory and silently diverged)."""
    if not kernel:
        monkeypatch.setattr(stacked_adamw, "_FUSED", None)
    torch.manual_seed(1)
    stacked_params = [torch.randn(2, 4, 3)]
    singles = [torch.nn.Parameter(stacked_params[0][g].clone()) for g in range(2)]
    optimisers = [torch.optim.AdamW([p], lr=1.0, weight_decay=0.05) for p in singles]
    stacked = StackedAdamW(stacked_params, [1.0], [0.05])
    for step in range(12):
        grads = torch.randn(3, 4, 2).permute(2, 1, 0)
        assert not grads.is_contiguous()
        lr = torch.tensor([1e-2, 3e-3 * (step + 1)], dtype=torch.float64)
        active = torch.tensor([True, step % 3 != 0])  # fit 1 sits out every third step
        for g in range(2):
            if active[g]:
                singles[g].grad = grads[g].clone()
                optimisers[g].param_groups[0]["lr"] = float(lr[g])
                optimisers[g].step()
        stacked.step([grads], lr, active)
    for g in range(2):
        assert torch.allclose(stacked_params[0][g], singles[g].detach(), atol=1e-6, rtol=0)
    assert stacked.steps.tolist() == [12.0, 8.0]


def test_clip_grad_norms_is_per_fit_and_in_place():
    torch.manual_seed(2)
    grads = [torch.randn(3, 4, 5) * 3, torch.randn(3, 5)]
    grads[0][1] *= 1e-3  # fit 1 is under the limit: untouched
    grads[1][1] *= 1e-3
    original = [g.clone() for g in grads]
    clip_grad_norms_(grads, 1.0)
    for g in range(3):
        own = [x[g].clone() for x in original]
        params = [torch.nn.Parameter(torch.zeros_like(x)) for x in own]
        for p, x in zip(params, own, strict=True):
            p.grad = x
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for p, c in zip(params, grads, strict=True):
            assert torch.allclose(c[g], p.grad, atol=1e-7, rtol=1e-6)
    assert torch.equal(grads[0][1], original[0][1])
    assert not torch.equal(grads[0][0], original[0][0])

    small = [g[1:2].clone() for g in original]  # no fit over the limit: nothing changes
    before = [g.clone() for g in small]
    clip_grad_norms_(small, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(small, before, strict=True))


# ---------------------------------------------------------------------------- engines
def _both(root, table, **settings):
    config = dict(modalities=["signal", "noise"], strategy="gated", optim=QUICK)
    config.update(settings)
    loop = run_cv(root, table, CVConfig(**config, engine="loop"))
    batched = run_cv(root, table, CVConfig(**config, engine="batched", max_stack=5))
    return loop, batched


def _assert_same(loop, batched):
    assert len(loop.folds) == len(batched.folds)
    for a, b in zip(loop.folds, batched.folds, strict=True):
        assert (a["seed"], a["fold"]) == (b["seed"], b["fold"])
        assert a["thresholds"] == b["thresholds"]
        assert a["n_train_clips"] == b["n_train_clips"]
        assert a["macro_f1"] == pytest.approx(b["macro_f1"], abs=1e-6)
        for key in ("per_class_f1", "gate"):
            for name in a[key]:
                assert a[key][name] == pytest.approx(b[key][name], abs=1e-6)
    for a, b in zip(loop.pooled, batched.pooled, strict=True):
        assert a["uf1"] == pytest.approx(b["uf1"], abs=1e-6)
        assert a["uar"] == pytest.approx(b["uar"], abs=1e-6)
    for key, value in loop.summary.items():
        if isinstance(value, dict):
            for name in value:
                assert value[name] == pytest.approx(batched.summary[key][name], abs=1e-6)
        else:
            assert value == pytest.approx(batched.summary[key], abs=1e-6), key
    decisions = [c for c in loop.predictions.columns if c.startswith(("pred_", "t_", "y_"))]
    pd.testing.assert_frame_equal(loop.predictions[["clip_id", *decisions]],
                                  batched.predictions[["clip_id", *decisions]])
    probabilities = [c for c in loop.predictions.columns if c.startswith("p_")]
    assert np.abs(loop.predictions[probabilities].to_numpy()
                  - batched.predictions[probabilities].to_numpy()).max() < 1e-5
    for key, value in loop.attention.items():
        if value.dtype.kind == "f":
            assert np.abs(value - batched.attention[key]).max() < 1e-5


@pytest.fixture(scope="module")
def uneven(demo_store):
    """The demo with most clips of subject s00 removed: LOSO training sets of different sizes,
    so fits have different steps per epoch and short final batches."""
    root, table = demo_store
    frame = table.frame
    subject = frame["subject"].iloc[0]
    keep = (frame["subject"] != subject) | (frame["sequence_id"].isin(
        frame.loc[frame["subject"] == subject, "sequence_id"].unique()[:3]))
    return root, table.subset(keep.to_numpy())


def test_gated_loso_uneven_fits_equal_the_loop(uneven):
    root, table = uneven
    loop, batched = _both(root, table, protocol="loso", seeds=[0, 1])
    sizes = {r["n_train_clips"] for r in loop.folds}
    steps = {schedule_lengths(n, QUICK)[0] for n in sizes}
    assert len(steps) > 1  # the point of this data: fits sit out steps
    assert len(loop.folds) == 2 * table.frame["subject"].nunique()
    _assert_same(loop, batched)


@pytest.mark.parametrize("settings", [
    {"strategy": "concat"},
    {"strategy": "single", "modalities": ["signal"]},
    {"strategy": "gated", "thresholds": {"mode": "tuned"}, "seeds": [0, 3]},
    {"strategy": "sum", "model": {"position": True, "motion": True}},
], ids=["concat", "single", "tuned", "sum-position-motion"])
def test_strategies_mskf_equal_the_loop(demo_store, settings):
    root, table = demo_store
    _assert_same(*_both(root, table, protocol="mskf", **settings))


def test_tuned_thresholds_loso_equal_the_loop(uneven):
    root, table = uneven
    loop, batched = _both(root, table, protocol="loso", thresholds={"mode": "tuned"})
    assert any(t != 0.5 for row in loop.folds for t in row["thresholds"])
    _assert_same(loop, batched)


def test_singlelabel_equals_the_loop(demo_store):
    root, table = demo_store
    frame = table.frame.copy()
    first = frame[list(table.classes)].to_numpy().argmax(axis=1)
    frame[list(table.classes)] = np.eye(len(table.classes), dtype=int)[first]
    single = ClipTable.from_frame(frame)
    _assert_same(*_both(root, single, task="singlelabel", protocol="subject-kfold", folds=3))


def test_batched_estimators_predict_save_and_load_like_single_fits(demo_store, tmp_path):
    root, table = demo_store
    config = CVConfig(modalities=["signal", "noise"], optim=QUICK).train_config()
    data = load_modalities(root, table.clip_ids, config.modalities, config.model.frames)
    labels = table.labels
    rng = np.random.default_rng(0)
    fits = [FitSpec(np.sort(rng.choice(len(labels), size, replace=False)), seed)
            for size, seed in ((100, 4), (61, 9), (130, 4))]
    one_stack = fit_batched(config, data, labels, fits, classes=list(table.classes))
    chunked = fit_batched(config, data, labels, fits, classes=list(table.classes), max_stack=2)
    for fit, a, b in zip(fits, one_stack, chunked, strict=True):
        alone = TrainedModel(config, fit.seed).fit(data.take(fit.index), labels[fit.index],
                                                      classes=list(table.classes))
        np.testing.assert_allclose(a.predict_proba(data), alone.predict_proba(data), atol=1e-5)
        np.testing.assert_array_equal(a.predict_proba(data), b.predict_proba(data))
        np.testing.assert_allclose(a.standardiser.mean[1], alone.standardiser.mean[1])
        a.save(tmp_path / "m.pt")
        loaded = TrainedModel.load(tmp_path / "m.pt")
        np.testing.assert_array_equal(loaded.predict(data), a.predict(data))
    # the same seed on other data is another fit: stacking does not mix fits up
    assert not np.allclose(one_stack[0].predict_proba(data), one_stack[2].predict_proba(data))


# ---------------------------------------------------------------------------- CLI and bench
def _mefuse(*args):
    return subprocess.run([sys.executable, "-m", "mefuse.cli.main", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_cli_engine_flag(demo_store, tmp_path):
    root, _ = demo_store
    common = ["cv", "-s", str(root), "-m", "signal", "--strategy", "single", "--epochs", "2",
              "-q"]
    for engine in ("loop", "batched"):
        done = _mefuse(*common, "--engine", engine, "-o", str(tmp_path / engine))
        assert done.returncode == 0, done.stderr
    loop, batched = (json.loads((tmp_path / e / "results.json").read_text())
                     for e in ("loop", "batched"))
    assert loop["config"]["engine"] == "loop" and batched["config"]["engine"] == "batched"
    assert loop["summary"]["macro_f1_mean"] == pytest.approx(
        batched["summary"]["macro_f1_mean"], abs=1e-6)
    bad = _mefuse(*common, "--engine", "threads", "-o", str(tmp_path / "bad"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error:") and "Traceback" not in bad.stderr
    assert "engine" in bad.stderr


def test_engine_does_not_change_bench_cell_ids(demo_store):
    from mefuse.bench.runner import plan_bench

    root, table = demo_store
    ids = [[c.cell_id for c in plan_bench(root, table, {"engine": engine}).cells]
           for engine in ("loop", "batched")]
    assert ids[0] == ids[1]
    default = [c.cell_id for c in plan_bench(root, table, {}).cells]
    assert default == ids[0]


@pytest.mark.parametrize("fusion", [
    {"select": "inner"},
    {"select": "inner", "modality_dropout": 0.25, "aux_weight": 1.0},
], ids=["probes", "aux-moddrop"])
def test_inner_fusion_choice_equals_the_loop(demo_store, fusion):
    root, table = demo_store
    loop, batched = _both(root, table, protocol="subject-kfold", folds=3, seeds=[0, 1, 2],
                          fusion=fusion)
    choices = [f["choice"] for f in loop.folds]
    assert choices == [f["choice"] for f in batched.folds]
    assert len(set(choices)) > 1  # fused and single-stream fits are stacked in separate groups
    for a, b in zip(loop.folds, batched.folds, strict=True):
        for name, score in a["choice_scores"].items():
            assert score == pytest.approx(b["choice_scores"][name], abs=1e-6)
    _assert_same(loop, batched)
