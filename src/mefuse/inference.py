"""Predict on new videos or frame folders with a trained model, in one call.

A model file written by ``mefuse train`` carries the provenance of every modality it was trained
on: the extractor's name, parameters and weights, and the preprocessing (views, crop size,
sampled frames, face search) of the store it came from. :func:`predict_inputs` rebuilds exactly
that pipeline: it refuses, with the reason, a model whose extractors are not installed or not
recorded, or whose rebuilt extractor would not produce the same features (other parameters or
other weights), then extracts the inputs into a store and scores them.
"""

from __future__ import annotations

import dataclasses
import inspect
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, DataError
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.local import extract_table
from mefuse.extraction.specs import build_extractor_kwargs
from mefuse.features.base import Extractor, list_extractors
from mefuse.predictions import Predictions
from mefuse.preprocess.config import PreprocessConfig
from mefuse.preprocess.views import describe_views, views_for
from mefuse.store import FeatureStore
from mefuse.store.quality import faceless_shares, read_quality
from mefuse.store.reports import Failure
from mefuse.train.fit import predict_store
from mefuse.train.trainer import TrainedModel
from mefuse.utils.diff import describe_differences


@dataclass(frozen=True)
class Recipe:
    """What a model needs to be applied to raw video: its extractors and preprocessing."""

    extractors: dict[str, dict[str, Any]]
    """Modality key -> the manifest fields (extractor, params, weights, preprocess)."""
    preprocess: PreprocessConfig


def model_recipe(estimator: TrainedModel) -> Recipe:
    """The extraction recipe recorded in a model, or a :class:`DataError` saying why the model
    cannot be applied to video (no provenance, or modalities preprocessed differently)."""
    recorded = estimator.provenance.get("extractors") or {}
    missing = [m for m in estimator.config.modalities if not (recorded.get(m) or {}).get(
        "extractor")]
    if missing:
        raise DataError(
            f"the model records no extractor for modality {', '.join(map(repr, missing))} (its "
            "features were imported or synthetic), so mefuse cannot compute them from video; "
            "extract them yourself and use 'mefuse predict --model MODEL --store STORE'")
    preprocesses = {m: recorded[m].get("preprocess") or {} for m in estimator.config.modalities}
    first, *others = estimator.config.modalities
    for other in others:
        if preprocesses[other] != preprocesses[first]:
            raise DataError(
                f"modalities {first!r} and {other!r} of the model were preprocessed differently "
                f"({describe_differences(preprocesses[first], preprocesses[other], first, other)})"
                "; one extraction run cannot reproduce both")
    known = {f.name for f in dataclasses.fields(PreprocessConfig)}
    settings = {k: v for k, v in preprocesses[first].items() if k in known}
    return Recipe({m: dict(recorded[m]) for m in estimator.config.modalities},
                  PreprocessConfig(**settings))


def build_extractors(recipe: Recipe, options: dict[str, dict[str, Any]] | None = None,
                     device: str | None = None) -> list[Extractor]:
    """The model's extractors, rebuilt and checked against what the model recorded.

    ``options`` (extractor name -> settings, as ``--option NAME.KEY=VALUE``) supply what a
    model file cannot carry, such as the path of an encoder's weights.
    """
    registry = list_extractors()
    options = options or {}
    built: list[Extractor] = []
    try:
        for key, info in recipe.extractors.items():
            name = info["extractor"]
            if name not in registry:
                raise DataError(
                    f"the model needs extractor {name!r} (modality {key!r}), which is not "
                    f"available in this installation ({', '.join(registry)}); install the extra "
                    "that provides it, e.g. pip install 'mefuse[all]'")
            cls = registry[name]
            accepted = inspect.signature(cls.__init__).parameters
            kwargs = {k: v for k, v in (info.get("params") or {}).items() if k in accepted}
            kwargs.update(options.get(name, {}))
            try:
                extractor = cls(**build_extractor_kwargs(cls, kwargs, device))
            except TypeError as exc:
                raise ConfigError(f"extractor {name!r}: {exc}") from exc
            built.append(extractor)
            now = {"params": extractor.params(), "weights": extractor.weights()}
            then = {"params": info.get("params"), "weights": info.get("weights")}
            if extractor.key != key or now != then:
                raise DataError(
                    f"extractor {name!r} rebuilt here would not give the features the model was "
                    f"trained on ({describe_differences(then, now, 'model', 'here')}); pass the "
                    f"training settings with --option {name}.KEY=VALUE")
    except Exception:
        for extractor in built:
            extractor.close()
        raise
    return built


def input_name(path: Path) -> str:
    """A sequence id for an input: its file or folder name in ASCII (accents dropped, not the
    letters they sit on: ``été`` -> ``ete``); the ``source`` column keeps the real name."""
    from mefuse.data.adapters.base import safe_id

    name = path.stem if path.is_file() else path.name
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    base = safe_id(ascii_name)
    return "input" if base == "_" else base


