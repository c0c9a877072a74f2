"""Check a dataset before extracting: what is missing or inconsistent (``mefuse check-data``,
``mefuse.check_data``).

Extraction on a real dataset takes hours; a missing folder or a label typo found at the end
wastes them. The check runs the dataset adapter, opens every sequence's frame source (a folder
listing, or a video's header and last frame; one frame decoded to prove the files are images)
and checks each onset-offset window against the frames really there. It lives in the data layer
so that the Python API and the CLI share it; the CLI only prints the report.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mefuse.errors import MefuseError


@dataclass
class SourceCheck:
    """What opening one sequence's frame source showed."""

    sequence_id: str
    source: Path
    frames: int | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    error: str | None = None
    window: str | None = None  # a start/end that does not fit the frames

    @property
    def ok(self) -> bool:
        return self.error is None and self.window is None


@dataclass(repr=False)
class CheckReport:
    """The result of :func:`check_dataset` (and of ``mefuse.check_data``): ``ok`` when
    ``errors`` is empty, i.e. the dataset is usable; ``summary()`` gives the counts as plain
    data; ``print(report)`` a few lines a person reads (``mefuse check-data`` prints more)."""

    dataset: Any  # mefuse.data.adapters.Dataset (imported lazily)
    views: tuple[str, ...]
    clips: int = 0
    sources: list[SourceCheck] = field(default_factory=list)
    table_error: str | None = None
    views_choice: str | None = None
    """The resolved ``--views`` choice (``auto`` made concrete), when given as a choice."""
    labels_given: bool = False

    @property
    def errors(self) -> list[str]:
        out = list(self.dataset.errors)
        if not self.dataset.records:
            out.append("no usable sequence")
        if self.labels_given and self.dataset.records and not self.dataset.labelled:
            out.append("the label file labels no sequence (empty, header only, or no id "
                       "matches the frames on disk)")
        if self.table_error:
            out.append(f"clip table: {self.table_error}")
        for check in self.sources:
            if check.error:
                out.append(f"{check.sequence_id}: {check.error}")
            if check.window:
                out.append(f"{check.sequence_id}: {check.window}")
        return list(dict.fromkeys(out))

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """Counts as plain data (for tests, logs and JSON); ``parts``: per dataset part of a
        composite, its sequences, subjects and labelled sequences (empty otherwise)."""
        from mefuse.data.adapters.composite import part_counts

        data = self.dataset
        frames = [c.frames for c in self.sources if c.frames is not None]
        return {
            "dataset": data.name,
            "root": str(data.root),
            "task": data.task,
            "classes": list(data.classes),
            "sequences": len(data.records),
            "subjects": len(data.subjects),
            "labelled": len(data.labelled),
            "unlabelled": len(data.records) - len(data.labelled),
            "clips": self.clips,
            "views": list(self.views),
            "label_counts": data.label_counts(),
            "sources_ok": sum(c.ok for c in self.sources),
            "sources_failed": sum(not c.ok for c in self.sources),
            "frames_min": min(frames) if frames else None,
            "frames_median": statistics.median(frames) if frames else None,
            "frames_max": max(frames) if frames else None,
            "errors": len(self.errors),
            "notes": len(data.notes),
            "parts": part_counts(data),
        }

    def __str__(self) -> str:
        info = self.summary()
        lines = [f"{info['dataset']} at {info['root']} ({info['task']}, "
                 f"{len(info['classes'])} classes): {info['sequences']} sequences, "
                 f"{info['subjects']} subjects, {info['labelled']} labelled, "
                 f"{info['clips']} clips (views {', '.join(info['views']) or 'none'})"]
        errors = self.errors
        if errors:
            lines.append(f"{len(errors)} problem(s) to fix "
                         f"({info['sources_failed']} of {len(self.sources)} sources failed):")
            lines.extend(f"  error: {e}" for e in errors[:SHOWN_ERRORS])
            if len(errors) > SHOWN_ERRORS:
                lines.append(f"  ... and {len(errors) - SHOWN_ERRORS:,} more (report.errors)")
        else:
            lines.append("ok: every source opens")
        if self.dataset.notes:
            lines.append(f"{len(self.dataset.notes)} note(s) (report.dataset.notes)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        info = self.summary()
        state = "ok" if self.ok else f"{info['errors']} problem(s)"
        return (f"<CheckReport {info['dataset']} at {info['root']}: {info['sequences']} "
                f"sequences, {info['clips']} clips, {state}>")


SHOWN_ERRORS = 10
"""Problems that ``str(report)`` lists before it counts the rest."""



def check_source(record: Any, *, read_first: bool = True, min_frames: int = 2) -> SourceCheck:
    """Open one record's frame source, count its frames and check its window.

    Only the first frame of the window is decoded (``read_first``), to prove the files are
    images of the expected kind; nothing else is. A window shorter than ``min_frames`` is refused
    here as ``extract`` refuses it.
    """
    from mefuse.data.frames import open_frames

    check = SourceCheck(record.sequence_id, Path(record.source))
    try:
        with open_frames(record.source) as source:
            check.frames = len(source)
            start = 0 if record.start is None else int(record.start)
            end = check.frames - 1 if record.end is None else int(record.end)
            if not 0 <= start <= end < check.frames:
                check.window = (f"window {start}..{end} does not fit the {check.frames} frames "
                                f"of {record.source}")
            elif end - start + 1 < min_frames:
                check.window = (f"{end - start + 1} frame(s) in the window {start}..{end}; "
                                f"extract needs at least {min_frames} (no motion in one frame)")
            elif read_first:
                frame = source.read(start)
                check.shape, check.dtype = tuple(frame.shape), str(frame.dtype)
    except MefuseError as exc:
        check.error = str(exc)
    except Exception as exc:  # a broken codec or file system must not stop the check
        check.error = f"{type(exc).__name__}: {exc}"
    return check


def check_dataset(kind: str, root: str | Path, labels: str | Path | None,
                  views: Sequence[str], *, min_frames: int, views_choice: str | None = None,
                  options: dict[str, Any] | None = None, read_first: bool = True
                  ) -> CheckReport:
    """Validate a dataset root: adapter problems, clip table, every frame source and window.

    ``views`` are the views already chosen (``views_choice``: the ``--views`` choice they came
    from); ``min_frames``: the fewest frames extraction accepts in a window. The door that
    resolves both is :func:`mefuse.api.check_data`. Raises only for what stops the adapter
    itself (unknown kind, missing root or label sheet, missing columns); everything else is
    collected in the report.
    """
    from mefuse.data.adapters import load_dataset

    dataset = load_dataset(kind, root, labels=labels, **(options or {}))
    return check_loaded(dataset, views, min_frames=min_frames, views_choice=views_choice,
                        labels_given=labels is not None, read_first=read_first)


def check_parts(parts: Sequence[Any], views: Sequence[str], *, min_frames: int,
                composite: str | None = None, views_choice: str | None = None,
                read_first: bool = True) -> CheckReport:
    """:func:`check_dataset` for datasets named as parts
    (:class:`~mefuse.data.adapters.composite.DatasetPart`): one is read as itself, several
    (or a named ``composite``) are merged first, so the report covers the merged clip table."""
    from mefuse.data.adapters.composite import load_parts

    dataset = load_parts(parts, composite=composite)
    return check_loaded(dataset, views, min_frames=min_frames, views_choice=views_choice,
                        labels_given=any(p.labels is not None for p in parts),
                        read_first=read_first)


def check_loaded(dataset: Any, views: Sequence[str], *, min_frames: int,
                 views_choice: str | None = None, labels_given: bool = False,
                 read_first: bool = True) -> CheckReport:
    """The checks of :func:`check_dataset` on a dataset already read."""
    from mefuse.data.adapters import clip_table

    report = CheckReport(dataset=dataset, views=tuple(views), views_choice=views_choice,
                         labels_given=labels_given)
    try:
        report.clips = len(clip_table(dataset, report.views))
    except MefuseError as exc:
        report.table_error = str(exc)
    report.sources = [check_source(r, read_first=read_first, min_frames=min_frames)
                      for r in dataset.records]
    return report
