"""The task a store's labels describe, recorded at extraction: ``<store>/task.json``.

A CASME II or SAMM store is single-label over its own emotion classes; a 4DMR store is
multi-label over the five 4DMR classes. Only the dataset adapter knows which, at extraction;
without a record, ``cv`` assumed 4DMR (failing on a CASME II store with "unknown class column
'Negative'") and, given the classes alone, trained single-label data as multi-label. So
extraction writes ``{"task": ..., "classes": [...]}`` beside ``clips.csv`` (under the store's
lock, atomically, with every ``clips.csv`` it writes), and ``cv``, ``train``, ``bench`` and the
Python API take their defaults from it (:func:`resolve_store_task`):

- a value given explicitly (a flag, an argument of the API) that contradicts the record is
  refused, with one line naming both;
- a preset's or configuration file's value that contradicts it (the presets say
  ``task: multilabel``, for 4DMR) gives way to the record, with a note;
- a store without a record (extracted before the record existed, or a feature import) keeps
  today's defaults.

Classes contradict the record when they name a class it lacks, or, for a single-label store,
leave one out (every clip has exactly one class, so a subset leaves clips with none). A
multi-label store may be trained on a subset of its classes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mefuse import FOURDMR_CLASSES
from mefuse.errors import ConfigError, DataError
from mefuse.store.layout import TASK_RECORD
from mefuse.utils.atomic import write_json

TASKS: tuple[str, ...] = ("multilabel", "singlelabel")
DEFAULT_TASK = "multilabel"
"""The configuration's default task (:class:`~mefuse.train.config.TrainConfig`)."""


@dataclass(frozen=True)
class TaskRecord:
    """What a store's extraction recorded of its labels."""

    task: str | None
    """``multilabel``, ``singlelabel``, or ``None`` when the clip table's source did not say
    (a clip table CSV)."""
    classes: tuple[str, ...]
    path: Path

    def compatible_classes(self, classes: Sequence[str]) -> bool:
        """Whether training on ``classes`` agrees with the record (see the module doc)."""
        if not set(classes) <= set(self.classes):
            return False
        return self.task != "singlelabel" or set(classes) == set(self.classes)


def write_task_record(root: str | Path, classes: Sequence[str], task: str | None) -> None:
    """Write ``<root>/task.json`` atomically; the caller holds the store's lock (the record is
    written with ``clips.csv``, whose columns it describes)."""
    write_json(Path(root) / TASK_RECORD, {"task": task, "classes": list(classes)})


def read_task_record(root: str | Path) -> TaskRecord | None:
    """The store's record, ``None`` when it has none; :class:`DataError` naming the file when it
    is not a record."""
    path = Path(root) / TASK_RECORD
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path} cannot be read as JSON ({exc}); remove it to use the "
                        "default task and classes") from None
    classes = data.get("classes") if isinstance(data, dict) else None
    task = data.get("task") if isinstance(data, dict) else None
    if (not isinstance(classes, list) or not classes
            or not all(isinstance(c, str) for c in classes) or task not in (*TASKS, None)):
        raise DataError(f"{path} is not a task record (expected {{\"task\": \"multilabel\" or "
                        "\"singlelabel\", \"classes\": [names]}); remove it to use the default "
                        "task and classes")
    return TaskRecord(task, tuple(classes), path)


def resolve_store_task(store: str | Path, settings: dict[str, Any], *,
                       given_task: str | None = None,
                       given_classes: Sequence[str] | None = None,
                       api: bool = False) -> list[str]:
    """Fill ``settings``' ``task`` and ``classes`` from the store's record, in place.

    ``given_*``: the values given explicitly (as flags, or as arguments when ``api``); a
    contradicting one is a :class:`ConfigError`. Other values already in ``settings`` (from a
    preset or configuration file) that contradict the record are replaced by it. Returns notes
    for the user (what was replaced). A store without a record leaves ``settings`` as it is,
    and so does a record of the defaults (multi-label over the 4DMR classes), so that a 4DMR
    store's runs, and its bench cells' ids, stay what they were before stores had a record.
    """
    record = read_task_record(store)
    if record is None:
        return []
    where = f"the store's {record.path.name}"
    if given_task is not None and record.task is not None and given_task != record.task:
        given = f"task={given_task!r}" if api else f"--task {given_task}"
        raise ConfigError(f"{given} contradicts the store's task {record.task} ({where}, "
                          f"recorded at extraction); leave {'task=' if api else '--task'} out")
    if given_classes is not None and not record.compatible_classes(given_classes):
        given = (f"classes={list(given_classes)!r}" if api
                 else f"--classes {','.join(given_classes)}")
        what = ("leaves out some of" if record.task == "singlelabel"
                and set(given_classes) < set(record.classes) else "contradicts")
        raise ConfigError(f"{given} {what} the store's classes {','.join(record.classes)} "
                          f"({where}{', single-label' if record.task == 'singlelabel' else ''}"
                          f"); leave {'classes=' if api else '--classes'} out")
    notes = []
    if record.task is not None:
        if settings.get("task") not in (None, record.task):
            notes.append(f"task {record.task} from {where} replaces {settings['task']} of the "
                         "preset or configuration")
            settings["task"] = record.task
        elif record.task != DEFAULT_TASK:
            settings["task"] = record.task
    configured = settings.get("classes")
    if configured is not None and not record.compatible_classes(configured):
        notes.append(f"classes {','.join(record.classes)} from {where} replace "
                     f"{','.join(configured)} of the preset or configuration")
        settings["classes"] = list(record.classes)
    elif configured is None and record.classes != FOURDMR_CLASSES:
        settings["classes"] = list(record.classes)
    return notes


def no_record_hint(store: str | Path) -> str:
    """What to say when a store without a record does not fit the default classes."""
    return (f"{store} records no task (it was extracted before mefuse recorded one, or its "
            "features were imported): name its class columns with --classes, and add --task "
            "singlelabel when each clip has exactly one class (CASME II, SAMM)")