def input_table(inputs: Sequence[str | Path], views: str,
                classes: Sequence[str]) -> ClipTable:
    """A clip table for video files and frame folders: one sequence per input, named by its
    file or folder name (made unique), one clip per view."""
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for item in inputs:
        path = Path(item)
        if not path.exists():
            raise DataError(f"input {path} does not exist (give video files or frame folders)")
        base = input_name(path)
        sequence, n = base, 1
        while sequence in used:
            n += 1
            sequence = f"{base}_{n}"
        used.add(sequence)
        names = views_for(views)
        for view in names:
            row: dict[str, Any] = {
                "clip_id": sequence if names == ("full",) else f"{sequence}_{view}",
                "sequence_id": sequence, "view": view, "subject": sequence,
                "source": str(path.resolve())}
            row.update({name: None for name in classes})
            rows.append(row)
    if not rows:
        raise DataError("give at least one video file or frame folder")
    frame = pd.DataFrame(rows)
    for name in classes:
        frame[name] = frame[name].astype("Int64")
    return ClipTable.from_frame(frame, classes, source="the inputs")


def layout_warnings(trained: str, used: str, table: ClipTable,
                    failures: Sequence[Failure]) -> list[str]:
    """Why the inputs' camera layout may not be the training data's: the user chose another
    one, or (both views) one half of an input has a face and the other has none, which is what
    a single-camera video split in two looks like."""
    warnings = []
    if used != trained:
        warnings.append(
            f"the model was trained on frames where {describe_views(trained)} (--views "
            f"{trained}); these inputs are read with --views {used}: {describe_views(used)}. "
            "Scores of another layout may be less reliable")
    if used == "both":
        no_face = {f.clip_id for f in failures if f.stage == "detect"}
        for _, rows in table.frame.groupby("sequence_id", sort=False):
            missing = [c for c in rows["clip_id"] if c in no_face]
            if len(missing) == 1:
                source = rows["source"].iloc[0]
                warnings.append(
                    f"{source}: one half of the frame has a face and the other has none; the "
                    "model splits each frame into two camera views (side-by-side data). If "
                    "this is a single-camera video, pass --views none (or left/right)")
    return warnings


def apex_frames(quality: pd.DataFrame) -> pd.Series:
    """Per clip id, the apex frame extraction recorded (0-based position in the input's frame
    order: found in the motion, inputs have no labels); empty where none was recorded."""
    if "apex_frame" not in quality.columns:
        return pd.Series(dtype="Int64")
    frames = pd.to_numeric(quality["apex_frame"], errors="coerce").astype("Int64")
    return pd.Series(frames.to_numpy(), index=quality["clip_id"].astype(str)).groupby(
        level=0).last()


def predict_inputs(
    model: str | Path | TrainedModel, inputs: Sequence[str | Path], *,
    store: str | Path | None = None, options: dict[str, dict[str, Any]] | None = None,
    device: str | None = None, progress: bool = False, workers: int = 1,
    views: str = "auto", max_faceless: float | None = None, keep_faceless: bool = False,
) -> Predictions:
    """Per-clip and per-sequence probabilities and decisions for videos or frame folders.

    Features go to ``store`` when given (kept, and reused by a rerun), else to a temporary
    folder. Clips that fail (no face, unreadable, crops without a face in more than
    ``max_faceless`` of the frames unless ``keep_faceless``; see :class:`PreprocessConfig`) are
    in the result's ``failures`` and absent from the tables. The per-clip table's
    ``faceless_share`` column is the share of each clip's crops without a face, its
    ``apex_frame`` the frame (0-based, in the input's order) where the face's motion peaks
    (:func:`~mefuse.preprocess.apex.find_apex`). ``views`` is the
    inputs' camera layout (``auto``: the training data's); the result's ``warnings`` say when
    it differs, or seems to, from the training data's.
    """
    estimator = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    recipe = model_recipe(estimator)
    trained = recipe.preprocess.views
    used = trained if views == "auto" else views
    views_for(used)
    faces: dict[str, Any] = {"keep_faceless": keep_faceless}
    if max_faceless is not None:
        faces["max_faceless"] = max_faceless
    preprocess = dataclasses.replace(recipe.preprocess, views=used, **faces)
    job = ExtractionJob(preprocess, workers=workers, progress=progress)
    table = input_table(inputs, used, estimator.classes)
    extractors = build_extractors(recipe, options, device)
    with tempfile.TemporaryDirectory(prefix="mefuse-predict-") as scratch:
        root = Path(store) if store is not None else Path(scratch)
        try:
            summary = extract_table(table, root, extractors, job)
        finally:
            for extractor in extractors:
                extractor.close()
        summary.warnings.extend(layout_warnings(trained, used, table, summary.failures))
        feature_store = FeatureStore.open(root)
        done = set.intersection(*(set(feature_store.clip_ids(key))
                                  for key in recipe.extractors))
        failed = {f.clip_id for f in summary.failures}
        scored = table.subset(table.frame["clip_id"].isin(done - failed).to_numpy())
        if len(scored) == 0:
            reasons = "; ".join(f"{f.clip_id}: {f.reason}" for f in summary.failures[:3])
            raise DataError(f"no input could be featurised ({reasons})")
        clips, sequences = predict_store(estimator, feature_store, scored, views=used)
        quality = read_quality(root)
        shares = faceless_shares(quality)
        clips["faceless_share"] = clips["clip_id"].map(shares.groupby(level=0).last())
        clips["apex_frame"] = clips["clip_id"].map(apex_frames(quality)).astype("Int64")
    return Predictions(clips, sequences, sources=tuple(map(str, table.frame["source"].unique())),
                       warnings=tuple(summary.warnings), failures=tuple(summary.failures))
