"""The Python entry points, for notebooks and scripts (``import mefuse``).

Each function is a thin, documented door to the code the CLI runs, so that a result obtained
in a notebook is the one ``mefuse cv`` would give:

- :func:`clips_table`: a store's clip table as a pandas DataFrame;
- :func:`load_store`: features as arrays (per modality, and side by side for
  :class:`~mefuse.estimator.FusionClassifier`), labels and subjects;
- :func:`cross_validate`, :func:`train_model`: ``mefuse cv`` and ``mefuse train``;
- :func:`predict`: ``mefuse predict`` on a store, or on video files and frame folders;
- :func:`check_data`: ``mefuse check-data``, a dataset checked before extraction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd

from mefuse.errors import ConfigError, DataError
from mefuse.predictions import Predictions
from mefuse.store import FeatureStore
from mefuse.train.config import ModelConfig
from mefuse.utils.arguments import Names, checked_arguments

if TYPE_CHECKING:
    from mefuse.data.check import CheckReport

Frames = Annotated[(int, *ModelConfig.model_fields["frames"].metadata)]
"""Frames per clip: the bounds a model takes (1 to 512), so that what :func:`load_store` returns
fits :class:`~mefuse.estimator.FusionClassifier`, and a slip such as ``frames=1e9`` is refused
before it allocates (clips x frames x width floats) instead of asking for terabytes."""
DEFAULT_FRAMES: int = ModelConfig.model_fields["frames"].default
"""The configuration's default clip length (``model.frames``), defined once there."""


@dataclass
class StoreData:
    """Features of a store's labelled clips, ready for scikit-learn or your own code."""

    X: np.ndarray
    """``(clips, frames, sum of widths)``: the modalities side by side (the input of
    FusionClassifier)."""
    y: np.ndarray
    """0/1 labels ``(clips, classes)``."""
    groups: np.ndarray
    """Each clip's subject (for group splitters: no subject in both train and test)."""
    modalities: list[str]
    widths: list[int]
    arrays: list[np.ndarray]
    """One ``(clips, frames, width)`` array per modality."""
    clips: pd.DataFrame
    """The clip table rows, in the order of the arrays."""
    classes: list[str]


def _table(store: FeatureStore, clips: str | Path | None, classes: Sequence[str] | None):
    """The clip table; ``classes`` default to those the store recorded at extraction."""
    from mefuse.store.task import resolve_store_task

    if classes is None:
        settings: dict[str, Any] = {}
        resolve_store_task(store.root, settings, api=True)
        classes = settings.get("classes")
    return store.clips(clips, classes, hint=False)


@checked_arguments
def clips_table(store: str | Path, clips: str | Path | None = None,
                classes: Sequence[str] | None = None) -> pd.DataFrame:
    """The clip table of a store (``<store>/clips.csv`` unless ``clips`` names another)."""
    return _table(FeatureStore.open(store), clips, classes).frame.copy()


@checked_arguments
def load_store(store: str | Path, modalities: Names, *, frames: Frames = DEFAULT_FRAMES,
               clips: str | Path | None = None, classes: Sequence[str] | None = None,
               labelled_only: bool = True,
               sampling: Literal["uniform", "apex"] = "uniform") -> StoreData:
    """Load ``modalities`` for a store's (labelled) clips, each resampled to ``frames``
    (``sampling``: ``uniform``, the paper's, or ``apex``, as ``--sampling``)."""
    feature_store = FeatureStore.open(store)
    table = _table(feature_store, clips, classes)
    if labelled_only:
        table = table.subset(table.labelled)
    if len(table) == 0:
        raise DataError(f"no {'labelled ' if labelled_only else ''}clip in the clip table")
    data = feature_store.load_modalities(table.clip_ids, list(modalities), frames, sampling)
    labels = table.labels if labelled_only else np.zeros((len(table), len(table.classes)))
    return StoreData(
        X=np.concatenate(data.arrays, axis=2), y=np.asarray(labels, dtype=np.int64),
        groups=table.frame["subject"].astype(str).to_numpy(), modalities=list(modalities),
        widths=data.dims, arrays=data.arrays, clips=table.frame.copy(),
        classes=list(table.classes))


def _settings(store: FeatureStore | str | Path, modalities: Sequence[str],
              settings: dict[str, Any]) -> dict[str, Any]:
    """Settings with the modality names matched to the store's extractor keys, and the task
    and classes the store recorded at extraction as defaults (a ``task=`` or ``classes=`` that
    contradicts them is a :class:`~mefuse.errors.ConfigError`)."""
    from mefuse.store.task import resolve_store_task

    store = FeatureStore.open(store)
    names, _ = store.resolve(list(modalities))
    settings = {**settings, "modalities": names}
    resolve_store_task(store.root, settings, given_task=settings.get("task"),
                       given_classes=settings.get("classes"), api=True)
    return settings


