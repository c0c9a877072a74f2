"""Fit the fusion classifier on stacked features, in the style of a scikit-learn estimator.

``TrainedModel(config, seed).fit(data, labels)`` trains for a fixed number of epochs (no
early stopping: with no validation data of its own, any stopping rule would peek at the test
fold); ``predict_proba`` and ``predict`` score new clips; ``save`` and ``load`` round-trip the
whole fitted state (network, standardiser, thresholds, configuration) through a
``weights_only`` checkpoint.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
from torch import nn

from mefuse import __version__
from mefuse.errors import ConfigError, DataError, TrainingDiverged
from mefuse.model.baselines import Network, build_baseline, require_apex_image
from mefuse.model.fusion import FusionNetwork
from mefuse.train import select
from mefuse.train.config import OptimConfig, TrainConfig, build_config, derive
from mefuse.train.data import ModalityData, Standardiser
from mefuse.train.metrics import merge_views, merged_decisions
from mefuse.train.modalities import pool_names
from mefuse.utils.atomic import atomic_open
from mefuse.utils.device import resolve_device
from mefuse.utils.paths import existing_file
from mefuse.utils.torchload import load_weights_only, pickle_protocol

MODEL_FORMAT = "mefuse-model/3"
"""Version 3: each pool's K and V are two layers (keys ``pools.N.key.*``, ``pools.N.value.*``).
Version 2 (one joint ``pools.N.key_value`` layer) still loads: the pool splits it."""

READABLE_FORMATS = ("mefuse-model/2", MODEL_FORMAT)

MODEL_KEYS = ("config", "seed", "classes", "input_dims", "state_dict", "mean", "std",
              "thresholds")
"""Entries every readable model file has (``choice`` and ``provenance`` are optional)."""

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


class EmptyClassWarning(UserWarning):
    """A class has no positive example in a training set: the model cannot learn it there."""


class TrainedModel:
    """A fusion classifier with its training recipe, standardiser and decision thresholds."""

    def __init__(self, config: TrainConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed
        self.classes: list[str] = list(config.classes or [])
        self.network: Network | None = None
        self.standardiser = Standardiser()
        self.thresholds: np.ndarray | None = None
        self.provenance: dict[str, Any] = {}
        self.on_epoch: Callable[[int, float], None] | None = None
        """Called after each training epoch with its index and last batch loss (progress)."""
        self.epoch_probe: Callable[[int, TrainedModel], None] | None = None
        """Read-only look at the network after each epoch of the final fit (not inner fits),
        with a view of this estimator (:meth:`with_network`) whose network is in eval mode,
        under ``torch.no_grad``; training mode is restored afterwards. ``mefuse cv --audit``
        uses it (:mod:`mefuse.train.audit`); nothing it does reaches training."""
        self.choice = "fused"
        """``fused``, or the modality chosen alone by ``fusion.select: inner``."""
        self.choice_scores: dict[str, float] = {}
        self.input_dims: list[int] = []

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: ModalityData,
        labels: np.ndarray,
        *,
        sequence_ids: Sequence[str] | None = None,
        classes: Sequence[str] | None = None,
        context: str = "training set",
        groups: Sequence[str] | None = None,
    ) -> TrainedModel:
        """Train on ``data`` with 0/1 ``labels`` (clips x classes).

        ``sequence_ids`` (one per clip) keeps the views of a sequence together when an inner
        split tunes thresholds, and lets the tuning score merged views as evaluation does.
        ``context`` names the data in warnings (for example "seed 0, fold 2"). ``groups`` (the
        subject of each clip) keeps people apart when ``fusion.select`` splits the data again.
        """
        labels = np.asarray(labels, dtype=np.int64)
        if classes is not None:
            self.classes = list(classes)
        if not self.classes:
            self.classes = [f"class{i}" for i in range(labels.shape[1])]
        self._check_labels(labels, context, data.clip_ids)
        if data.names != list(self.config.modalities):
            raise DataError(f"data holds {data.names}, the configuration asks for "
                            f"{self.config.modalities}")
        if self.config.model.architecture != "fusion":
            require_apex_image(self.config.model.architecture, data.names, data.dims)
        self._groups = None if groups is None else np.asarray(groups)
        if self.config.thresholds.mode == "tuned":
            self.thresholds = self._tune_thresholds(data, labels, sequence_ids, context)
        else:
            self.thresholds = np.full(labels.shape[1], self.config.thresholds.value)
        self.input_dims = data.dims
        if self.config.fusion.select == "inner":
            units = sequence_ids if sequence_ids is not None else data.clip_ids
            self.choice, self.choice_scores = choose_output(
                self.config, self.seed, data, labels, units,
                groups if groups is not None else units, self.classes)
        self.standardiser.fit(data.arrays)
        arrays = self.standardiser.transform(data.arrays)
        self.network = self._train([arrays[i] for i in self._used()], labels,
                                   self.fitted_config(), context)
        return self

    def fitted_config(self) -> TrainConfig:
        """The configuration of the network actually trained (a single stream when chosen)."""
        if self.choice == "fused":
            return self.config
        return select.single_config(self.config, self.choice)

    def _used(self) -> list[int]:
        """Positions of the modalities the trained network reads."""
        return [self.config.modalities.index(m) for m in self.fitted_config().modalities]

    def _check_labels(self, labels: np.ndarray, context: str,
                      clip_ids: Sequence[str] | None = None) -> None:
        """Refuse labels that do not fit the task; a clip is named by its id (a row number
        means nothing to whoever reads the clip table)."""
        if labels.ndim != 2 or labels.shape[1] != len(self.classes):
            raise DataError(f"labels must be (clips, {len(self.classes)}), got {labels.shape}")
        if self.config.task == "singlelabel":
            counts = labels.sum(axis=1)
            if (counts != 1).any():
                row = int(np.flatnonzero(counts != 1)[0])
                clip = f"clip {clip_ids[row]!r}" if clip_ids is not None else f"row {row}"
                raise DataError(
                    f"single-label training needs exactly one class per clip; {clip} of "
                    f"the {context} has {int(counts[row])}. Use --task multilabel."
                )
        for name, positives in zip(self.classes, labels.sum(axis=0), strict=True):
            if positives == 0:
                warnings.warn(
                    f"class {name!r} has no positive clip in the {context}; the model cannot "
                    "learn it there and will rarely predict it",
                    EmptyClassWarning,
                    stacklevel=3,
                )

    def _train(self, arrays: list[np.ndarray], labels: np.ndarray,
               config: TrainConfig | None = None,
               context: str = "training set") -> Network:
        config = config or self.config
        optim = config.optim
        device = resolve_device(config.device)
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        network = build_network(config, [a.shape[-1] for a in arrays], labels.shape[1]).to(device)
        inputs = [torch.from_numpy(a).to(device) for a in arrays]
        target = training_target(labels, config.task).to(device)
        optimiser = torch.optim.AdamW(
            parameter_groups(network, optim.lr, optim.weight_decay, optim.gate_lr_scale),
            fused=True,  # one kernel for all parameters: the step is a fifth of the time
        )
        _, total, warmup = schedule_lengths(len(target), optim)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: warmup_cosine(step, warmup, total)
        )
        network.train()
        for _epoch in range(optim.epochs):
            order = torch.randperm(len(target), generator=generator).to(device)
            for start in range(0, len(order), optim.batch_size):
                batch = order[start : start + optim.batch_size]
                noise = network.sample_noise(len(batch), generator)
                # index_select: the same rows as x[batch], a quarter of the time on a CPU
                loss = network.training_loss([x.index_select(0, batch) for x in inputs],
                                             target[batch],
                                             {k: v.to(device) for k, v in noise.items()})
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                if optim.grad_clip > 0:
                    nn.utils.clip_grad_norm_(network.parameters(), optim.grad_clip)
                optimiser.step()
                scheduler.step()
            # once per epoch, on the loss already computed: weights gone NaN stay NaN
            check_finite_loss(loss.detach(), context, _epoch, optim)
            if self.on_epoch is not None:
                self.on_epoch(_epoch, float(loss.detach()))
            if self.epoch_probe is not None:
                self._probe(network, _epoch, self.epoch_probe)
        check_finite_weights(network.parameters(), context, optim)
        network.eval()
        return network.cpu()

    def _probe(self, network: Network, epoch: int,
               probe: Callable[[int, TrainedModel], None]) -> None:
        probe_network(network, lambda net: probe(epoch, self.with_network(net)))

    def _tune_thresholds(
        self, data: ModalityData, labels: np.ndarray,
        sequence_ids: Sequence[str] | None, context: str,
    ) -> np.ndarray:
        """Per-class thresholds chosen on an inner split of the training data alone.

        A model trained on the inner-training part scores the held-out inner part; each class
        gets the grid threshold with the best F1 there (see :func:`choose_thresholds`). The test
        fold is never seen.
        """
        in_train = inner_split(data.clip_ids, labels, sequence_ids,
                               self.config.thresholds.inner_fraction, self.seed)
        inner = TrainedModel(inner_config(self.config), self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyClassWarning)
            groups = getattr(self, "_groups", None)  # subjects, for a nested fusion choice
            inner.fit(data.take(np.flatnonzero(in_train)), labels[in_train],
                      sequence_ids=_sequences(data.clip_ids, sequence_ids)[in_train].tolist(),
                      classes=self.classes, context=f"inner split of the {context}",
                      groups=None if groups is None else groups[in_train])
        return choose_thresholds(inner, data, labels, sequence_ids, in_train)

    # ------------------------------------------------------------------ inference
    def _require_fitted(self) -> Network:
        if self.network is None:
            raise RuntimeError("this estimator is not fitted yet")
        return self.network

    def with_network(self, network: Network) -> TrainedModel:
        """A shallow copy that predicts with ``network`` (standardiser, thresholds, choice
        shared): how an epoch probe scores a network in the middle of training."""
        view = copy.copy(self)
        view.network = network
        return view

    @torch.no_grad()
    def _forward(self, data: ModalityData, batch_size: int = 256
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
        network = self._require_fitted()
        device = next(network.parameters()).device  # an epoch probe's may sit on the GPU
        expected = self.input_dims or network.input_dims
        if data.dims != expected:
            raise DataError(f"features have widths {data.dims}; the model was trained on "
                            f"{expected} ({', '.join(self.config.modalities)})")
        arrays = self.standardiser.transform(data.arrays)
        arrays = [arrays[i] for i in self._used()]
        logits, attention = [], []
        for start in range(0, len(data.clip_ids), batch_size):
            batch = [torch.from_numpy(a[start : start + batch_size]).to(device) for a in arrays]
            out, att = network.forward_with_attention(batch)
            logits.append(out.cpu())
            attention.append([a.cpu().numpy() for a in att])
        logits_all = torch.cat(logits)
        if self.config.task == "multilabel":
            probabilities = torch.sigmoid(logits_all)
        else:
            probabilities = torch.softmax(logits_all, dim=1)
        pools = [np.concatenate([a[i] for a in attention]) for i in range(len(attention[0]))]
        if self.choice != "fused":  # one stream chosen: the others' pools were not used
            chosen = pools[0]
            pools = [chosen if m == self.choice else np.zeros_like(chosen)
                     for m in self.config.modalities]
        return probabilities.numpy().astype(np.float64), pools

    def predict_proba(self, data: ModalityData) -> np.ndarray:
        """Class probabilities ``(clips, classes)``: sigmoid (multi-label) or softmax."""
        return self._forward(data)[0]

    def attention(self, data: ModalityData) -> list[np.ndarray]:
        """Each pool's attention ``(clips, queries, T)`` (one pool for ``concat``)."""
        return self._forward(data)[1]

    @property
    def fitted_thresholds(self) -> np.ndarray:
        """The per-class decision thresholds, set by :meth:`fit` (and by :meth:`load`)."""
        if self.thresholds is None:
            raise RuntimeError("this estimator is not fitted yet")
        return self.thresholds

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """0/1 decisions: per-class thresholds (multi-label) or the arg-max (single-label)."""
        return merged_decisions(probabilities, self.fitted_thresholds, self.config.task)

    def predict(self, data: ModalityData) -> np.ndarray:
        return self.decide(self.predict_proba(data))

    def gate_weights(self) -> dict[str, float]:
        """Weight of each modality's summary (equal for ``sum``; one entry for ``concat``)."""
        network = self._require_fitted()
        names = pool_names(self.config.strategy, self.config.modalities)
        if self.choice != "fused":
            return {m: float(m == self.choice) for m in names}
        with torch.no_grad():
            weights = network.gate_weights().tolist()
        return dict(zip(names, weights, strict=True))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the fitted state as a ``weights_only``-loadable checkpoint, atomically."""
        network = self._require_fitted()
        state = {
            "format": MODEL_FORMAT,
            "mefuse_version": __version__,
            "config": self.config.model_dump(mode="json"),
            "seed": self.seed,
            "classes": self.classes,
            "input_dims": self.input_dims or network.input_dims,
            "choice": self.choice,
            "state_dict": network.state_dict(),
            "mean": [torch.from_numpy(m) for m in self.standardiser.mean],
            "std": [torch.from_numpy(s) for s in self.standardiser.std],
            "thresholds": torch.from_numpy(np.asarray(self.thresholds, dtype=np.float64)),
            "provenance": self.provenance,
        }
        with atomic_open(path, "wb") as handle:
            torch.save(state, handle)

    @classmethod
    def load(cls, path: str | Path) -> TrainedModel:
        """Load a model saved by :meth:`save` (tensors and plain data only: ``weights_only``)."""
        path = existing_file(path, "model file",
                             hint=" (give the .pt file that 'mefuse train -o' wrote)")
        if path.stat().st_size == 0:
            raise DataError(f"model file {path} is empty")
        try:
            state = load_weights_only(path)
        except Exception as exc:  # pickle, zip and unsupported-type errors alike
            protocol = pickle_protocol(path)
            note = (f"; it was pickled with protocol {protocol}, torch's weights-only loader "
                    "reads protocol 2 (torch.save's default)") if protocol not in (None, 2) \
                else ""
            raise DataError(f"{path} is not a mefuse model file: torch cannot read it as a "
                            f"weights-only checkpoint ({_load_failure(exc)}{note})") from exc
        if not isinstance(state, dict) or state.get("format") not in READABLE_FORMATS:
            found = state.get("format") if isinstance(state, dict) else None
            if isinstance(found, str) and found.startswith("mefuse-model/"):
                raise DataError(f"{path} is a {found} model file; this mefuse reads "
                                f"{' and '.join(READABLE_FORMATS)}: retrain it with "
                                "'mefuse train'")
            raise DataError(f"{path} is not a mefuse model file (no {MODEL_FORMAT!r} format tag)")
        try:
            return cls._restore(state)
        except (DataError, ConfigError) as exc:
            raise DataError(f"{path} is a damaged mefuse model file: {exc}; retrain it with "
                            "'mefuse train'") from exc
        except (KeyError, TypeError, ValueError, IndexError, AttributeError,
                RuntimeError) as exc:  # a value of the wrong type where the checks stop
            raise DataError(f"{path} is a damaged mefuse model file ({type(exc).__name__}: "
                            f"{_load_failure(exc)}); retrain it with 'mefuse train'") from exc

    @classmethod
    def _restore(cls, state: dict[str, Any]) -> TrainedModel:
        """The estimator a loaded checkpoint describes, or a :class:`DataError` naming the first
        entry that is missing or does not fit the rest (a file edited or written by other code:
        torch's own errors would surface as a traceback about tensor shapes)."""
        missing = [k for k in MODEL_KEYS if k not in state]
        if missing:
            raise DataError(f"it has no {', '.join(map(repr, missing))} entry")
        config = build_config(TrainConfig, state["config"], "its configuration")
        estimator = cls(config, int(state["seed"]))
        classes = state["classes"]
        if (not isinstance(classes, list) or not classes
                or not all(isinstance(c, str) for c in classes)):
            raise DataError("its 'classes' entry is not a list of class names")
        estimator.classes = list(classes)
        estimator.choice = str(state.get("choice", "fused"))
        if estimator.choice != "fused" and estimator.choice not in config.modalities:
            raise DataError(f"it chose modality {estimator.choice!r}, which is not one of its "
                            f"modalities {config.modalities}")
        estimator.input_dims = [int(d) for d in state["input_dims"]]
        n = len(config.modalities)
        if len(estimator.input_dims) != n or len(state["mean"]) != n or len(state["std"]) != n:
            raise DataError(f"its configuration has {n} modalities, its 'input_dims', 'mean' and "
                            f"'std' entries have {len(estimator.input_dims)}, "
                            f"{len(state['mean'])} and {len(state['std'])}")
        for name, dim, mean, std in zip(config.modalities, estimator.input_dims, state["mean"],
                                        state["std"], strict=True):
            if tuple(mean.shape) != (dim,) or tuple(std.shape) != (dim,):
                raise DataError(f"the standardiser of modality {name!r} does not have its "
                                f"width {dim}")
        thresholds = state["thresholds"]
        if tuple(thresholds.shape) != (len(classes),):
            raise DataError(f"it has {len(classes)} class names and {len(thresholds)} "
                            "thresholds")
        dims = [estimator.input_dims[i] for i in estimator._used()]
        network = build_network(estimator.fitted_config(), dims, len(estimator.classes))
        try:
            network.load_state_dict(state["state_dict"])
        except RuntimeError as exc:
            raise DataError(f"its weights do not fit the network its settings describe "
                            f"({len(classes)} classes, widths {dims}): "
                            f"{_state_dict_mismatch(exc)}") from None
        network.eval()
        estimator.network = network
        estimator.standardiser = Standardiser([t.numpy() for t in state["mean"]],
                                              [t.numpy() for t in state["std"]])
        estimator.thresholds = thresholds.numpy()
        estimator.provenance = dict(state.get("provenance") or {})
        return estimator


def probe_network(network: Network, probe: Callable[[Network], None]) -> None:
    """Call ``probe(network)`` in eval mode under ``torch.no_grad`` and put every submodule
    back in the mode it had: a look at a network in training that cannot change its course
    (no gradient, no dropout draw from the global generator, no running statistic)."""
    modes = [(module, module.training) for module in network.modules()]
    network.eval()
    try:
        with torch.no_grad():
            probe(network)
    finally:
        for module, mode in modes:
            module.training = mode


def build_network(config: TrainConfig, input_dims: Sequence[int],
                  num_classes: int) -> Network:
    """The network a training configuration describes: the fusion network, or the baseline
    that ``model.architecture`` names (:mod:`mefuse.model.baselines`)."""
    if config.model.architecture != "fusion":
        return build_baseline(config.model.architecture, input_dims, num_classes,
                              task=config.task)
    return FusionNetwork.from_config(config.model, config.fusion, input_dims, num_classes,
                                        strategy=config.strategy, task=config.task)


def training_target(labels: np.ndarray, task: str) -> torch.Tensor:
    """0/1 float targets (multi-label) or class indices (single-label) for the loss."""
    if task == "multilabel":
        return torch.from_numpy(np.asarray(labels, dtype=np.float32))
    return torch.from_numpy(np.asarray(labels).argmax(axis=1))


def parameter_groups(network: Network, lr: float, weight_decay: float,
                     gate_lr_scale: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on weight matrices only; the gate apart, at its own rate.

    Biases, LayerNorm parameters, queries and position embeddings are not decayed (decay would
    pull them towards zero for no reason). The gate is one logit per modality shared by every
    clip; Adam moves a parameter by about ``lr`` per step, so at the network's rate it could
    barely leave equal weights within a few hundred steps, and decay would pull it back there.
    """
    decay, no_decay, gate = [], [], []
    for name, parameter in network.named_parameters():
        if name == "gate":
            gate.append(parameter)
        elif parameter.ndim >= 2 and not name.endswith(("queries", "position")):
            decay.append(parameter)
        else:
            no_decay.append(parameter)
    groups = [{"params": decay, "lr": lr, "weight_decay": weight_decay},
              {"params": no_decay, "lr": lr, "weight_decay": 0.0}]
    if gate:
        groups.append({"params": gate, "lr": lr * gate_lr_scale, "weight_decay": 0.0})
    return groups


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """Learning-rate factor: linear warm-up to 1, then cosine decay to 0 at ``total``."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def inner_config(config: TrainConfig) -> TrainConfig:
    """The configuration of the inner fit that tunes thresholds (fixed thresholds itself)."""
    return derive(config, thresholds={"mode": "fixed"})


def _sequences(clip_ids: Sequence[str], sequence_ids: Sequence[str] | None) -> np.ndarray:
    return np.asarray(sequence_ids if sequence_ids is not None else clip_ids)


def inner_split(clip_ids: Sequence[str], labels: np.ndarray,
                sequence_ids: Sequence[str] | None, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the clips that train the inner model (the rest tune thresholds).

    Whole sequences go to one side (views stay together), stratified on the sequences' merged
    labels and seeded by the fit's seed, so every engine draws the same split.
    """
    import pandas as pd

    sequences = _sequences(clip_ids, sequence_ids)
    frame = pd.DataFrame({"sequence_id": sequences})
    order = pd.unique(sequences)
    seq_labels = merge_views(frame, labels.astype(float), labels)[2]
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction,
                                                random_state=seed)
    inner_train_seq, _ = next(splitter.split(np.zeros(len(order)), seq_labels))
    return np.isin(sequences, order[inner_train_seq])


def choose_thresholds(inner: TrainedModel, data: ModalityData, labels: np.ndarray,
                      sequence_ids: Sequence[str] | None, in_train: np.ndarray) -> np.ndarray:
    """Per-class grid thresholds with the best F1 of ``inner`` on the held-out inner clips.

    Views are merged as evaluation merges them; ties go to the threshold nearest 0.5; a class
    with no held-out positive keeps the fixed threshold.
    """
    import pandas as pd
    from sklearn.metrics import f1_score

    frame = pd.DataFrame({"sequence_id": _sequences(data.clip_ids, sequence_ids)})
    val = np.flatnonzero(~in_train)
    probabilities = inner.predict_proba(data.take(val))
    _, merged_p, merged_y = merge_views(frame.iloc[val], probabilities, labels[val])
    thresholds = np.full(labels.shape[1], inner.config.thresholds.value)
    for c in range(labels.shape[1]):
        if merged_y[:, c].sum() == 0:
            continue
        scores = [f1_score(merged_y[:, c], merged_p[:, c] >= t, zero_division=0)
                  for t in THRESHOLD_GRID]
        best = max(scores)
        candidates = THRESHOLD_GRID[np.isclose(scores, best)]
        thresholds[c] = candidates[np.argmin(np.abs(candidates - 0.5))]
    return thresholds


def choose_output(config: TrainConfig, seed: int, data: ModalityData, labels: np.ndarray,
                  sequence_ids: Sequence[str], groups: Sequence[str], classes: Sequence[str]
                  ) -> tuple[str, dict[str, float]]:
    """Return ``"fused"`` or a modality name, and every candidate's held-out macro-F1.

    The inner network is trained here, the choice made by :mod:`mefuse.train.select` (which
    explains why), so that the imports run one way: trainer -> select.
    """
    train, val = select.choice_split(config, seed, sequence_ids, groups)
    inner = TrainedModel(select.choice_config(config), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyClassWarning)
        inner.fit(data.take(train), labels[train], classes=list(classes),
                  context="inner split for the fusion choice")
    return select.decide_choice(config, inner, data.take(val), labels[val],
                                np.asarray(sequence_ids)[val], np.asarray(groups)[val])


def check_finite_loss(loss: torch.Tensor, context: str, epoch: int, optim: OptimConfig) -> None:
    """Stop a fit whose training loss is NaN or infinite, naming the fit and the epoch.

    ``loss`` is the last batch's loss of epoch ``epoch`` (0-based). Once a step has made the
    weights NaN every later loss is NaN, so one check per epoch on a loss the loop computed
    anyway finds the divergence at the cost of one comparison (a model trained on would only
    score zeros).
    """
    if not bool(torch.isfinite(loss).all()):
        raise TrainingDiverged(
            f"training diverged: the loss of the {context} is {float(loss.max()):g} at epoch "
            f"{epoch + 1} of {optim.epochs} (learning rate {optim.lr:g}); lower the learning "
            "rate (--lr, optim.lr), keep gradient clipping on (optim.grad_clip) and check the "
            "features for extreme values")


def check_finite_weights(parameters: Any, context: str, optim: OptimConfig) -> None:
    """Stop a fit whose trained weights hold NaN or Inf (the last step may break weights
    after the last loss was checked): once per fit, after training."""
    if not all(bool(torch.isfinite(p).all()) for p in parameters):
        raise TrainingDiverged(
            f"training diverged: the weights of the {context} hold NaN or Inf after epoch "
            f"{optim.epochs} of {optim.epochs} (learning rate {optim.lr:g}); lower the learning "
            "rate (--lr, optim.lr) and check the features for extreme values")


def _state_dict_mismatch(exc: RuntimeError) -> str:
    """The first two problems ``load_state_dict`` lists ("Missing key(s) ...", "size mismatch
    for ..."), on one line; its message starts with a header line and may list hundreds."""
    problems = [line.strip().rstrip(".").strip() for line in str(exc).splitlines()[1:]
                if line.strip()]
    text = "; ".join(problems[:2]) or str(exc)
    return text if len(text) <= 400 else text[:400] + "..."


def _load_failure(exc: Exception) -> str:
    """The gist of a ``torch.load`` failure: torch's own text for a refused weights-only load
    runs to a paragraph and advises ``weights_only=False``, which mefuse never does."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    first = text.strip().split("\n", 1)[0].split(". ", 1)[0].rstrip(".")
    return first[:200] or type(exc).__name__


def schedule_lengths(n_clips: int, optim: OptimConfig) -> tuple[int, int, int]:
    """Steps per epoch, total steps and warm-up steps of a fit on ``n_clips`` clips."""
    steps_per_epoch = math.ceil(n_clips / optim.batch_size)
    total = optim.epochs * steps_per_epoch
    return steps_per_epoch, total, min(optim.warmup_epochs * steps_per_epoch, total - 1)


_RENAMED = {"FusionEstimator": "TrainedModel"}  # rename-classes: keep
"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""


def __getattr__(name: str) -> object:
    """The old class names (see ``_RENAMED``)."""
    from mefuse.utils.deprecation import renamed

    return renamed(__name__, name, _RENAMED)
