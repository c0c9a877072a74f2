"""The 4DMR challenge submission: write it from a model and a test store, and validate it.

Format (from the 4DMR authors' public inference code, LeCongThuong/kaggle-4dme-challenge): a CSV
with the header ``Id,Negative,Positive,Repression,Surprise,Others``, one row per test sequence,
0/1 values in ASCII, rows sorted by ``Id``.

``Id`` is an integer taken from the sequence folder's name. mefuse takes the **last** integer
(:func:`sequence_number`), as its 4DMR adapter does; the authors' code took the *first*. The two
rules agree on the challenge's own folder names, which are a bare integer (``12``); they differ
only for names holding several integers, where the last one is the sequence's number and the
first is usually part of a prefix (``4DMR_12``: last 12, first 4). The choice is deliberate and
tested; rename folders whose number is not their last integer.

How decisions are made, and why:

- per-class thresholds come from the model, and must have been tuned on training data only
  (a model trained with ``thresholds.mode: tuned``, which holds out part of the training
  sequences to pick them); a fixed-threshold model is refused unless the user says otherwise,
  because 0.5 is a poor operating point for rare classes;
- each view (clip) of a sequence is thresholded, and the views are merged by a per-class OR,
  as the authors' submission did;
- the optional rule "Negative implies not Positive" (off by default) clears Positive wherever
  Negative is set, after the merge.

The file is validated before it is put in place and again on disk; a malformed file is never left
behind.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from mefuse import FOURDMR_CLASSES
from mefuse.data.clips import ClipTable
from mefuse.errors import ConfigError, DataError
from mefuse.store import FeatureStore
from mefuse.utils.atomic import write_text
from mefuse.utils.paths import existing_file

SUBMISSION_COLUMNS: tuple[str, ...] = ("Id", *FOURDMR_CLASSES)
_INTEGER = re.compile(r"[0-9]+")
"""ASCII digits only: ``\\d`` would accept other scripts' digits (``١``), which the challenge's
scorer does not read as numbers."""
_CANONICAL_ID = re.compile(r"0|[1-9][0-9]*")
"""An Id as the scorer writes it back: no leading zero (``012`` and ``12`` compare unequal as
text, equal as numbers; the validator accepts only the form on which both agree)."""
_MAX_ID = 2**63 - 1
"""The largest Id a 64-bit integer column holds (pandas reads a longer one as text or float)."""
_MAX_PROBLEMS = 20


def sequence_number(sequence_id: str) -> int:
    """The submission Id of a sequence: the last integer in its id (``seq_012`` -> 12,
    ``4DMR_12`` -> 12); see the module docstring for why the last and not the first."""
    numbers = _INTEGER.findall(str(sequence_id))
    if not numbers:
        raise DataError(f"sequence {sequence_id!r} has no integer in its id, so it has no "
                        "submission Id (4DMR sequence folders are named by an integer)")
    return int(numbers[-1])


def expected_ids(clips: ClipTable) -> set[int]:
    """The Ids a submission for these clips must hold: one per sequence."""
    return {sequence_number(s) for s in clips.frame["sequence_id"].unique()}


def select_clips(clips: ClipTable, split: str) -> ClipTable:
    """The test clips: rows whose ``split`` column equals ``split`` (all rows for ``all``, or when
    the table has no ``split`` column)."""
    if split == "all" or "split" not in clips.frame.columns:
        return clips
    chosen = clips.subset((clips.frame["split"].astype(str) == split).to_numpy())
    if len(chosen) == 0:
        values = sorted(clips.frame["split"].astype(str).unique())
        raise DataError(f"no clip has split {split!r} (the table's splits: {', '.join(values)}); "
                        "use --split all to score every clip")
    return chosen


def submission_frame(sequences: pd.DataFrame, *, negative_excludes_positive: bool = False
                     ) -> pd.DataFrame:
    """Submission rows from per-sequence 0/1 decisions (views already merged by OR).

    ``sequences`` has a ``sequence_id`` column and one 0/1 column per 4DMR class (as
    :func:`mefuse.train.fit.predict_store` returns them).
    """
    missing = [c for c in FOURDMR_CLASSES if c not in sequences.columns]
    if missing:
        raise DataError(f"the model does not predict the 4DMR class(es) {', '.join(missing)}; "
                        f"a submission needs {', '.join(FOURDMR_CLASSES)}")
    frame = pd.DataFrame({"Id": [sequence_number(s) for s in sequences["sequence_id"]]})
    duplicated = frame["Id"].duplicated(keep=False)
    if duplicated.any():
        clash = sequences["sequence_id"][duplicated.to_numpy()].tolist()
        raise DataError(f"sequences {', '.join(map(str, clash[:4]))} share the submission Id "
                        f"{int(frame['Id'][duplicated].iloc[0])}")
    for name in FOURDMR_CLASSES:
        values = sequences[name].to_numpy()
        if not np.isin(values, (0, 1)).all():
            raise DataError(f"decisions for {name!r} are not all 0 or 1")
        frame[name] = values.astype(np.int64)
    if negative_excludes_positive:
        frame.loc[frame["Negative"] == 1, "Positive"] = 0
    return frame.sort_values("Id", kind="stable").reset_index(drop=True)


def render(frame: pd.DataFrame) -> str:
    """The CSV text of a submission frame (exact columns, integers, ``\\n`` line ends)."""
    buffer = io.StringIO()
    frame[list(SUBMISSION_COLUMNS)].to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def submission_problems(text: str, expected: Iterable[int] | None = None) -> list[str]:
    """Everything wrong with a submission's text (empty when it is valid).

    Checks: exact header and column order, one Id per row (a non-negative integer with no
    leading zero that fits 64 bits), values exactly ``0`` or ``1``, no missing cell, no quoted
    cell, no duplicate Id, rows sorted by Id, at least one row, at most one blank line at the
    end, and, when ``expected`` is given, exactly those Ids: what the challenge's scorer could
    read otherwise than mefuse does is refused.
    """
    problems: list[str] = []
    if text.startswith("\ufeff"):
        problems.append("the file starts with a byte-order mark; save it as plain UTF-8")
        text = text[1:]
    quoted = next((n for n, line in enumerate(text.splitlines(), start=1) if '"' in line), None)
    if quoted is not None:
        problems.append(f"line {quoted} holds a quote character (\"); write cells unquoted "
                        "(the scorer may not read a quoted cell as the number it holds)")
    rows = list(csv.reader(io.StringIO(text)))
    blank_tail = 0
    while rows and not rows[-1]:
        rows.pop()
        blank_tail += 1
    if not rows:
        return [*problems, "the file is empty"]
    if blank_tail > 1:  # an extra final newline is common and harmless; several are not
        problems.append(f"the file ends with {blank_tail} blank lines; end it with a single "
                        "newline after the last row")
    header = [h.strip() for h in rows[0]]
    want = list(SUBMISSION_COLUMNS)
    if rows[0] != want:
        if header == want:
            problems.append(f"the header has spaces around column names: {','.join(rows[0])!r} "
                            f"(expected {','.join(want)} with no spaces)")
        elif sorted(header) == sorted(want):
            problems.append(f"columns are in the wrong order: {','.join(rows[0])} (expected "
                            f"{','.join(want)})")
        else:
            lacking = [c for c in want if c not in header]
            extra = [c for c in header if c not in want]
            detail = "; ".join(filter(None, [
                f"missing {', '.join(lacking)}" if lacking else "",
                f"unexpected {', '.join(map(repr, extra))}" if extra else "",
                "names differ by spaces or case" if not lacking and not extra else ""]))
            problems.append(f"wrong header {','.join(rows[0])!r}: {detail} (expected "
                            f"{','.join(want)})")
        return problems  # cells cannot be checked against an unknown layout
    ids: list[int] = []
    body = rows[1:]
    if not body:
        problems.append("the file has a header but no row")
    for line, row in enumerate(body, start=2):
        if not row:
            problems.append(f"line {line} is blank")
            continue
        if len(row) != len(want):
            problems.append(f"line {line}: {len(row)} cells, expected {len(want)}")
            continue
        if not _INTEGER.fullmatch(row[0]):
            problems.append(f"line {line}: Id {row[0]!r} is not a non-negative integer written "
                            "with ASCII digits 0-9")
        elif not _CANONICAL_ID.fullmatch(row[0]):
            problems.append(f"line {line}: Id {row[0]!r} has a leading zero; write it as "
                            f"{int(row[0])} (the scorer may compare Ids as text)")
        elif int(row[0]) > _MAX_ID:
            problems.append(f"line {line}: Id {row[0]} is beyond the 64-bit integers the scorer "
                            f"reads Ids as (at most {_MAX_ID})")
        else:
            ids.append(int(row[0]))
        for name, value in zip(want[1:], row[1:], strict=True):
            if value not in ("0", "1"):
                shown = "an empty cell" if value == "" else repr(value)
                problems.append(f"line {line}: {name} is {shown}, expected 0 or 1")
    duplicates = sorted(i for i, count in Counter(ids).items() if count > 1)
    if duplicates:
        problems.append(f"duplicate Id(s): {', '.join(map(str, duplicates[:10]))}")
    if ids != sorted(ids):
        first = next(i for i in range(1, len(ids)) if ids[i] < ids[i - 1])
        problems.append(f"rows are not sorted by Id (Id {ids[first]} comes after "
                        f"{ids[first - 1]})")
    if expected is not None:
        wanted = set(expected)
        absent = sorted(wanted - set(ids))
        unknown = sorted(set(ids) - wanted)
        if absent:
            problems.append(f"{len(absent)} expected Id(s) missing: "
                            f"{', '.join(map(str, absent[:10]))}")
        if unknown:
            problems.append(f"{len(unknown)} Id(s) not among the test sequences: "
                            f"{', '.join(map(str, unknown[:10]))}")
    if len(problems) > _MAX_PROBLEMS:
        problems = [*problems[:_MAX_PROBLEMS], f"... and {len(problems) - _MAX_PROBLEMS} more"]
    return problems


def validate_submission(path: str | Path, expected: Iterable[int] | None = None) -> int:
    """Check a submission file; return its number of rows or raise :class:`DataError`."""
    path = existing_file(path, "submission file", kind="CSV file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}") from exc
    problems = submission_problems(text, expected)
    if problems:
        raise DataError(f"{path} is not a valid 4DMR submission:\n  " + "\n  ".join(problems))
    return len(text.strip().splitlines()) - 1


def write_submission(frame: pd.DataFrame, path: str | Path,
                     expected: Iterable[int] | None = None) -> Path:
    """Validate the submission text, write it atomically, and check the file on disk."""
    path = Path(path)
    expected = None if expected is None else set(expected)
    text = render(frame)
    problems = submission_problems(text, expected)
    if problems:
        raise DataError("refusing to write an invalid submission:\n  " + "\n  ".join(problems))
    write_text(path, text)
    validate_submission(path, expected)
    return path


def require_tuned(estimator, allow_fixed: bool) -> None:
    """Refuse a model whose thresholds were not tuned on its training data."""
    mode = estimator.config.thresholds.mode
    if estimator.config.task != "multilabel":
        raise ConfigError("a 4DMR submission is multi-label; the model was trained with task "
                          f"{estimator.config.task!r}")
    if mode != "tuned" and not allow_fixed:
        raise ConfigError(
            f"the model uses fixed thresholds ({estimator.config.thresholds.value}); a "
            "submission should use per-class thresholds tuned on the training data. Train with "
            "'--thresholds tuned' (or use --train-store, which does), or pass "
            "--allow-fixed-thresholds to submit anyway")


def predict_submission(model, store: FeatureStore | str | Path, clips: ClipTable, *,
                       negative_excludes_positive: bool = False, allow_fixed: bool = False
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Submission rows and per-sequence probabilities for the clips of a test store.

    ``model`` is a :class:`~mefuse.train.trainer.TrainedModel` or a model file.
    """
    from mefuse.train.fit import predict_store
    from mefuse.train.trainer import TrainedModel

    estimator = model if isinstance(model, TrainedModel) else TrainedModel.load(model)
    require_tuned(estimator, allow_fixed)
    table = ClipTable.for_prediction(clips.frame, estimator.classes, source="test clips")
    _, sequences = predict_store(estimator, store, table)
    frame = submission_frame(sequences, negative_excludes_positive=negative_excludes_positive)
    sequences = sequences.copy()
    sequences.insert(1, "Id", [sequence_number(s) for s in sequences["sequence_id"]])
    return frame, sequences.sort_values("Id", kind="stable").reset_index(drop=True)


def train_for_submission(store: FeatureStore | str | Path, clips: ClipTable, config, seed: int = 0):
    """Fit on every labelled clip with per-class thresholds tuned on an inner training split."""
    from mefuse.train.config import derive
    from mefuse.train.fit import fit_on_store

    if config.task != "multilabel":
        raise ConfigError("a 4DMR submission is multi-label; set task: multilabel")
    tuned = derive(config, thresholds={"mode": "tuned"})
    return fit_on_store(store, clips, tuned, seed=seed)
