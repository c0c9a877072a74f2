"""Several datasets read as one: the composite behind ``--dataset NAME:ROOT`` (repeated) and
``--composite megc2019``.

Each part is read by its own adapter; the merged :class:`~mefuse.data.adapters.Dataset` keeps
every record with its subject and sequence id prefixed ``<part>_`` (two datasets may both have a
subject ``01``; prefixed, they stay two people, so subject-disjoint protocols stay honest) and
the part's name in the record's ``dataset`` extra, which :func:`~mefuse.data.adapters.clip_table`
writes as the clip table's ``dataset`` column. Cross-validation reads that column to score each
part on its own (``summary.by_dataset``) and to leave one dataset out (``--protocol lodo``).

The parts must agree on the class set and the task: a model has one output per class, and
merging a five-class sheet into a three-class one silently would score nonsense. A named
composite (:data:`COMPOSITES`, e.g. ``megc2019``) also fixes which parts it needs and the
adapter setting that maps each part's own emotions to the composite's classes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mefuse.data.adapters.base import NOTE, Dataset, SequenceRecord, list_adapters
from mefuse.errors import ConfigError

DATASET_COLUMN = "dataset"
"""Clip-table column naming the part of each clip (shared with :mod:`mefuse.train.cv`)."""


@dataclass(frozen=True)
class DatasetPart:
    """One dataset of a composite: its adapter's name (also the id prefix), its root, its
    label sheet (``None``: the adapter's usual one) and its adapter settings."""

    name: str
    root: Path
    labels: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CompositeSpec:
    """A named composite: the parts it needs, the setting each part's adapter is given (when
    the adapter has it) and the classes every part must end up with."""

    name: str
    parts: tuple[str, ...]
    options: Mapping[str, Any]
    classes: tuple[str, ...]
    description: str


COMPOSITES: dict[str, CompositeSpec] = {
    "megc2019": CompositeSpec(
        "megc2019", ("smic", "casme2", "samm"), {"composite": True},
        ("Negative", "Positive", "Surprise"),
        "MEGC 2019 cross-database composite: SMIC-HS + CASME II + SAMM, three classes "
        "(Negative, Positive, Surprise), 442 clips of 68 subjects"),
}
"""Named composites (``--composite NAME``)."""


def composite_spec(name: str) -> CompositeSpec:
    """The named composite, or a :class:`ConfigError` naming the known ones."""
    try:
        return COMPOSITES[name.lower()]
    except KeyError:
        raise ConfigError(f"unknown composite {name!r}; choose from "
                          f"{', '.join(COMPOSITES)}") from None


def apply_composite(name: str, parts: Sequence[DatasetPart]) -> list[DatasetPart]:
    """``parts`` checked against the named composite (exactly its parts, each once) and given
    its adapter setting where the part's adapter has it; in the composite's order."""
    from mefuse.data.adapters import adapter_options

    spec = composite_spec(name)
    given = [p.name for p in parts]
    missing = [p for p in spec.parts if p not in given]
    extra = [p for p in given if p not in spec.parts]
    if missing or extra:
        said = "; ".join(filter(None, [
            f"missing {', '.join(missing)}" if missing else "",
            f"not part of it: {', '.join(extra)}" if extra else ""]))
        raise ConfigError(
            f"--composite {spec.name} needs exactly the parts {', '.join(spec.parts)} "
            f"({said}); give each as --dataset NAME:ROOT, e.g. --dataset {spec.parts[0]}:"
            f"/data/{spec.parts[0].upper()}")
    by_name = {p.name: p for p in parts}
    out = []
    for name_ in spec.parts:
        part = by_name[name_]
        known = adapter_options(part.name) if part.name in list_adapters() else {}
        options = dict(part.options)
        for key, value in spec.options.items():
            if key not in known:
                continue  # an adapter without the setting must give the classes itself
            if key in options and options[key] != value:
                raise ConfigError(
                    f"--composite {spec.name} sets {part.name}.{key}={value}; "
                    f"--dataset-option {part.name}.{key}={options[key]} contradicts it")
            options[key] = value
        out.append(replace(part, options=options))
    return out


def load_composite(parts: Sequence[DatasetPart], *, composite: str | None = None) -> Dataset:
    """Read every part with its adapter and merge them into one :class:`Dataset`.

    Subject and sequence ids become ``<part>_<id>``; each record's ``dataset`` extra names its
    part; problems are prefixed with the part's name. Refuses (``ConfigError``) fewer than two
    parts, a part given twice, and parts whose classes or task differ; with ``composite``
    (a name in :data:`COMPOSITES`) the parts must be exactly the composite's.
    """
    from mefuse.data.adapters import load_dataset

    names = [p.name for p in parts]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"dataset {twice[0]!r} is given twice; each part of a composite "
                          "once (its name prefixes the ids)")
    if composite is not None:
        parts = apply_composite(composite, parts)
    if len(parts) < 2:
        raise ConfigError("a composite needs at least two datasets (--dataset NAME:ROOT, "
                          "repeated)")
    loaded = [load_dataset(p.name, p.root, labels=p.labels, **dict(p.options)) for p in parts]
    first = loaded[0]
    for part, data in zip(parts[1:], loaded[1:], strict=True):
        if set(data.classes) != set(first.classes):
            hint = (f"; --composite {composite} maps each part to "
                    f"{', '.join(composite_spec(composite).classes)}" if composite else
                    "; map them to the same classes (e.g. --dataset-option "
                    f"{part.name}.classes=... or --composite megc2019)")
            raise ConfigError(
                f"the parts disagree on classes: {parts[0].name} has "
                f"{', '.join(first.classes)}, {part.name} has {', '.join(data.classes)}{hint}")
        if data.task != first.task:
            raise ConfigError(f"the parts disagree on the task: {parts[0].name} is "
                              f"{first.task}, {part.name} is {data.task}")
    if composite is not None:
        wanted = composite_spec(composite).classes
        if set(first.classes) != set(wanted):
            raise ConfigError(f"--composite {composite} needs the classes "
                              f"{', '.join(wanted)}; the parts give {', '.join(first.classes)}")
    records: list[SequenceRecord] = []
    problems: list[str] = []
    for part, data in zip(parts, loaded, strict=True):
        for record in data.records:
            records.append(replace(
                record, sequence_id=f"{part.name}_{record.sequence_id}",
                subject=f"{part.name}_{record.subject}",
                extra={DATASET_COLUMN: part.name, **record.extra}))
        for problem in data.problems:
            if problem.startswith(NOTE):
                problems.append(f"{NOTE}{part.name}: {problem[len(NOTE):]}")
            else:
                problems.append(f"{part.name}: {problem}")
    roots = [str(Path(p.root).resolve()) for p in parts]
    try:
        root = Path(os.path.commonpath(roots))
    except ValueError:  # different drives
        root = Path(roots[0])
    name = composite.lower() if composite else "+".join(p.name for p in parts)
    return Dataset(name, root, first.classes, first.task, records, problems)


