"""The inner fusion choice: only training clips reach it, and a chosen stream is exactly the
single-modality model."""

from __future__ import annotations

import numpy as np
import pytest

from mefuse.train import select as select_module
from mefuse.train import trainer as trainer_module
from mefuse.train.config import CVConfig, OptimConfig, TrainConfig
from mefuse.train.cv import run_cv
from mefuse.train.data import load_modalities
from mefuse.train.trainer import TrainedModel

QUICK = OptimConfig(epochs=4)
FUSION = {"modality_dropout": 0.25, "aux_weight": 1.0, "select": "inner"}


def test_inner_choice_sees_only_training_clips_and_splits_by_subject(demo_store, monkeypatch):
    """Spy on the choice and on its split: no test-fold clip may reach either, and the inner
    held-out part shares no subject with the inner training part."""
    root, table = demo_store
    subject_of = dict(zip(table.clip_ids, table.frame["subject"], strict=True))
    seen: list[set[str]] = []
    splits: list[tuple[set[str], set[str]]] = []
    original_choose = trainer_module.choose_output
    original_split = select_module.inner_split

    def spy_choose(config, seed, data, labels, sequence_ids, groups, classes):
        seen.append(set(data.clip_ids))
        assert [subject_of[c] for c in data.clip_ids] == list(groups)
        return original_choose(config, seed, data, labels, sequence_ids, groups, classes)

    def spy_split(groups, holdout, seed):
        train, val = original_split(groups, holdout, seed)
        groups = np.asarray(groups)
        splits.append((set(groups[train]), set(groups[val])))
        return train, val

    monkeypatch.setattr(trainer_module, "choose_output", spy_choose)
    monkeypatch.setattr(select_module, "inner_split", spy_split)
    config = CVConfig(modalities=["signal", "noise"], protocol="subject-kfold", seeds=[0, 1],
                      fusion=FUSION, optim=QUICK, thresholds={"mode": "tuned"})
    result = run_cv(root, table, config)
    # per fold: one choice for the model, one inside the threshold tuning's inner fit
    assert len(seen) == 2 * len(result.folds)
    for index, fold in enumerate(result.folds):
        tested = set(result.predictions.query(
            "seed == @fold['seed'] and fold == @fold['fold']")["clip_id"])
        assert tested
        for clips_seen in seen[2 * index: 2 * index + 2]:
            assert not clips_seen & tested
        assert fold["choice"] in ("fused", "signal", "noise")
    for train_subjects, val_subjects in splits:
        assert train_subjects and val_subjects and not train_subjects & val_subjects


def test_a_chosen_stream_is_exactly_the_single_model_and_survives_save(demo_store, tmp_path,
                                                                       monkeypatch):
    root, table = demo_store
    data = load_modalities(root, table.clip_ids, ["signal", "noise"], 18)
    config = TrainConfig(modalities=["signal", "noise"], fusion=FUSION, optim=QUICK)
    monkeypatch.setattr(trainer_module, "choose_output",
                        lambda *args, **kwargs: ("signal", {"fused": 0.6, "signal": 0.5}))
    chosen = TrainedModel(config, seed=3).fit(data, table.labels)
    assert chosen.choice == "signal"
    assert chosen.gate_weights() == {"signal": 1.0, "noise": 0.0}
    signal_only = load_modalities(root, table.clip_ids, ["signal"], 18)
    single = TrainedModel(TrainConfig(modalities=["signal"], strategy="single", optim=QUICK),
                             seed=3).fit(signal_only, table.labels)
    np.testing.assert_array_equal(chosen.predict_proba(data), single.predict_proba(signal_only))
    attention = chosen.attention(data)
    assert len(attention) == 2 and not attention[1].any() and attention[0].any()
    chosen.save(tmp_path / "model.pt")
    loaded = TrainedModel.load(tmp_path / "model.pt")
    assert loaded.choice == "signal"
    np.testing.assert_array_equal(loaded.predict_proba(data), chosen.predict_proba(data))


def test_inner_split_keeps_groups_apart_and_needs_two():
    groups = np.repeat(["a", "b", "c", "d"], 3)
    train, val = select_module.inner_split(groups, 0.5, seed=0)
    assert len(set(groups[train])) == 2 and not set(groups[train]) & set(groups[val])
    with pytest.raises(ValueError, match="at least two"):
        select_module.inner_split(["a", "a"], 0.5, seed=0)


def test_held_out_loss_prefers_the_confidently_right():
    labels = np.array([[1, 0], [0, 1]])
    right = select_module.held_out_loss(np.array([[0.9, 0.1], [0.2, 0.8]]), labels, "multilabel")
    wrong = select_module.held_out_loss(np.array([[0.1, 0.9], [0.8, 0.2]]), labels, "multilabel")
    assert right < wrong
    assert select_module.held_out_loss(np.array([[0.7, 0.3]]), np.array([[1, 0]]),
                                       "singlelabel") == pytest.approx(-np.log(0.7))


