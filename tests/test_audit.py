"""``mefuse cv --audit``: the field's test-set epoch selection, measured apart from the result.

The audit must (1) leave the honest result bit-identical, (2) show on features without any
class information that picking each fold's best epoch on its own test clips lifts a chance-level
score well above chance, and (3) label every output as the leaky protocol.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from mefuse.data.clips import ClipTable
from mefuse.store import FeatureStore
from mefuse.train.audit import LABEL, PROTOCOL
from mefuse.train.config import CVConfig, OptimConfig
from mefuse.train.cv import run_cv

CLASSES = ("a", "b", "c")


def noise_store(root, subjects: int = 8, seed: int = 1) -> ClipTable:
    """Pure Gaussian features, no class information; each subject shows each class once."""
    rng = np.random.default_rng(seed)
    store = FeatureStore.create(root)
    rows = []
    with store.writer("noise", {"extractor": "test-noise", "params": {"seed": seed}}) as writer:
        for s in range(subjects):
            for k, _ in enumerate(CLASSES):
                clip = f"sub{s:02d}_{k}"
                writer.write(clip, rng.normal(size=(8, 6)).astype(np.float32))
                rows.append({"clip_id": clip, "sequence_id": clip, "view": "left",
                             "subject": f"sub{s:02d}",
                             **{c: int(i == k) for i, c in enumerate(CLASSES)}})
    table = ClipTable.from_frame(pd.DataFrame(rows), list(CLASSES))
    table.write(store.clips_path)
    return table


NOISE_CONFIG = CVConfig(
    modalities=["noise"], strategy="single", task="singlelabel", protocol="loso",
    optim=OptimConfig(epochs=12, lr=1e-2, batch_size=8, warmup_epochs=1),
    model={"frames": 4, "dim": 16, "hidden": 16}, engine="batched")


@pytest.mark.parametrize("engine", ["loop", "batched"])
def test_audit_leaves_the_honest_result_bit_identical(demo_store, engine):
    root, table = demo_store
    config = CVConfig(modalities=["signal"], strategy="single", optim=OptimConfig(epochs=3),
                      thresholds={"mode": "tuned"}, engine=engine)
    plain = run_cv(root, table, config)
    audited = run_cv(root, table, config, audit=True)
    assert plain.audit is None
    pd.testing.assert_frame_equal(plain.predictions, audited.predictions, check_exact=True)
    assert plain.folds == audited.folds
    assert plain.pooled == audited.pooled
    assert plain.summary == audited.summary
    audit = audited.audit
    assert audit["protocol"] == PROTOCOL and audit["criterion"] == "macro_f1"
    assert audit["honest"]["uf1"] == plain.summary["uf1_mean"]
    assert len(audit["folds"]) == len(plain.folds)
    for fold in audit["folds"]:  # the chosen epoch is the best one, so never below the last
        assert 1 <= fold["epoch"] <= 3
        assert fold["score"] >= fold["last_epoch_score"]


def test_fusion_choice_is_audited_alike_by_both_engines(demo_store):
    root, table = demo_store
    audits = [run_cv(root, table, CVConfig(
        modalities=["signal", "noise"], strategy="gated", optim=OptimConfig(epochs=2),
        fusion={"select": "inner"}, engine=engine), audit=True).audit
        for engine in ("loop", "batched")]
    assert [f["epoch"] for f in audits[0]["folds"]] == [f["epoch"] for f in audits[1]["folds"]]
    assert audits[0]["leaky"]["uf1"] == pytest.approx(audits[1]["leaky"]["uf1"], abs=1e-6)


def test_leaky_selection_lifts_a_chance_level_score(tmp_path):
    table = noise_store(tmp_path / "store")
    result = run_cv(tmp_path / "store", table, NOISE_CONFIG, audit=True)
    audit = result.audit
    chance = 1 / len(CLASSES)
    honest, leaky = audit["honest"]["uf1"], audit["leaky"]["uf1"]
    assert honest == result.summary["uf1_mean"]
    assert honest <= chance + 0.1  # nothing to learn: the honest score is at chance
    assert leaky >= honest + 0.15  # the leaky rule reports a model that learned something
    gap = audit["inflation"]["uf1"]
    assert gap["value"] == pytest.approx(leaky - honest)
    assert gap["low"] > 0.05 and gap["low"] <= gap["value"] <= gap["high"]
    assert audit["inflation"]["uar"]["value"] > 0.15
    assert audit["criterion"] == "accuracy"
    assert audit["bootstrap"] == {"unit": "subject", "n_units": 8, "replicates": 1000,
                                  "confidence": 0.95, "seed": 0}
    assert [f["fold"] for f in audit["folds"]] == list(range(8))
    assert sum(audit["chosen_epochs"]["counts"].values()) == 8
    assert audit["runtime_s"] > 0


def test_cv_audit_command_labels_the_leaky_numbers(tmp_path):
    store = tmp_path / "store"
    noise_store(store)
    out = tmp_path / "run"
    command = ["mefuse", "cv", "-s", str(store), "--classes", ",".join(CLASSES),
               "-m", "noise", "--task", "singlelabel", "--protocol", "loso", "--strategy", "single",
               "--epochs", "4", "--frames", "4", "-q", "-o", str(out)]
    done = subprocess.run([*command, "--audit"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert f"AUDIT ({LABEL})" in done.stdout
    assert "leaky-test-epoch-selection" in done.stdout
    data = json.loads((out / "results.json").read_text())
    audit = data["audit"]
    assert audit["protocol"] == PROTOCOL and audit["label"] == LABEL
    assert {"honest", "leaky", "inflation", "bootstrap", "folds", "chosen_epochs",
            "runtime_s", "epochs", "criterion"} <= set(audit)
    assert data["summary"]["headline"]["value"] == data["summary"]["uf1_mean"]
    assert f"AUDIT ({LABEL})" in (out / "table.md").read_text(encoding="utf-8")
    bad = subprocess.run([*command, "--audit=yes"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert "--audit" in bad.stderr and "does not take a value" in bad.stderr