@checked_arguments
def cross_validate(store: str | Path, modalities: Names, *,
                   clips: str | Path | None = None, progress: bool = False,
                   **settings: Any):
    """``mefuse cv``: cross-validate on a store; ``settings`` are CVConfig fields (``strategy``,
    ``protocol``, ``folds``, ``seeds``, ``model={...}``, ``optim={...}`` ...). Returns the
    :class:`~mefuse.train.results.CVResult` (``.summary``, ``.folds``, ``.write(folder)``)."""
    from mefuse.train.config import CVConfig, build_config
    from mefuse.train.cv import run_cv

    feature_store = FeatureStore.open(store)
    config = build_config(CVConfig, _settings(feature_store, modalities, settings),
                          "cross_validate()")
    return run_cv(feature_store, _table(feature_store, clips, config.classes), config,
                  progress=progress)


@checked_arguments
def train_model(store: str | Path, modalities: Names, *, clips: str | Path | None = None,
          seed: int = 0, **settings: Any):
    """``mefuse train``: fit on every labelled clip; returns a
    :class:`~mefuse.train.trainer.TrainedModel` (``.save(path)``, ``.gate_weights()``)."""
    from mefuse.train.config import TrainConfig, build_config
    from mefuse.train.fit import fit_on_store

    feature_store = FeatureStore.open(store)
    config = build_config(TrainConfig, _settings(feature_store, modalities, settings),
                          "train_model()")
    return fit_on_store(feature_store, _table(feature_store, clips, config.classes), config,
                        seed=seed)


@checked_arguments
def predict(model: Any, *, store: str | Path | None = None,
            inputs: Sequence[str | Path] | None = None, clips: str | Path | None = None,
            **options: Any) -> Predictions:
    """``mefuse predict``: per-clip and per-sequence probabilities and decisions.

    ``model`` is a model file or a fitted TrainedModel. Give ``store`` (score its clips) or
    ``inputs`` (video files and frame folders: the model's extractors run on them; ``store``
    then keeps their features). ``options`` go to :func:`mefuse.inference.predict_inputs`.
    Returns a :class:`~mefuse.predictions.Predictions` (``.clips``, ``.sequences``,
    ``.sources``, ``.warnings``, ``.failures``, ``.to_csv(path)``).
    """
    model = _model(model)
    if inputs:
        from mefuse.inference import predict_inputs

        _check_options(options, predict_inputs)
        return predict_inputs(model, inputs, store=store, **options)
    if store is None:
        raise DataError("predict() needs store= or inputs=")
    if options:
        raise ConfigError(f"predict() on a store takes no options (got {', '.join(options)}); "
                          "options apply to inputs= (videos and frame folders) only")
    from mefuse.train.fit import predict_store

    clip_frame, sequence_frame = predict_store(model, FeatureStore.open(store), clips)
    return Predictions(clip_frame, sequence_frame, sources=(str(store),))


def check_data(kind: str, root: str | Path, labels: str | Path | None = None,
               views: Sequence[str] | str = "auto", *, options: dict[str, Any] | None = None,
               read_first: bool = True) -> CheckReport:
    """``mefuse check-data``: what is missing or inconsistent in a dataset, before extracting.

    ``kind`` is a dataset adapter (``4dmr``, ``casme2``, ``samm``, ``folder``...; ``mefuse
    check-data --list``), ``root`` its folder, ``labels`` its label sheet (default: the
    adapter's usual file under ``root``), ``views`` a ``--views`` choice (``auto``: the
    dataset's usual layout, ``both``, ``left``, ``right``, ``none``) or the view names
    themselves, ``options`` the adapter's settings (``--dataset-option KEY=VALUE``).
    ``read_first``: decode the first frame of each window (proves the files are images).

    Returns a :class:`~mefuse.data.check.CheckReport`: ``report.ok`` (nothing to fix),
    ``report.errors`` (one line per problem), ``report.dataset.notes``, ``report.summary()``
    (the counts as a dict) and ``print(report)``. Raises only for what stops the adapter itself
    (unknown kind, missing root or label sheet, missing columns)::

        report = mefuse.check_data("casme2", "data/CASME2")
        if not report.ok:
            print(report)
    """
    from mefuse.data.check import check_dataset
    from mefuse.preprocess.config import PreprocessConfig
    from mefuse.preprocess.views import resolve_views, views_for

    choice = resolve_views(views, kind) if isinstance(views, str) else None
    chosen = views_for(choice) if choice is not None else tuple(views)
    return check_dataset(kind, root, labels, chosen, min_frames=PreprocessConfig.min_frames,
                         views_choice=choice, options=options, read_first=read_first)


def _model(model: Any) -> Any:
    """``model`` if it is a model file's path or a fitted TrainedModel; else a clear error
    (a number or a scikit-learn FusionClassifier would fail deep inside otherwise)."""
    from mefuse.train.trainer import TrainedModel

    if isinstance(model, str | Path | TrainedModel):
        return model
    hint = (": a FusionClassifier scores arrays itself, call its predict(X)"
            if type(model).__name__ == "FusionClassifier" else "")
    raise ConfigError(f"predict() takes a model file's path or the TrainedModel that "
                      f"train_model() returns, not {type(model).__name__} {model!r:.60}{hint}")


def _check_options(options: dict[str, Any], target: Any) -> None:
    """Refuse options that ``target`` does not take, naming those it does."""
    import inspect

    accepted = [name for name, parameter in inspect.signature(target).parameters.items()
                if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "store"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"predict() has no option {', '.join(map(repr, unknown))}; "
                          f"options for inputs=: {', '.join(accepted)}")
