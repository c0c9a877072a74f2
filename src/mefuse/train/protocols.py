"""Cross-validation protocols, defined on sequences so that the views of one sequence always
fall in the same fold (a left and a right half of one clip are not independent samples).

- ``mskf``: the paper's ``MultilabelStratifiedKFold`` (``iterative-stratification``), 3 folds by
  default, shuffled with the run's seed. It stratifies labels only, so one subject's sequences
  can be in train and test at once; scores under it are optimistic for unseen people.
- ``subject-kfold``: subject-disjoint folds, label-stratified as far as the subjects allow
  (scikit-learn's ``StratifiedGroupKFold`` on the label powerset, so multi-label combinations are
  spread too).
- ``loso``: leave one subject out (scikit-learn's ``LeaveOneGroupOut``), the field's standard.
- ``lodo``: leave one dataset out, on a composite clip table (its ``dataset`` column): one fold
  per part, trained on all the others and tested on it (cross-database generalisation).
  Subjects are prefixed by their part, so the folds are subject-disjoint as well.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold

from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, DataError

PROTOCOLS: tuple[str, ...] = ("mskf", "subject-kfold", "loso", "lodo")
SUBJECT_DISJOINT: frozenset[str] = frozenset({"subject-kfold", "loso", "lodo"})
"""Protocols that never put one person on both sides of a fold."""


@dataclass(frozen=True)
class Fold:
    """Clip positions (into the clip table) of one fold's training and test parts."""

    index: int
    train: np.ndarray
    test: np.ndarray


def sequence_folds(
    sequences: pd.DataFrame, classes: list[str] | tuple[str, ...], protocol: str, folds: int,
    seed: int, parts: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test positions into ``sequences`` (one row per sequence) for each fold;
    ``parts``: the dataset part of each sequence (``lodo`` needs it)."""
    labels = sequences[list(classes)].to_numpy(dtype=np.int64)
    subjects = sequences["subject"].to_numpy()
    n_subjects = len(np.unique(subjects))
    if protocol == "mskf":
        if folds > len(sequences):
            raise DataError(f"mskf with {folds} folds needs at least {folds} sequences")
        splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)), labels)]
    if protocol == "subject-kfold":
        if n_subjects < folds:
            raise DataError(
                f"subject-kfold with {folds} folds needs at least {folds} subjects, "
                f"the data has {n_subjects}"
            )
        powerset = np.unique(labels, axis=0, return_inverse=True)[1].ravel()
        most = int(np.bincount(powerset).max())
        if most < folds:  # sklearn's bare ValueError, said for this data
            raise DataError(
                f"subject-kfold with {folds} folds needs at least {folds} sequences with one "
                f"same label combination; of this data's {len(sequences)} sequences, at most "
                f"{most} share one: use fewer folds (--folds), or --protocol loso")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        with warnings.catch_warnings():
            # sklearn warns when a label combination has fewer members than folds; with
            # multi-label powersets that is the normal case, and stratification degrades softly.
            warnings.simplefilter("ignore", UserWarning)
            return [(tr, te) for tr, te in splitter.split(labels, powerset, groups=subjects)]
    if protocol == "loso":
        if n_subjects < 2:
            raise DataError("leave-one-subject-out needs at least two subjects")
        return list(LeaveOneGroupOut().split(labels, groups=subjects))
    if protocol == "lodo":
        if parts is None:
            raise DataError("leave-one-dataset-out needs a composite clip table (a 'dataset' "
                            "column): extract with --dataset NAME:ROOT repeated")
        found = list(dict.fromkeys(parts.tolist()))
        if len(found) < 2:
            raise DataError(f"leave-one-dataset-out needs at least two datasets; this clip "
                            f"table holds only {found[0]!r}")
        # one fold per part, in the order the parts appear (LeaveOneGroupOut sorts them)
        return [(np.flatnonzero(parts != part), np.flatnonzero(parts == part))
                for part in found]
    raise ConfigError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")


def make_folds(clips: ClipTable, protocol: str, folds: int, seed: int) -> list[Fold]:
    """Folds over the clips of a (labelled) clip table, built on its sequences."""
    sequences = clips.sequences()
    parts = None
    if "dataset" in clips.frame.columns:
        part_of = clips.frame.groupby("sequence_id", sort=False)["dataset"].first()
        parts = part_of.loc[sequences["sequence_id"]].astype(str).to_numpy()
    splits = sequence_folds(sequences, clips.classes, protocol, folds, seed, parts)
    sequence_of_clip = clips.frame["sequence_id"].to_numpy()
    out = []
    for index, (train_seq, test_seq) in enumerate(splits):
        train_ids = set(sequences["sequence_id"].iloc[train_seq])
        test_ids = set(sequences["sequence_id"].iloc[test_seq])
        out.append(
            Fold(
                index,
                np.flatnonzero([s in train_ids for s in sequence_of_clip]),
                np.flatnonzero([s in test_ids for s in sequence_of_clip]),
            )
        )
    return out


def optimism_note(protocol: str, folds: Sequence[Mapping[str, Any]]) -> str | None:
    """A reminder, for an ``mskf`` run, that its score is optimistic for unseen people.

    ``folds`` are the run's fold records (``seed``, ``test_subjects``). A person tested in two
    folds of one seed was also trained on in each of them; the note counts those people, so
    the reader sees how much of the data is shared. ``None`` for subject-disjoint protocols,
    and for an ``mskf`` run whose folds happened to keep every person apart.
    """
    if protocol != "mskf":
        return None
    shared: set[str] = set()
    everyone: set[str] = set()
    for seed in {int(f["seed"]) for f in folds}:
        counts = Counter(str(s) for f in folds if int(f["seed"]) == seed
                         for s in f["test_subjects"])
        everyone.update(counts)
        shared.update(s for s, n in counts.items() if n > 1)
    if not shared:
        return None
    return (f"mskf splits by labels, not by people: {len(shared)} of {len(everyone)} subjects "
            "are in training and test folds at once, so this score is optimistic for people "
            "the model has not seen; --protocol subject-kfold or loso measures that")
