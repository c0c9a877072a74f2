"""The inner choice between the fused output and each modality alone (``fusion.select: inner``).

Why: on data where one stream is noise for new people, any fusion rule fitted on the training
clips can score below its best input, and the training clips cannot tell (the weak stream's pool
memorises them). Held-out people can. So the training part of a fold is split once more, by
subject (by sequence when subjects are unknown): a network with per-modality heads is trained
on the inner-training people and each of its outputs -- the fused one and every modality's own
head -- is scored on the held-out people by macro-F1 (views merged per sequence, the
configuration's fixed threshold), the number the user is promised. The fused output must
*earn* its place: it is chosen only when it beats the best single stream by ``select_margin``;
otherwise the best single stream is (its held-out loss breaks ties). Why the margin: the choice
is made on a few held-out people, so near-ties are noise, and a fused output chosen on noise
costs more (where it is truly worse) than a single stream chosen on noise (where fusion was
about equal anyway). A margin alone still takes gains of 0.02-0.08 measured on 2-4 held-out
people, which are mostly noise; so with ``select_confidence`` (the ``recommended`` preset's
0.9) the gain must also hold up under a paired bootstrap over the held-out *people*: in that
share of resamples (people drawn with replacement, both outputs scored on the same draw) the
fused output must beat the best single stream. It costs no training (1000 resamples of a few
hundred sequences, vectorised), so the choice stays within the paper's model's cost plus the
inner network. With few held-out people it is deliberately strict: the fused output must not
lose on any one of them. The heads are those of the configuration (``aux_weight``, ``late``); a
configuration without them (the paper's model) gets probe heads in the inner network only
(``aux_detach``: heads on detached summaries), so that its fused candidate is trained exactly
as the final fused network would be. The final model is then trained on the whole training
part: the fused network, or the plain single-modality model of the chosen stream. Only the
training part of a fold ever reaches this function; the test fold is scored once, afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupShuffleSplit

from mefuse.model.baselines import Network
from mefuse.model.fusion import FusionNetwork
from mefuse.train.config import FusionConfig, TrainConfig, derive
from mefuse.train.data import ModalityData, Standardiser
from mefuse.train.metrics import macro_f1, merge_views, weighted_macro_f1

FUSED = "fused"


class InnerModel(Protocol):
    """What the choice reads of a fitted inner model (a trainer's ``TrainedModel``).

    Why a protocol: the trainer calls this module, so this module must not import it back.
    """

    config: TrainConfig
    standardiser: Standardiser

    def _require_fitted(self) -> Network: ...

    def decide(self, probabilities: np.ndarray) -> np.ndarray: ...


def inner_split(groups: Sequence[str], holdout: float, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, held-out) with no group on both sides; at least one group each side."""
    labels = np.asarray(groups)
    count = len(np.unique(labels))
    if count < 2:
        raise ValueError("an inner choice needs at least two subjects or sequences to split")
    held = min(max(1, round(holdout * count)), count - 1)
    splitter = GroupShuffleSplit(n_splits=1, test_size=held, random_state=seed)
    train, val = next(splitter.split(np.zeros(len(labels)), groups=labels))
    return train, val


def single_config(config: TrainConfig, modality: str) -> TrainConfig:
    """The paper's single-modality model of one stream, with the rest of ``config``'s recipe."""
    return derive(config, modalities=[modality], strategy="single", fusion=FusionConfig())


def choice_config(config: TrainConfig) -> TrainConfig:
    """The inner network's configuration: the fused model plus a head per modality.

    When the configuration has no per-modality heads of its own (the paper's model), the inner
    network gets probe heads (``aux_detach``): they learn from detached summaries, so the fused
    output compared on the held-out people is the very model that would be trained, untouched.
    """
    fusion: dict[str, Any] = {"select": "none"}
    if not (config.fusion.aux_weight > 0 or config.fusion.late):
        fusion.update(aux_weight=1.0, aux_detach=True)
    return derive(config, fusion=fusion, thresholds={"mode": "fixed"})


def choice_split(config: TrainConfig, seed: int, sequence_ids: Sequence[str],
                 groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Rows (inner-train, held-out) of the choice; subjects apart (sequences when unknown)."""
    if len(set(groups)) < 2:  # subjects unknown (or one person): keep sequences apart instead
        groups = sequence_ids
    return inner_split(groups, config.fusion.select_holdout, seed)


SUPPORT = "fused_gain_support"
"""Key of ``choice_scores`` that holds the bootstrap share (only with ``select_confidence``)."""

RESAMPLES = 1000
"""Paired bootstrap resamples of the held-out people behind ``select_confidence``."""


def decide_choice(config: TrainConfig, inner: InnerModel, held_out: ModalityData,
                  labels: np.ndarray, sequence_ids: Sequence[str],
                  groups: Sequence[str] | None = None) -> tuple[str, dict[str, float]]:
    """The choice from an inner network's outputs on the held-out rows (see the module).

    ``groups`` are the held-out rows' people (the bootstrap's unit; sequences when None or
    when fewer than two people are held out).
    """
    candidates = candidate_probabilities(inner, held_out)
    frame = pd.DataFrame({"sequence_id": np.asarray(sequence_ids)})
    scores, losses, decided = {}, {}, {}
    truth = np.zeros((0, labels.shape[1]), dtype=np.int64)
    for name, probabilities in candidates.items():
        losses[name] = held_out_loss(probabilities, labels, config.task)
        _, merged_p, merged_y = merge_views(frame, probabilities, labels)
        truth = merged_y.astype(np.int64)
        decided[name] = np.asarray(inner.decide(merged_p), dtype=np.int64)
        scores[name] = macro_f1(truth, decided[name])
    singles = [name for name in scores if name != FUSED]
    best_single = max(singles, key=lambda name: (scores[name], -losses[name]))
    if scores[FUSED] < scores[best_single] + config.fusion.select_margin:
        return best_single, scores
    if config.fusion.select_confidence > 0:
        people = sequence_people(sequence_ids, groups)
        support = gain_support(truth, decided[FUSED], decided[best_single], people,
                               RESAMPLES)
        scores = {**scores, SUPPORT: support}
        if support < config.fusion.select_confidence:
            return best_single, scores
    return FUSED, scores


def sequence_people(sequence_ids: Sequence[str], groups: Sequence[str] | None) -> np.ndarray:
    """The person of each merged sequence (first-appearance order, as ``merge_views``), or the
    sequence itself when people are unknown or fewer than two."""
    order = pd.unique(np.asarray(sequence_ids))
    if groups is None or len(set(groups)) < 2:
        return np.asarray(order)
    person = dict(zip(sequence_ids, groups, strict=True))
    return np.asarray([person[s] for s in order])


def gain_support(truth: np.ndarray, fused: np.ndarray, single: np.ndarray, people: np.ndarray,
                 resamples: int, seed: int = 0) -> float:
    """Share of paired bootstrap resamples (people with replacement) in which the fused
    decisions score a higher macro-F1 than the single stream's; ties count as no gain.

    A resample is a multiplicity per person, hence a weight per sequence
    (:func:`~mefuse.train.metrics.weighted_macro_f1`).
    """
    names, person_of = np.unique(people, return_inverse=True)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    counts = np.zeros((resamples, len(names)))
    np.add.at(counts, (np.arange(resamples)[:, None], draws), 1.0)
    weights = counts[:, person_of]  # (resamples, sequences)
    gain = weighted_macro_f1(weights, truth, fused) - weighted_macro_f1(weights, truth, single)
    return float(np.mean(gain > 1e-12))


def held_out_loss(probabilities: np.ndarray, labels: np.ndarray, task: str) -> float:
    """Mean per-clip loss: binary cross-entropy over classes, or cross-entropy."""
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    if task == "multilabel":
        y = labels.astype(float)
        return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    return float(-np.log(p[np.arange(len(p)), labels.argmax(axis=1)]).mean())


@torch.no_grad()
def candidate_probabilities(estimator: InnerModel, data: ModalityData
                            ) -> dict[str, np.ndarray]:
    """Probabilities of the fused output and of each modality's own head, by name."""
    network = estimator._require_fitted()
    if not isinstance(network, FusionNetwork):  # refused with the configuration already
        raise ValueError("an inner fusion choice needs the fusion network")
    inputs = [torch.from_numpy(a) for a in estimator.standardiser.transform(data.arrays)]
    outputs = {FUSED: network(inputs)}
    outputs.update(zip(estimator.config.modalities, network.modality_logits(inputs),
                       strict=True))
    squash = torch.sigmoid if estimator.config.task == "multilabel" else (
        lambda x: torch.softmax(x, dim=1))
    return {name: squash(logits).numpy().astype(np.float64) for name, logits in outputs.items()}
