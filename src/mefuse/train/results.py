"""The records of a cross-validation run, written and read in one place.

``mefuse cv``, each cell of ``mefuse bench``, the HTML report and the Python API all produce or
read the same files (``results.json``, ``predictions.csv``, ``attention.npz``) through
:class:`CVResult`; the per-fold, per-seed and summary records are typed here (as ``TypedDict``,
since they are JSON objects on disk) so that a reader cannot disagree with the writer about a
field's name or type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from mefuse.errors import DataError
from mefuse.train.headline import Headline, headline_of
from mefuse.utils.atomic import atomic_open, make_dirs, write_json
from mefuse.utils.csvsafe import read_csv, write_csv
from mefuse.utils.jsonfile import read_json_object


class FoldRecord(TypedDict):
    """One trained model (seed x fold) scored on its test fold."""

    seed: int
    fold: int
    macro_f1: float
    """Mean F1 over every class, an absent one scoring 0 (the paper's per-fold number)."""
    macro_f1_present: NotRequired[float | None]
    """Mean F1 over the classes present in the fold's test truth
    (:func:`~mefuse.train.metrics.macro_f1_present`); absent from older results."""
    classes_present: NotRequired[list[str]]
    per_class_f1: dict[str, float]
    gate: dict[str, float]
    """Weight of each pool's summary (equal for ``sum``; one entry for ``concat``)."""
    choice: str
    """``fused`` or the single modality that an inner split chose (``fusion.select``)."""
    choice_scores: dict[str, float]
    thresholds: list[float]
    n_train_clips: int
    n_test_clips: int
    n_test_units: int
    """Clips or sequences scored, at the run's ``level``."""
    test_subjects: list[str]
    test_datasets: NotRequired[list[str]]
    """The dataset parts of the test clips (composite clip tables; under ``lodo`` the one
    held out)."""


class PartScore(TypedDict):
    """One dataset part of a composite: UF1 and UAR of the pooled test predictions restricted
    to its clips (per seed; in the summary, the mean over seeds)."""

    uf1: float
    uar: float
    n_clips: int
    n_units: NotRequired[int]
    """Clips or sequences scored, at the run's ``level``."""
    uf1_std: NotRequired[float]
    """Summary only: std over seeds."""
    uar_std: NotRequired[float]


class PooledRecord(TypedDict):
    """One seed's test predictions of all folds pooled: UF1 and UAR."""

    seed: int
    uf1: float
    uar: float
    per_class_f1: dict[str, float]
    by_dataset: NotRequired[dict[str, PartScore]]
    """Per dataset part, when the clip table holds several (a composite)."""


class RunSummary(TypedDict):
    """Fold macro-F1 over all folds and seeds, pooled scores over seeds, and the data's size."""

    macro_f1_mean: float
    macro_f1_std: float
    macro_f1_var: float
    macro_f1_seed_std: float
    uf1_mean: float
    uf1_std: float
    uar_mean: float
    uar_std: float
    per_class_f1_mean: dict[str, float]
    gate_mean: dict[str, float]
    n_clips: int
    n_sequences: int
    n_subjects: int
    n_runs: int
    macro_f1_present_mean: NotRequired[float]
    """Mean over folds and seeds of the fold macro-F1 over the classes each fold shows."""
    macro_f1_present_std: NotRequired[float]
    per_class_f1_pooled_mean: NotRequired[dict[str, float]]
    """Per-class F1 of the pooled predictions, mean over seeds."""
    by_dataset: NotRequired[dict[str, PartScore]]
    """Per dataset part of a composite clip table: UF1 and UAR of the pooled predictions
    restricted to the part, mean over seeds (absent with one part)."""
    headline: NotRequired[Headline]
    """The run's headline score, chosen by its protocol (:mod:`mefuse.train.headline`)."""


RESULTS = "results.json"
RERUN = "run 'mefuse cv' again to write it anew"
PREDICTIONS = "predictions.csv"
ATTENTION = "attention.npz"


@dataclass
class CVResult:
    """Everything a cross-validation run measured; :meth:`write` puts it on disk."""

    config: dict[str, Any]
    classes: list[str]
    folds: list[FoldRecord]
    pooled: list[PooledRecord]
    summary: RunSummary
    runtime_s: float
    provenance: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    predictions: pd.DataFrame | None = None
    attention: dict[str, np.ndarray] = field(default_factory=dict)
    audit: dict[str, Any] | None = None
    """``mefuse cv --audit``: the leaky test-epoch-selection audit (:mod:`mefuse.train.audit`),
    kept apart from every honest score."""

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.audit is None else {"audit": self.audit}
        return {
            "config": self.config,
            "classes": self.classes,
            "summary": self.summary,
            "folds": self.folds,
            "pooled": self.pooled,
            "warnings": self.warnings,
            "runtime_s": round(self.runtime_s, 3),
            "provenance": self.provenance,
            **extra,
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write ``results.json``, ``predictions.csv`` and ``attention.npz`` into ``out_dir``."""
        out = Path(out_dir)
        make_dirs(out)
        if self.predictions is not None:
            write_csv(self.predictions, out / PREDICTIONS)
        if self.attention:
            with atomic_open(out / ATTENTION, "wb") as handle:
                np.savez_compressed(handle, **self.attention)  # type: ignore[arg-type]
        write_json(out / RESULTS, self.to_dict())
        return out / RESULTS

    @classmethod
    def read(cls, out_dir: str | Path, *, arrays: bool = True) -> CVResult:
        """Load a run written by :meth:`write`: its records, and (with ``arrays``) the
        predictions and attention maps when present."""
        out = Path(out_dir)
        path = out / RESULTS if out.is_dir() else out
        if not path.exists():
            raise DataError(f"{path} does not exist; run 'mefuse cv' first")
        data = read_json_object(path, "cv results", RERUN)
        _check_fields(path, data)
        predictions = None
        if arrays and (path.parent / PREDICTIONS).is_file():
            predictions = _read_predictions(path.parent / PREDICTIONS)
        attention = {}
        if arrays and (path.parent / ATTENTION).is_file():
            attention = _read_attention(path.parent / ATTENTION)
        summary = data["summary"]
        if "headline" not in summary:  # written before the headline was recorded
            summary["headline"] = headline_of(summary, data["config"])
        return cls(data["config"], data["classes"], data["folds"], data["pooled"],
                   summary, data["runtime_s"], data["provenance"],
                   data.get("warnings", []), predictions, attention,
                   audit=data["audit"] if isinstance(data.get("audit"), dict) else None)


FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "config": dict, "classes": list, "folds": list, "pooled": list, "summary": dict,
    "runtime_s": (int, float), "provenance": dict}
"""The entries of ``results.json`` and their JSON types (``warnings`` is optional)."""


def _check_fields(path: Path, data: dict[str, Any]) -> None:
    """Refuse, naming the entry, a results file that lacks an entry or holds the wrong type."""
    missing = [k for k in FIELD_TYPES if k not in data]
    if missing:
        raise DataError(f"{path} is not the results of a 'mefuse cv' run: it has no "
                        f"{', '.join(map(repr, missing))} "
                        f"{'entry' if len(missing) == 1 else 'entries'}; {RERUN}")
    for key, kind in FIELD_TYPES.items():
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise DataError(f"{path}: entry {key!r} is a {type(data[key]).__name__}, not the "
                            f"{key} of a 'mefuse cv' run; {RERUN}")
    if not all(isinstance(r, dict) for r in [*data["folds"], *data["pooled"]]):
        raise DataError(f"{path}: entries 'folds' and 'pooled' must list JSON objects; {RERUN}")


def _read_predictions(path: Path) -> pd.DataFrame:
    """``predictions.csv``, or a :class:`DataError` naming it (cut short, not UTF-8, empty)."""
    try:
        return read_csv(path, dtype={"clip_id": str, "sequence_id": str, "subject": str,
                                     "dataset": str},
                        encoding="utf-8")
    except UnicodeDecodeError as exc:
        problem = f"byte {exc.object[exc.start]:#04x} at offset {exc.start} is not UTF-8 text"
    except pd.errors.EmptyDataError:
        problem = "it is empty"
    except (pd.errors.ParserError, ValueError) as exc:
        problem = " ".join(str(exc).split())
    raise DataError(f"{path} cannot be read as the predictions of a cv run ({problem}); {RERUN}")


def _read_attention(path: Path) -> dict[str, np.ndarray]:
    """``attention.npz`` (never a pickle), or a :class:`DataError` naming it."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise DataError(f"{path} cannot be read as the attention maps of a cv run (not a zip "
                        f"archive: damaged or cut short); {RERUN}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise DataError(f"{path} cannot be read as the attention maps of a cv run "
                        f"({' '.join(str(exc).split()) or type(exc).__name__}); {RERUN}") from None