def part_counts(dataset: Dataset) -> dict[str, dict[str, int]]:
    """Sequences, subjects and labelled sequences of each part of a merged dataset (empty for
    a plain one), in the parts' order."""
    out: dict[str, dict[str, int]] = {}
    subjects: dict[str, set[str]] = {}
    for record in dataset.records:
        part = record.extra.get(DATASET_COLUMN)
        if part is None:
            return {}
        counts = out.setdefault(str(part), {"sequences": 0, "subjects": 0, "labelled": 0})
        counts["sequences"] += 1
        counts["labelled"] += record.labels is not None
        subjects.setdefault(str(part), set()).add(record.subject)
    for part, people in subjects.items():
        out[part]["subjects"] = len(people)
    return out


def parse_part(text: str) -> tuple[str, Path] | None:
    """``NAME:ROOT`` as (name, root); ``None`` for a bare adapter name (no colon, or a colon
    that only a drive letter explains, e.g. ``C:\\data`` is not ``NAME:ROOT``)."""
    name, sep, root = text.partition(":")
    if not sep or len(name) <= 1:
        return None
    if not name or not root:
        raise ConfigError(f"--dataset {text!r}: give NAME:ROOT, e.g. casme2:/data/CASME2")
    return name.strip().lower(), Path(root)


