"""Checks and help texts shared by the verbs' options.

Options whose default comes from the configuration (``--epochs`` is ``None`` on the command line
so that a ``--config`` file can set it) would show no default in ``--help``; :func:`default_help`
adds the configuration's own default to the text, read from the pydantic models so the help can
never drift from the code. The callbacks turn a bad value into a click usage error, which the
entry point prints as one ``error:`` line with exit status 2.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args, get_origin

import typer

from mefuse.errors import ConfigError, DataError
from mefuse.utils.options import DEVICE_FORMS, MAX_SEED, check_device, parse_seeds

if TYPE_CHECKING:
    from rich.console import Console

    from mefuse.data.clips import ClipTable
    from mefuse.store import FeatureStore


def seeds_callback(value: str | None) -> str | None:
    """``--seeds`` normalised to ``0,1,2`` (``0-2`` accepted), or a usage error."""
    if value is None:
        return None
    try:
        return ",".join(str(s) for s in parse_seeds(value))
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def device_callback(value: str | None) -> str | None:
    """``--device`` checked for its form, or a usage error."""
    if value is None:
        return None
    try:
        return check_device(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


def architecture_callback(value: str | None) -> str | None:
    """``--architecture`` checked against the model choices, or a one-line usage error (the
    configuration's own check would list it under a heading, over two lines)."""
    if value is None:
        return None
    from mefuse.model.baselines import ARCHITECTURES

    if value not in ARCHITECTURES:
        raise typer.BadParameter(f"{value!r} is not a model choice; choose from "
                                 f"{', '.join(ARCHITECTURES)}")
    return value


def config_default(dotted: str) -> Any:
    """The default of a :class:`~mefuse.train.config.CVConfig` field, e.g. ``optim.epochs``."""
    from mefuse.train.config import CVConfig

    model: Any = CVConfig
    *sections, name = dotted.split(".")
    for section in sections:
        model = type(model.model_fields[section].default)
    field = model.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default
    return ",".join(map(str, value)) if isinstance(value, list) else value


def echo_listing(entries: Mapping[str, Any]) -> None:
    """``--list``: each registry entry's name and the first line of its docstring, then exit."""
    for name, entry in entries.items():
        doc = (entry.__doc__ or "").strip().splitlines()
        typer.echo(f"{name:<12} {plain_docstring(doc[0]) if doc else ''}")
    raise typer.Exit()


_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_docstring(text: str) -> str:
    """Docstring text as a user reads it on a terminal: Sphinx roles (``:data:`DIM```,
    ``:class:`~a.B```) become their name and ````literal```` its text."""
    def role(match: re.Match[str]) -> str:
        target = match.group(2).strip()
        return target.rsplit(".", 1)[-1] if match.group(1) else target

    return _LITERAL.sub(r"\1", _ROLE.sub(role, text))


def default_help(text: str, dotted: str) -> str:
    """``text`` followed by the configuration's default for ``dotted``."""
    return f"{text} (default: {config_default(dotted)})"


# Option groups shared by the verbs of several stages (cv, train, bench, ...): one definition
# each, so a flag means the same thing and shows the same help everywhere.
DATASET_HELP = ("dataset adapter: 4dmr, 4dme, casme2, samm, smic, casme3, mmew or folder (see "
                "'check-data --list') "
                "with --root; or NAME:ROOT, repeated, for a composite of several datasets")
COMPOSITE_HELP = ("a named composite whose parts the --dataset NAME:ROOT options give: megc2019 "
                  "(smic, casme2 and samm, mapped to Negative/Positive/Surprise)")
PART_LABELS_HELP = ("label sheet or CSV (default: the adapter's usual file under its root); "
                    "with several datasets NAME:PATH, repeated")


def resolve_part_views(choice: str, names: list[str]) -> str:
    """The ``--views`` choice for the datasets ``names``: ``auto`` must resolve alike for
    every part (a side-by-side dataset beside single-view ones needs an explicit choice)."""
    from mefuse.preprocess.views import resolve_views

    resolved = {resolve_views(choice, name) for name in names}
    if len(resolved) > 1:
        raise ConfigError(f"--views auto means {' for some parts and '.join(sorted(resolved))} "
                          f"for others ({', '.join(names)}); give --views explicitly")
    return resolved.pop()
StoreOpt = Annotated[Path, typer.Option("--store", "-s", help="feature store folder")]
ClipsOpt = Annotated[Path | None, typer.Option(
    "--clips", help="clip table CSV (default: <store>/clips.csv)")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML configuration; flags given on the command line override it")]
ModalityOpt = Annotated[list[str] | None, typer.Option(
    "--modality", "-m", help="extractor key in the store; repeat for several modalities")]
StrategyOpt = Annotated[str | None, typer.Option(
    help=default_help("single, concat, sum or gated (the paper's model)", "strategy"))]
TaskOpt = Annotated[str | None, typer.Option(
    help="multilabel (sigmoid) or singlelabel (softmax) (default: the task the store recorded "
    f"at extraction, else {config_default('task')})")]
ClassesOpt = Annotated[str | None, typer.Option(
    help="comma-separated class columns (default: the classes the store recorded at "
    "extraction, else the 4DMR five)")]
FramesOpt = Annotated[int | None, typer.Option(
    help=default_help("frames each clip is resampled to when loaded (the model's input "
                      "length; extract's --sample-frames decides what is stored)",
                      "model.frames"))]
SamplingOpt = Annotated[str | None, typer.Option(
    help=default_help("which frames are loaded: uniform (the paper's) or apex (each clip's "
                      "apex at the middle position, onset first, offset last; needs the apex "
                      "that extraction records in quality.csv)", "model.sampling"))]
EpochsOpt = Annotated[int | None, typer.Option(
    help=default_help("training epochs (fixed; no early stopping)", "optim.epochs"))]
LrOpt = Annotated[float | None, typer.Option(
    help=default_help("peak learning rate of AdamW", "optim.lr"))]
BatchOpt = Annotated[int | None, typer.Option(
    "--batch-size", help=default_help("clips per batch", "optim.batch_size"))]
ThresholdsOpt = Annotated[str | None, typer.Option(help=default_help(
    "fixed (0.5) or tuned (per class, on an inner split of the training data)",
    "thresholds.mode"))]
PositionOpt = Annotated[bool | None, typer.Option(
    "--position/--no-position", help=default_help(
        "learned temporal position embedding (beyond the paper)", "model.position"))]
MotionOpt = Annotated[bool | None, typer.Option(
    "--motion/--no-motion", help=default_help(
        "feed each frame minus the first (beyond the paper)", "model.motion"))]
DeviceOpt = Annotated[str | None, typer.Option(
    help=default_help(DEVICE_FORMS, "device"), callback=device_callback)]
ArchitectureOpt = Annotated[str | None, typer.Option(
    help=default_help("fusion (the paper's model), or a baseline on the apeximage modality: "
                      "ststnet or htnet (see the baselines guide)", "model.architecture"),
    callback=architecture_callback)]
ProtocolOpt = Annotated[str | None, typer.Option(
    help=default_help("mskf, subject-kfold, loso or lodo (leave one dataset out of a "
                      "composite store)", "protocol"))]
FoldsOpt = Annotated[int | None, typer.Option(
    help=default_help("folds for mskf and subject-kfold", "folds"))]
SeedsOpt = Annotated[str | None, typer.Option(
    help=default_help("seeds: 0,1,2 or a range 0-2", "seeds"), callback=seeds_callback)]
SeedOpt = Annotated[int, typer.Option(
    min=0, max=MAX_SEED, help=f"random seed of the fit (0 to {MAX_SEED})")]
LevelOpt = Annotated[str | None, typer.Option(
    help=default_help("sequence (views merged) or clip", "level"))]
AddressOpt = Annotated[str | None, typer.Option(
    help="with --executor ray: the cluster's head HOST:PORT (default: RAY_ADDRESS, or a "
    "new Ray instance on this machine)")]
PresetOpt = Annotated[str | None, typer.Option(
    help="paper (exactly the paper's model) or recommended (safe fusion); --config and flags "
    "override it")]
EngineOpt = Annotated[str | None, typer.Option(
    help=default_help("batched (all folds and seeds as one stacked model) or loop (one fit at "
                      "a time); same results", "engine"))]
MaxStackOpt = Annotated[int | None, typer.Option(
    "--max-stack", help=default_help("most fits the batched engine trains at once (lower it "
                                     "to save memory)", "max_stack"))]


CONFIG_FLAGS: dict[str, str] = {
    "modality": "modalities", "strategy": "strategy", "protocol": "protocol", "folds": "folds",
    "seeds": "seeds", "task": "task", "classes": "classes", "level": "level",
    "frames": "model.frames", "sampling": "model.sampling", "epochs": "optim.epochs",
    "lr": "optim.lr", "batch_size": "optim.batch_size", "thresholds": "thresholds.mode",
    "position": "model.position", "motion": "model.motion", "device": "device",
    "engine": "engine", "max_stack": "max_stack", "architecture": "model.architecture",
}
"""Each verb parameter that overrides a configuration setting -> the setting's dotted path.
The one table ``cv``, ``train``, ``bench`` and ``submit`` read (:func:`config_flags`): a verb
declares the parameter (typer needs it in the signature), the table says where it goes."""

_FLAG_VALUE: dict[str, Callable[[Any], Any]] = {
    "seeds": lambda value: [int(s) for s in value.split(",")],  # normalised by its callback
}


def config_flags(params: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration overrides among a verb's parameters (pass ``locals()``), as
    :func:`config_data` flags: each parameter :data:`CONFIG_FLAGS` names, under its setting's
    path (``optim.lr`` -> ``optim__lr``), and each section that :func:`section_flags` gathered
    (``fusion``). Parameters the table does not name (``--out``, ``--quiet``) are left out."""
    from mefuse.train.config import config_sections

    flags: dict[str, Any] = {}
    for name, path in CONFIG_FLAGS.items():
        if name in params:
            value = params[name]
            if value is not None and name in _FLAG_VALUE:
                value = _FLAG_VALUE[name](value)
            elif value is not None and name == "classes":
                value = parse_classes(value)
            flags[path.replace(".", "__")] = value
    for section in config_sections():
        if isinstance(params.get(section), dict):
            flags[section] = params[section]
    return flags


def given_flags(params: Mapping[str, Any]) -> list[str]:
    """The command-line spelling of each configuration override given in ``params``
    (``--batch-size``, ``--fusion-late``), in :data:`CONFIG_FLAGS` order."""
    given = [f"--{name.replace('_', '-')}" for name in CONFIG_FLAGS
             if params.get(name) not in (None, [])]
    for section in ("fusion",):
        given += [f"--{section}-{key.replace('_', '-')}"
                  for key in params.get(section) or {}]
    return given


def _flag_type(annotation: Any) -> Any:
    """The command-line type of a configuration field: ``Literal`` choices are read as text
    (pydantic checks the choice and names the allowed values)."""
    if get_origin(annotation) is Literal:
        return type(get_args(annotation)[0])
    return annotation


def section_flags(section: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a verb one ``--{section}-{field}`` option per field of a configuration section.

    The verb declares ``{section}: dict[str, Any] | None = None``; typer sees instead one
    option per field of the section's pydantic model, each with the field's description and
    default as help, and the verb receives the options that were given as ``{name: value}``.
    A field added to :class:`~mefuse.train.config.FusionConfig` is then a flag of every verb
    so decorated, with no code in the verb.
    """
    from mefuse.train.config import config_sections

    model = config_sections()[section]

    def decorate(verb: Callable[..., Any]) -> Callable[..., Any]:
        generated = []
        for name, field in model.model_fields.items():
            flag = f"--{section}-{name.replace('_', '-')}"
            kind = _flag_type(field.annotation)
            decls = [f"{flag}/--no-{section}-{name.replace('_', '-')}"] if kind is bool else [flag]
            help_text = f"{field.description or name} (default: {field.default})"
            generated.append(inspect.Parameter(
                f"{section}__{name}", inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=Annotated[kind | None, typer.Option(*decls, help=help_text)]))

        signature = inspect.signature(verb, eval_str=True)
        params = []
        for param in signature.parameters.values():
            if param.name == section:
                params += generated
            else:
                params.append(param.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        prefix = f"{section}__"

        @functools.wraps(verb)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {key.removeprefix(prefix): kwargs.pop(key) for key in list(kwargs)
                     if key.startswith(prefix)}
            kwargs[section] = {key: value for key, value in given.items() if value is not None}
            return verb(*args, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def config_data(config: Path | None, preset: str | None = None, **flags: Any
                ) -> dict[str, Any]:
    """Preset, then YAML settings, then the flags that were given (``None`` means not given)."""
    from mefuse.train.config import load_yaml, merge
    from mefuse.train.presets import load_preset

    data = load_preset(preset) if preset else {}
    if preset:  # a preset names the paper's modalities; the store's come from -m or --config
        data.pop("modalities", None)
    data = merge(data, load_yaml(config)) if config else data
    return merge(data, nest_flags(flags))


def nest_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Flags as configuration data: ``section__name`` goes into ``section`` (any section of
    :class:`~mefuse.train.config.CVConfig`: model, fusion, optim, thresholds), a plain name to
    the top level; ``None`` or ``[]`` (not given) is left out."""
    from mefuse.train.config import config_sections

    sections = config_sections()
    data: dict[str, Any] = {}
    for key, value in flags.items():
        if value is None or value == []:
            continue
        section, _, name = key.rpartition("__")
        if not section:
            data[key] = value
        elif section in sections:
            data.setdefault(section, {})[name] = value
        else:
            raise ConfigError(f"flag {key!r} names no configuration section {section!r}; "
                              f"sections: {', '.join(sections)}")
    return data


def resolve_store_modalities(store: FeatureStore, data: dict[str, Any], console: Console
                             ) -> None:
    """Map the configuration's modality names to the store's extractor keys (in place)."""
    if "modalities" not in data:
        raise DataError("name at least one modality: --modality KEY (or 'modalities' in --config)")
    if not store.root.is_dir():
        return  # loading says that the store is missing
    names = data["modalities"] if isinstance(data["modalities"], list) else [data["modalities"]]
    data["modalities"], notes = store.resolve(names)
    for note in notes:
        console.print(f"[dim]note: {note}[/dim]")


def single_label_hint(store: Path, table: ClipTable, task: str) -> None:
    """A note when a store without a task record is trained multi-label on clips that each
    have exactly one class: single-label data (CASME II, SAMM) trained as multi-label runs
    without complaint, so say how to tell mefuse."""
    from rich.console import Console

    from mefuse.store.task import read_task_record

    labels = table.frame.loc[table.labelled, list(table.classes)].to_numpy()
    if (task == "multilabel" and len(labels) and (labels.sum(axis=1) == 1).all()
            and read_task_record(store) is None):
        Console().print("[dim]note: every labelled clip has exactly one class and the store "
                        "records no task; if the classes exclude each other (CASME II, SAMM), "
                        "add --task singlelabel[/dim]")


def store_task_defaults(store: Path, data: dict[str, Any], task: str | None,
                        classes: list[str] | None) -> None:
    """The store's recorded task and classes as defaults of ``data`` (in place); a flag that
    contradicts them is an error (:func:`mefuse.store.task.resolve_store_task`)."""
    from mefuse.store.task import resolve_store_task
    from mefuse.utils.console import make_console

    for note in resolve_store_task(store, data, given_task=task, given_classes=classes):
        make_console().print(f"[dim]note: {note}[/dim]")


def parse_classes(value: str | None) -> list[str] | None:
    """``--classes a,b,c`` as a list; ``None`` (the configuration decides) when not given.
    A value that names no class (``--classes ,,``) or has an empty item is refused: falling
    back to the default classes would score other columns than the user asked for."""
    if value is None:
        return None
    names = [c.strip() for c in value.split(",")]
    if not any(names):
        raise ConfigError(f"--classes {value!r} names no class; give comma-separated class "
                          "columns, e.g. --classes Negative,Positive")
    if not all(names):
        raise ConfigError(f"--classes {value!r} has an empty item; give comma-separated class "
                          "columns without empty ones")
    return names


def train_config_data(config: Path | None, preset: str | None = None, **flags: Any
                      ) -> dict[str, Any]:
    """:func:`config_data` for fitting one model (``train``, ``submit --train-store``): the
    cross-validation settings of the preset or file (protocol, folds, seeds, level, engine,
    max_stack) are dropped, so every preset and every cv configuration file serves here too."""
    from mefuse.train.config import train_settings

    return train_settings(config_data(config, preset, **flags))