def test_batched_inner_choice_sees_only_training_clips(demo_store, monkeypatch):
    """The batched engine's choice (inner networks stacked, one choice per fit): the rows that
    split and the held-out rows scored all come from the fold's training part."""
    root, table = demo_store
    sequence_of = dict(zip(table.clip_ids, table.frame["sequence_id"], strict=True))
    split_units: list[set[str]] = []
    held_out: list[set[str]] = []
    original_split, original_decide = select_module.choice_split, select_module.decide_choice

    def spy_split(config, seed, sequence_ids, groups):
        split_units.append(set(sequence_ids))
        return original_split(config, seed, sequence_ids, groups)

    subject_of = dict(zip(table.clip_ids, table.frame["subject"], strict=True))

    def spy_decide(config, inner, data, labels, sequence_ids, groups):
        held_out.append(set(data.clip_ids))
        assert inner.config.fusion.aux_detach and inner.config.fusion.select == "none"
        assert list(groups) == [subject_of[c] for c in data.clip_ids]
        return original_decide(config, inner, data, labels, sequence_ids, groups)

    monkeypatch.setattr(select_module, "choice_split", spy_split)
    monkeypatch.setattr(select_module, "decide_choice", spy_decide)
    config = CVConfig(modalities=["signal", "noise"], protocol="subject-kfold", seeds=[0, 1],
                      fusion={"select": "inner"}, optim=QUICK, engine="batched")
    result = run_cv(root, table, config)
    assert len(split_units) == len(held_out) == len(result.folds)
    for index, fold in enumerate(result.folds):
        tested = set(result.predictions.query(
            "seed == @fold['seed'] and fold == @fold['fold']")["clip_id"])
        assert tested and not held_out[index] & tested
        assert not split_units[index] & {sequence_of[c] for c in tested}
        assert fold["choice"] in ("fused", "signal", "noise")


def test_gain_support_is_the_share_of_people_resamples_where_fusion_wins():
    """The bootstrap behind ``select_confidence``: a gain carried by every held-out person is
    supported in every resample; a gain from one person of two, against a loss on the other,
    is supported only where that person dominates the draw (at most 3/4 of resamples)."""
    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    people = np.array(["a", "a", "b", "b"])
    perfect = truth.copy()
    half = np.array([[1, 0], [1, 0], [1, 0], [1, 0]])
    assert select_module.gain_support(truth, perfect, half, people, 500) == 1.0
    assert select_module.gain_support(truth, half, perfect, people, 500) == 0.0
    wins_on_a = np.array([[1, 0], [0, 1], [1, 0], [1, 0]])
    loses_on_a = np.array([[1, 0], [1, 0], [1, 0], [0, 1]])
    support = select_module.gain_support(truth, wins_on_a, loses_on_a, people, 2000)
    assert 0.15 < support < 0.35  # only the draws (a, a): a quarter


def test_weighted_macro_f1_equals_scikit_learn_on_a_resample():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 2, size=(30, 4))
    decided = rng.integers(0, 2, size=(30, 4))
    counts = rng.integers(0, 3, size=30)
    expanded_truth, expanded_decided = np.repeat(truth, counts, 0), np.repeat(decided, counts, 0)
    from mefuse.train.metrics import macro_f1, weighted_macro_f1

    assert weighted_macro_f1(counts[None].astype(float), truth, decided)[0] == \
        pytest.approx(macro_f1(expanded_truth, expanded_decided))


def test_confidence_rejects_a_fused_gain_that_one_held_out_person_contradicts():
    """decide_choice with select_confidence: the same held-out scores that pass the margin
    alone are refused when the fused output's gain is not carried by the people."""

    class Inner:
        def __init__(self, outputs):
            self.outputs = outputs

        def decide(self, probabilities):
            return (probabilities >= 0.5).astype(np.int64)

    truth = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [0, 1]])
    fused = np.array([[1, 0], [0, 1], [1, 0], [0, 1], [1, 0], [1, 0]], dtype=float)
    single = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    sequences = [f"s{i}" for i in range(6)]
    people = ["a", "a", "b", "b", "c", "c"]
    original = select_module.candidate_probabilities
    try:
        select_module.candidate_probabilities = lambda inner, data: {
            "fused": fused, "x": single, "y": np.zeros_like(single)}
        from mefuse.train.data import ModalityData

        data = ModalityData(["x", "y"], [np.zeros((6, 1, 1))] * 2, sequences)
        margin_only = TrainConfig(modalities=["x", "y"], fusion={"select": "inner"})
        strict = TrainConfig(modalities=["x", "y"],
                             fusion={"select": "inner", "select_confidence": 0.9})
        assert select_module.decide_choice(margin_only, Inner(None), data, truth, sequences,
                                           people)[0] == "fused"
        choice, scores = select_module.decide_choice(strict, Inner(None), data, truth,
                                                     sequences, people)
        assert choice == "x" and scores[select_module.SUPPORT] < 0.9
    finally:
        select_module.candidate_probabilities = original