def part_settings(items: Sequence[str] | None, parts: Sequence[str], what: str,
                  *, allow_bare: bool) -> dict[str, list[str]]:
    """Per-part values of a repeatable option: ``NAME:VALUE`` (``--labels``) or ``NAME.VALUE``
    (``--dataset-option casme2.frames=Cropped``) sorted by part. A bare value is allowed only
    when ``allow_bare`` (a single dataset) and goes to the only part."""
    sep = ":" if what == "--labels" else "."
    out: dict[str, list[str]] = {p: [] for p in parts}
    for item in items or []:
        head, found, rest = item.partition(sep)
        key = head.strip().lower()
        if what != "--labels" and "=" in head:  # KEY=VALUE whose value has a dot
            found = ""
        if found and key in out and rest:
            out[key].append(rest)
        elif allow_bare and len(parts) == 1:
            out[parts[0]].append(item)
        else:
            form = "NAME:PATH" if what == "--labels" else "NAME.KEY=VALUE"
            raise ConfigError(
                f"{what} {item!r}: with several datasets give {form}, NAME one of "
                f"{', '.join(parts)}")
    return out


def dataset_parts(datasets: Sequence[str], root: str | Path | None = None,
                  labels: Sequence[str] | None = None, options: Sequence[str] | None = None
                  ) -> list[DatasetPart]:
    """The parts named by the command line: ``--dataset NAME --root ROOT`` (one dataset, as
    always) or ``--dataset NAME:ROOT`` repeated; ``--labels`` as ``PATH`` (one dataset) or
    ``NAME:PATH``; ``--dataset-option`` as ``KEY=VALUE`` (one dataset) or
    ``NAME.KEY=VALUE``. Every form that cannot be read one way is refused, naming the form."""
    from mefuse.utils.options import parse_key_values

    if not datasets:
        raise ConfigError("name the data: --dataset KIND --root FOLDER, or --dataset "
                          "KIND:FOLDER (repeat for a composite)")
    parsed = [parse_part(text) for text in datasets]
    if all(p is None for p in parsed):
        if len(datasets) > 1:
            raise ConfigError("several datasets need a root each: --dataset NAME:ROOT, "
                              f"e.g. --dataset {datasets[0]}:/data/{datasets[0]}")
        if root is None:
            raise ConfigError(f"--dataset {datasets[0]} needs --root FOLDER (or write "
                              f"--dataset {datasets[0]}:FOLDER)")
        pairs = [(datasets[0].strip().lower(), Path(root))]
    elif any(p is None for p in parsed):
        bare = datasets[parsed.index(None)]
        raise ConfigError(f"--dataset {bare!r} has no root; with several datasets give each "
                          "as NAME:ROOT")
    else:
        if root is not None:
            raise ConfigError("--root goes with one --dataset NAME; --dataset NAME:ROOT "
                              "already names the root")
        pairs = [p for p in parsed if p is not None]
    names = [name for name, _ in pairs]
    single = len(pairs) == 1
    sheets = part_settings(labels, names, "--labels", allow_bare=single)
    settings = part_settings(options, names, "--dataset-option", allow_bare=single)
    parts = []
    for name, folder in pairs:
        if len(sheets[name]) > 1:
            raise ConfigError(f"--labels names {len(sheets[name])} sheets for {name}; "
                              "give one")
        sheet = Path(sheets[name][0]) if sheets[name] else None
        parts.append(DatasetPart(name, folder, sheet,
                                 parse_key_values(settings[name], "--dataset-option")))
    return parts


def load_parts(parts: Sequence[DatasetPart], *, composite: str | None = None) -> Dataset:
    """One part as its adapter reads it (ids unchanged), several (or a named composite)
    merged by :func:`load_composite`."""
    from mefuse.data.adapters import load_dataset

    if len(parts) == 1 and composite is None:
        part = parts[0]
        return load_dataset(part.name, part.root, labels=part.labels, **dict(part.options))
    return load_composite(parts, composite=composite)
