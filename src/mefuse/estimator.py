"""A scikit-learn estimator on cached features: :class:`FusionClassifier`.

It wraps :class:`mefuse.train.trainer.TrainedModel` (the training itself is not rewritten
here) in scikit-learn's conventions, so the fusion model works with ``clone``,
``cross_val_score``, ``GridSearchCV`` and group splitters:

- parameters are stored verbatim by ``__init__`` and validated at ``fit`` time. The
  configuration's sections are nested parameters (:class:`ModelParams`, :class:`FusionParams`,
  :class:`OptimParams`, :class:`ThresholdParams`, built from the pydantic sections of
  :mod:`mefuse.train.config`), so ``get_params()`` lists ``fusion__aux_weight``,
  ``model__dim``, ``optim__lr``... and ``set_params``, ``clone`` and ``GridSearchCV`` reach
  every option, e.g. ``FusionClassifier(optim=OptimParams(epochs=5))`` or
  ``set_params(fusion__aux_weight=1.0)``;
- ``X`` is one float array ``(clips, frames, width)``: the modalities' per-frame features side
  by side, ``widths`` saying how many columns each modality takes (as
  :func:`mefuse.api.load_store` returns them). A 3-D array indexes like any sklearn input, so
  splitters can take rows of it. A 2-D ``(clips, width)`` array (or DataFrame) is read as
  clips of one frame each (one feature vector per clip);
- ``y`` is a 0/1 matrix ``(clips, classes)`` for multi-label data, or a 1-D array of class
  labels for single-label data (``task="auto"`` decides from its shape; a column vector
  ``(clips, 1)`` is read as 1-D labels, with scikit-learn's DataConversionWarning).

Inputs are checked with scikit-learn's own validation (``check_X_y``, ``validate_data``,
``check_classification_targets``): NaN or infinite features, labels that are not classes
(``0.5``, NaN), ``X`` and ``y`` of different lengths and a single class are refused with an
:class:`~mefuse.errors.InvalidArrayError` (a MefuseError and a ValueError, as scikit-learn's
contract asks), instead of training a model whose every probability is NaN.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ValidationError
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from mefuse.errors import ConfigError, InvalidArrayError, MefuseError, NonNumericArrayError
from mefuse.train.config import FusionConfig, ModelConfig, OptimConfig, ThresholdConfig


class InvalidParameterError(ConfigError, ValueError):
    """A parameter value the configuration refuses (a ValueError, as scikit-learn asks)."""


class ConfigSection(BaseEstimator):
    """One section of the training configuration as nested scikit-learn parameters.

    Its parameters are the fields of a pydantic section (:attr:`config`), so ``get_params``
    of the estimator that holds it lists ``fusion__aux_weight`` and ``set_params`` reaches it
    with scikit-learn's own ``a__b`` routing; a field added to the section is a parameter here
    with no code. Values are stored as given; :meth:`set_params` and :meth:`validated` check
    them with pydantic and name the parameter in errors. Calling a section returns the
    validated pydantic section.
    """

    config: ClassVar[type[BaseModel]]
    name: ClassVar[str]
    """The estimator parameter that holds the section (the prefix in errors)."""
    excluded: ClassVar[tuple[str, ...]] = ()
    """Fields the estimator sets itself (``frames``: read from ``X``)."""

    def __init__(self, **values: Any) -> None:
        names = self._get_param_names()
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise InvalidParameterError(f"{self.name} has no parameter {unknown[0]!r}; "
                                        f"parameters: {', '.join(names)}")
        for key in names:
            field = self.config.model_fields[key]
            setattr(self, key, values[key] if key in values
                    else field.get_default(call_default_factory=True))

    @classmethod
    def _get_param_names(cls) -> list[str]:
        return sorted(n for n in cls.config.model_fields if n not in cls.excluded)

    def set_params(self, **params: Any) -> ConfigSection:
        """Set fields (scikit-learn's ``set_params``) once pydantic accepts them: a refused
        value leaves the section as it was."""
        if set(params) <= set(self._get_param_names()):
            self._validate({**self.get_params(deep=False), **params})
        super().set_params(**params)
        return self

    def validated(self) -> BaseModel:
        """The section as its validated pydantic model; errors name ``section__field``."""
        return self._validate(self.get_params(deep=False))

    def _validate(self, values: dict[str, Any]) -> BaseModel:
        try:
            return self.config(**values)
        except ValidationError as exc:
            lines = [f"{self.name}__{'.'.join(map(str, e['loc']))}: "
                     f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()]
            raise InvalidParameterError("invalid parameter " + "; ".join(lines)) from None

    def __call__(self) -> BaseModel:
        return self.validated()

    def __eq__(self, other: object) -> bool:
        """Equal when of one kind with equal values (a clone equals its original)."""
        if type(other) is not type(self):
            return NotImplemented
        return self.get_params(deep=False) == other.get_params(deep=False)

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self.get_params(deep=False).items()))))


class ModelParams(ConfigSection):
    """:class:`~mefuse.train.config.ModelConfig` as parameters ``model__*`` (frames from X)."""

    config = ModelConfig
    name = "model"
    excluded = ("frames", "sampling")


class FusionParams(ConfigSection):
    """:class:`~mefuse.train.config.FusionConfig` as parameters ``fusion__*``."""

    config = FusionConfig
    name = "fusion"


class OptimParams(ConfigSection):
    """:class:`~mefuse.train.config.OptimConfig` as parameters ``optim__*``."""

    config = OptimConfig
    name = "optim"


class ThresholdParams(ConfigSection):
    """:class:`~mefuse.train.config.ThresholdConfig` as parameters ``thresholds__*``."""

    config = ThresholdConfig
    name = "thresholds"


SECTIONS: dict[str, type[ConfigSection]] = {
    cls.name: cls for cls in (ModelParams, FusionParams, OptimParams, ThresholdParams)}
"""The estimator's section parameters (every nested section of the training configuration)."""
_DEFAULTS = {name: cls() for name, cls in SECTIONS.items()}
"""Default section values; :meth:`FusionClassifier.set_params` copies one before changing it."""


class FusionClassifier(ClassifierMixin, BaseEstimator):
    """The gated fusion classifier (or a baseline strategy) as a scikit-learn classifier."""

    def __init__(self, modalities: Sequence[str] = ("features",),
                 widths: Sequence[int] | None = None, strategy: str = "gated",
                 task: str = "auto", model: ConfigSection = _DEFAULTS["model"],
                 fusion: ConfigSection = _DEFAULTS["fusion"],
                 optim: ConfigSection = _DEFAULTS["optim"],
                 thresholds: ConfigSection = _DEFAULTS["thresholds"],
                 device: str = "cpu", seed: int = 0) -> None:
        self.modalities = modalities
        self.widths = widths
        self.strategy = strategy
        self.task = task
        self.model = model
        self.fusion = fusion
        self.optim = optim
        self.thresholds = thresholds
        self.device = device
        self.seed = seed

    def set_params(self, **params: Any) -> FusionClassifier:
        """scikit-learn's ``set_params``; a section changed through ``section__field`` is
        copied first, so the shared default (or a section object the caller still holds) is
        never changed behind their back."""
        for section in {key.partition("__")[0] for key in params if "__" in key}:
            if isinstance(getattr(self, section, None), ConfigSection) and section in SECTIONS:
                setattr(self, section, clone(getattr(self, section)))
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (clips, frames, width); 2-D is one frame a clip
        tags.classifier_tags.multi_label = True  # a 0/1 label matrix trains a multi-label model
        return tags

    # ------------------------------------------------------------------ validation
    def _layout(self, width: int) -> tuple[list[str], list[int]]:
        """The modality names and each one's column count, checked against ``width``."""
        names = self.modalities
        if isinstance(names, str | bytes) or not isinstance(names, Sequence) or not names \
                or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"modalities must be a list of one or more names, e.g. "
                              f"['mesh3d', 'flow'], got {names!r}")
        names = list(names)
        if self.widths is None:
            if len(names) != 1:
                raise ConfigError(f"widths must say how many of X's {width} columns each of "
                                  f"{names} takes (load_store returns them)")
            return names, [width]
        widths = self.widths
        if isinstance(widths, str | bytes) or not isinstance(widths, Sequence) or not all(
                isinstance(w, Integral) and not isinstance(w, bool) for w in widths):
            raise ConfigError(f"widths must be a list of whole numbers, got {widths!r}")
        if any(w < 1 for w in widths):
            raise ConfigError(f"widths {list(widths)} must all be positive: each modality "
                              "takes at least one column of X")
        if len(widths) != len(names) or sum(widths) != width:
            raise ConfigError(f"widths {list(widths)} must give one width per modality "
                              f"{names} and add up to X's {width} columns")
        return names, [int(w) for w in widths]

    def _validated(self, X: Any, y: Any = None, *, fitting: bool) -> tuple[np.ndarray, Any]:
        """``X`` as a finite float32 ``(clips, frames, width)`` array (and ``y`` checked
        against it when fitting), with scikit-learn's validation and its messages."""
        from sklearn.utils.validation import check_array, check_X_y, validate_data

        try:
            if fitting and y is None:
                raise InvalidArrayError(f"{type(self).__name__} requires y to be passed, but "
                                        "the target y is None")
            ndim = getattr(X, "ndim", None)  # not np.ndim: it would ask array-likes to convert
            ndim = np.asarray(X).ndim if ndim is None else ndim
            if ndim > 3:
                raise InvalidArrayError(f"X must be (clips, frames, width) or (clips, width), "
                                        f"got {ndim} dimensions")
            if ndim != 3:  # 2-D (or a DataFrame): one frame a clip
                if fitting:
                    X, y = validate_data(self, X, y, multi_output=True, dtype=np.float32)
                else:
                    X = validate_data(self, X, reset=False, dtype=np.float32)
                return X[:, np.newaxis, :], y
            if fitting:
                X, y = check_X_y(X, y, allow_nd=True, multi_output=True, dtype=np.float32,
                                 estimator=self)
                self.n_features_in_ = X.shape[2]
                if hasattr(self, "feature_names_in_"):
                    del self.feature_names_in_  # a refit on arrays: no names any more
            else:
                X = check_array(X, allow_nd=True, dtype=np.float32, estimator=self,
                                input_name="X")
                if X.shape[2] != self.n_features_in_:
                    raise InvalidArrayError(
                        f"X has {X.shape[2]} features, but {type(self).__name__} is expecting "
                        f"{self.n_features_in_} features as input")
        except MefuseError:
            raise
        except TypeError as exc:  # a dict or text among the numbers
            raise NonNumericArrayError(str(exc)) from exc
        except ValueError as exc:
            raise InvalidArrayError(str(exc)) from exc
        if X.shape[1] == 0 or X.shape[2] == 0:
            raise InvalidArrayError(f"X of shape {X.shape} has no frames or no features")
        return X, y

    def _labels(self, y: np.ndarray) -> tuple[str, np.ndarray, np.ndarray]:
        """The task, the classes and the 0/1 label matrix ``(clips, classes)`` of ``y``."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        task = self.task
        if task not in ("auto", "multilabel", "singlelabel"):
            raise ConfigError(f"task must be auto, multilabel or singlelabel, got {task!r}")
        if y.ndim == 2 and y.shape[1] == 1 and task != "multilabel":
            y = column_or_1d(y, warn=True)  # a column of labels, as scikit-learn reads it
        if task == "auto":
            task = "multilabel" if y.ndim == 2 else "singlelabel"
        if task == "multilabel":
            if y.ndim != 2 or y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
                raise InvalidArrayError("multi-label y must be a 0/1 matrix (clips, classes), "
                                        f"got {y.ndim}-D values such as {np.unique(y)[:5]}")
            return task, np.arange(y.shape[1]), y.astype(np.int64)
        if y.ndim != 1:
            raise InvalidArrayError("single-label y must be a 1-D array of class labels, got "
                                    f"shape {y.shape}")
        try:
            check_classification_targets(y)  # refuses 0.5 (continuous) and mixed types
        except ValueError as exc:
            raise InvalidArrayError(f"single-label y must hold class labels: {exc}") from exc
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            only = np.asarray(classes[0]).tolist()
            raise InvalidArrayError(f"single-label y needs at least two classes to tell apart; "
                                    f"it holds only one class ({only!r})")
        return task, classes, np.eye(len(classes), dtype=np.int64)[codes]

    def _modality_data(self, X: np.ndarray):
        from mefuse.train.data import ModalityData

        names, widths = self._layout(X.shape[2])
        edges = np.cumsum([0, *widths])
        arrays = [X[:, :, a:b] for a, b in itertools.pairwise(edges)]
        return ModalityData(names, arrays, [str(i) for i in range(len(X))])

    def _config(self, frames: int, task: str, classes: list[str]):
        from mefuse.train.config import TrainConfig, build_config

        data: dict[str, Any] = {
            "modalities": list(self.modalities), "strategy": self.strategy, "task": task,
            "classes": classes, "device": self.device,
            **{name: self._section(name) for name in SECTIONS},
        }
        data["model"]["frames"] = frames
        return build_config(TrainConfig, data, "FusionClassifier's parameters")

    def _section(self, name: str) -> dict[str, Any]:
        """A section parameter's values, checked to be the section's own kind."""
        value = getattr(self, name)
        if not isinstance(value, SECTIONS[name]):
            raise ConfigError(f"{name} must be {SECTIONS[name].__name__}(...), e.g. "
                              f"{name}={SECTIONS[name].__name__}(...) from mefuse.estimator, "
                              f"got {value!r}")
        return value.get_params(deep=False)

    # ------------------------------------------------------------------ sklearn API
    def fit(self, X: Any, y: Any) -> FusionClassifier:
        """Train on features ``X`` and labels ``y`` (see the module docstring)."""
        from mefuse.train.trainer import TrainedModel

        X, y = self._validated(X, y, fitting=True)
        data = self._modality_data(X)
        task, self.classes_, labels = self._labels(y)
        self.multilabel_ = task == "multilabel"
        self.frames_ = X.shape[1]
        names = [str(c) for c in self.classes_]
        self.estimator_ = TrainedModel(self._config(self.frames_, task, names),
                                          seed=self.seed)
        self.estimator_.fit(data, labels, classes=names, context="fit data")
        return self

    def _scored(self, X: Any) -> np.ndarray:
        """Probabilities of the fitted model for ``X``, checked like the training data."""
        estimator = self._fitted()
        X, _ = self._validated(X, fitting=False)
        if X.shape[1] != self.frames_:
            raise InvalidArrayError(f"X has {X.shape[1]} frames per clip, but the model was "
                                    f"fitted on {self.frames_}")
        return estimator.predict_proba(self._modality_data(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(clips, classes)`` (sigmoid per class when multi-label)."""
        return self._scored(X)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 decisions per class (multi-label) or the class labels (single-label)."""
        probabilities = self._scored(X)
        if self.multilabel_:
            return self.estimator_.decide(probabilities)
        return self.classes_[probabilities.argmax(axis=1)]

    def gate_weights(self) -> dict[str, float]:
        """The learned gate's weight per modality."""
        return self._fitted().gate_weights()

    def _fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "estimator_")
        return self.estimator_


_RENAMED = {"FusionModel": "FusionClassifier"}  # rename-classes: keep
"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""


def __getattr__(name: str) -> object:
    """The old class names (see ``_RENAMED``)."""
    from mefuse.utils.deprecation import renamed

    return renamed(__name__, name, _RENAMED)
