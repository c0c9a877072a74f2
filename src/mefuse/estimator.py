"""A scikit-learn estimator on cached features: :class:`FusionModel`.

It wraps :class:`mefuse.train.trainer.FusionEstimator` (the training itself is not rewritten
here) in scikit-learn's conventions, so the fusion model works with ``clone``,
``cross_val_score``, ``GridSearchCV`` and group splitters:

- parameters are stored verbatim by ``__init__`` and validated at ``fit`` time;
- ``X`` is one float array ``(clips, frames, width)``: the modalities' per-frame features side
  by side, ``widths`` saying how many columns each modality takes (as
  :func:`mefuse.api.load_store` returns them). A 3-D array indexes like any sklearn input, so
  splitters can take rows of it;
- ``y`` is a 0/1 matrix ``(clips, classes)`` for multi-label data, or a 1-D array of class
  labels for single-label data (``task="auto"`` decides from its shape).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from mefuse.errors import ConfigError


class FusionModel(ClassifierMixin, BaseEstimator):
    """The gated fusion classifier (or a baseline strategy) as a scikit-learn classifier."""

    def __init__(self, modalities: Sequence[str] = ("features",),
                 widths: Sequence[int] | None = None, strategy: str = "gated",
                 task: str = "auto", epochs: int = 60, lr: float = 1e-3, batch_size: int = 16,
                 dim: int = 128, queries: int = 4, hidden: int = 128, dropout: float = 0.3,
                 feature_dropout: float = 0.1, thresholds: str = "fixed",
                 device: str = "cpu", seed: int = 0) -> None:
        self.modalities = modalities
        self.widths = widths
        self.strategy = strategy
        self.task = task
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.dim = dim
        self.queries = queries
        self.hidden = hidden
        self.dropout = dropout
        self.feature_dropout = feature_dropout
        self.thresholds = thresholds
        self.device = device
        self.seed = seed

    # ------------------------------------------------------------------ helpers
    def _split(self, X: Any):
        from mefuse.train.data import ModalityData

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3:
            raise ConfigError(f"X must be (clips, frames, width), got shape {X.shape}")
        names = list(self.modalities)
        widths = list(self.widths) if self.widths is not None else (
            [X.shape[2]] if len(names) == 1 else None)
        if widths is None or len(widths) != len(names) or sum(widths) != X.shape[2]:
            raise ConfigError(f"widths {self.widths} must give one width per modality "
                              f"{names} and add up to X's {X.shape[2]} columns")
        edges = np.cumsum([0, *widths])
        arrays = [X[:, :, a:b] for a, b in itertools.pairwise(edges)]
        return ModalityData(names, arrays, [str(i) for i in range(len(X))])

    def _config(self, frames: int, task: str, classes: list[str]):
        from mefuse.train.config import TrainConfig, build_config

        data = {
            "modalities": list(self.modalities), "strategy": self.strategy, "task": task,
            "classes": classes, "device": self.device,
            "model": {"frames": frames, "dim": self.dim, "queries": self.queries,
                      "hidden": self.hidden, "dropout": self.dropout,
                      "feature_dropout": self.feature_dropout},
            "optim": {"epochs": self.epochs, "lr": self.lr, "batch_size": self.batch_size},
            "thresholds": {"mode": self.thresholds},
        }
        return build_config(TrainConfig, data, "FusionModel's parameters")

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any) -> FusionModel:
        """Train on features ``X`` and labels ``y`` (see the module docstring)."""
        from mefuse.train.trainer import FusionEstimator

        data = self._split(X)
        y = np.asarray(y)
        task = self.task
        if task == "auto":
            task = "multilabel" if y.ndim == 2 else "singlelabel"
        if task == "multilabel":
            if y.ndim != 2:
                raise ConfigError("multilabel y must be a 0/1 matrix (clips, classes)")
            self.classes_ = np.arange(y.shape[1])
            labels = y.astype(np.int64)
        elif task == "singlelabel":
            if y.ndim != 1:
                raise ConfigError("singlelabel y must be a 1-D array of class labels")
            self.classes_, codes = np.unique(y, return_inverse=True)
            labels = np.eye(len(self.classes_), dtype=np.int64)[codes]
        else:
            raise ConfigError(f"task must be auto, multilabel or singlelabel, got {task!r}")
        self.multilabel_ = task == "multilabel"
        names = [str(c) for c in self.classes_]
        self.estimator_ = FusionEstimator(self._config(data.arrays[0].shape[1], task, names),
                                          seed=self.seed)
        self.estimator_.fit(data, labels, classes=names, context="fit data")
        self.n_features_in_ = int(np.asarray(X).shape[2])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(clips, classes)`` (sigmoid per class when multi-label)."""
        return self._fitted().predict_proba(self._split(X))

    def predict(self, X: Any) -> np.ndarray:
        """0/1 decisions per class (multi-label) or the class labels (single-label)."""
        estimator = self._fitted()
        probabilities = estimator.predict_proba(self._split(X))
        if self.multilabel_:
            return estimator.decide(probabilities)
        return self.classes_[probabilities.argmax(axis=1)]

    def gate_weights(self) -> dict[str, float]:
        """The learned gate's weight per modality."""
        return self._fitted().gate_weights()

    def _fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimator_")
        return self.estimator_
