"""Validated configuration of a model, its training and a cross-validation run.

Configuration is data: pydantic models with ``extra="forbid"``, so a misspelt key in a YAML file
is an error that names the key instead of a silently ignored setting. Defaults are those of
``configs/paper.yaml``, where each choice is justified.

Numbers and switches do not stand in for each other (``epochs: true`` is refused, not read as
1; ``late: 1`` is refused, not read as true), no number may be NaN or infinite, widths and
counts have upper bounds (a typo such as ``dim: 100000000`` is an error, not a process killed
for memory; :mod:`mefuse.train.memory` checks what the bounds allow against the machine), and a
YAML file that sets one key twice is refused instead of silently keeping the last value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mefuse.errors import ConfigError
from mefuse.model.strategies import Strategy
from mefuse.utils.options import MAX_CV_SEED, MAX_FOLDS, MAX_SEEDS

Protocol = Literal["mskf", "subject-kfold", "loso", "lodo"]
Task = Literal["multilabel", "singlelabel"]


def _number(value: Any) -> Any:
    """Refuse ``true``/``false`` where a number is expected (pydantic reads them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expects a number, got {str(value).lower()}")
    return value


def _switch(value: Any) -> Any:
    """Only ``true``/``false`` for a switch (pydantic would read 1, "yes" or "off")."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "b" and getattr(value, "shape", None) == ():
        return bool(value)  # numpy's bool, e.g. from a parameter grid
    if not isinstance(value, bool):
        raise ValueError(f"expects true or false, got {value!r}")
    return value


Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number), AllowInfNan(False)]
Switch = Annotated[bool, BeforeValidator(_switch)]
Seed = Annotated[int, BeforeValidator(_number), Field(ge=0, le=MAX_CV_SEED)]

MAX_WIDTH = 4096
"""Largest pool and head width: 32 times the paper's 128, far past what a few hundred clips can
fit, and small enough that one network stays within a few hundred megabytes."""
MAX_QUERIES = 64
"""Most learnable queries per pool (the paper uses 4; a clip has about 18 frames to look at)."""


class _Strict(BaseModel):
    # allow_inf_nan=False: an infinite learning rate or decay passes ``gt=0`` and trains NaN
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


_C = TypeVar("_C", bound=BaseModel)


Architecture = Literal["fusion", "ststnet", "htnet"]
"""Model choices (:data:`mefuse.model.baselines.ARCHITECTURES`): the paper's fusion network,
or a baseline of the field on the ``apeximage`` modality."""


class ModelConfig(_Strict):
    """Architecture of the fusion classifier (see :class:`mefuse.model.FusionNetwork`).

    ``architecture`` chooses the network; every other field shapes the fusion network only
    (a baseline has its published layer sizes, :mod:`mefuse.model.baselines`)."""

    architecture: Architecture = Field(
        "fusion", description="fusion (the paper's model), ststnet or htnet (baselines on the "
        "apeximage modality)")

    frames: Int = Field(18, ge=1, le=512, description="frames each clip is resampled to")
    sampling: Literal["uniform", "apex"] = Field(
        "uniform", description="which frames: uniform (the paper's) or apex (the apex at the "
        "middle position, onset first and offset last; needs each clip's apex in the store)")
    dim: Int = Field(128, ge=4, le=MAX_WIDTH,
                     description="width of keys, values and pooled summaries")
    queries: Int = Field(4, ge=1, le=MAX_QUERIES, description="learnable queries per pool")
    hidden: Int = Field(128, ge=4, le=MAX_WIDTH, description="hidden width of the head")
    dropout: Float = Field(0.3, ge=0.0, lt=1.0, description="dropout in the head")
    feature_dropout: Float = Field(
        0.1, ge=0.0, lt=1.0, description="channel dropout on input features"
    )
    position: Switch = Field(
        False, description="learned temporal position embedding (beyond paper)")
    motion: Switch = Field(
        False, description="each frame minus the first as input (beyond paper)")


class FusionConfig(_Strict):
    """Fusion options beyond the paper (all off = the paper's model; see
    :mod:`mefuse.model.fusion_checks` for why each exists).

    Every field but the ``select*`` ones is a keyword of
    :class:`~mefuse.model.fusion.FusionNetwork` of the same name, which
    :meth:`~mefuse.model.fusion.FusionNetwork.from_config` passes on unmapped; the field's
    ``description`` is also the help of its ``--fusion-...`` flag
    (:mod:`mefuse.cli.shared_options`)."""

    modality_dropout: Float = Field(
        0.0, ge=0.0, lt=1.0, description="probability of dropping a whole stream per clip")
    aux_weight: Float = Field(
        0.0, ge=0.0, description="weight of the per-modality heads' own loss (0: no such heads)")
    gate_entropy: Float = Field(
        0.0, ge=0.0, description="weight of the gate-entropy penalty (a decisive gate)")
    late: Switch = Field(False, description="late fusion of per-modality logits")
    aux_detach: Switch = Field(
        False, description="per-modality heads learn from detached summaries (probes that "
        "do not shape the pools); needs aux_weight > 0")
    select: Literal["none", "inner"] = Field(
        "none", description="inner: choose between the fused output and each modality alone "
        "on a subject-disjoint inner split of the training data (never the test fold)")
    select_holdout: Float = Field(
        0.5, gt=0.0, lt=1.0, description="share of training subjects held out for the choice")
    select_margin: Float = Field(
        0.02, ge=0.0, le=1.0, description="held-out macro-F1 by which the fused output must "
        "beat the best single stream to be chosen")
    select_confidence: Float = Field(
        0.0, ge=0.0, lt=1.0, description="share of paired bootstrap resamples of the held-out "
        "people in which the fused output must beat the best single stream to be chosen "
        "(0: the margin alone decides)")


class OptimConfig(_Strict):
    """AdamW with linear warm-up and cosine decay over a fixed number of epochs."""

    epochs: Int = Field(60, ge=1, le=100_000)
    batch_size: Int = Field(16, ge=1, le=65_536)
    lr: Float = Field(1e-3, gt=0)
    weight_decay: Float = Field(0.05, ge=0)
    warmup_epochs: Int = Field(5, ge=0, le=100_000)
    grad_clip: Float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    gate_lr_scale: Float = Field(10.0, gt=0, description="learning-rate multiplier of the gate")


class ThresholdConfig(_Strict):
    """How probabilities become 0/1 decisions (multi-label only)."""

    mode: Literal["fixed", "tuned"] = "fixed"
    value: Float = Field(0.5, gt=0, lt=1, description="the threshold when mode is fixed")
    inner_fraction: Float = Field(
        0.25, gt=0, lt=1, description="share of training sequences held out to tune thresholds"
    )


class TrainConfig(_Strict):
    """Everything needed to fit one model on features: modalities, strategy, model, optimiser."""

    modalities: list[str] = Field(min_length=1)
    strategy: Strategy = "gated"
    task: Task = "multilabel"
    classes: list[str] | None = None
    model: ModelConfig = ModelConfig()
    fusion: FusionConfig = FusionConfig()
    optim: OptimConfig = OptimConfig()
    thresholds: ThresholdConfig = ThresholdConfig()
    device: str = "cpu"

    @field_validator("modalities")
    @classmethod
    def _unique_modalities(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"modalities must be unique, got {value}")
        return value

    @field_validator("classes")
    @classmethod
    def _named_classes(cls, value: list[str] | None) -> list[str] | None:
        """An empty list, a blank name or a repeated one would silently fall back to, or
        collide in, the clip table's columns."""
        if value is None:
            return None
        if not value:
            raise ValueError("names no class; leave it out for the 4DMR five")
        if any(not name.strip() for name in value):
            raise ValueError(f"has a blank class name: {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"class names repeat: {value}")
        return value

    @model_validator(mode="after")
    def _strategy_fits(self) -> TrainConfig:
        self._baseline_fits()  # first: a baseline's own words, not the fusion checks
        if self.strategy == "single" and len(self.modalities) != 1:
            raise ValueError(
                f"strategy 'single' takes exactly one modality, got {len(self.modalities)}; "
                "use concat, sum or gated to fuse several"
            )
        from mefuse.model.fusion_checks import check_fusion_options

        fusion = self.fusion
        check_fusion_options(self.strategy, len(self.modalities),
                             modality_dropout=fusion.modality_dropout,
                             aux_weight=fusion.aux_weight, gate_entropy=fusion.gate_entropy,
                             late=fusion.late, aux_detach=fusion.aux_detach)
        if fusion.select == "inner" and self.strategy not in ("sum", "gated"):
            raise ValueError("fusion.select 'inner' compares the fused output with each "
                             "modality's own pool: it needs strategy sum or gated")
        if self.task == "singlelabel" and self.thresholds.mode == "tuned":
            raise ValueError("tuned thresholds apply to multilabel tasks only")
        return self

    def _baseline_fits(self) -> None:
        """A baseline reads one modality (the apex image) and has no fusion to configure:
        fusion options given with it would be silently unused, so they are refused."""
        architecture = self.model.architecture
        if architecture == "fusion":
            return
        if len(self.modalities) != 1:
            raise ValueError(
                f"architecture {architecture!r} reads one modality, the apex image "
                f"('apeximage'), got {len(self.modalities)}: {', '.join(self.modalities)}")
        changed = [name for name, value in self.fusion.model_dump().items()
                   if value != FusionConfig.model_fields[name].default]
        if changed:
            raise ValueError(
                f"architecture {architecture!r} has no fusion; leave out the fusion "
                f"option(s) {', '.join(changed)}")


class CVConfig(TrainConfig):
    """A cross-validation run: a :class:`TrainConfig` plus protocol, folds and seeds."""

    protocol: Protocol = "mskf"
    folds: Int = Field(3, ge=2, le=MAX_FOLDS, description="folds for mskf and subject-kfold")
    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=MAX_SEEDS)
    level: Literal["sequence", "clip"] = Field(
        "sequence", description="score sequences (views merged by per-class max) or clips"
    )
    engine: Literal["batched", "loop"] = Field(
        "batched", description="train all folds and seeds as one stacked model (batched) or "
        "one at a time (loop); both give the same results"
    )
    max_stack: Int = Field(
        64, ge=1, le=100_000,
        description="most fits the batched engine stacks at once (bounds its memory)"
    )

    def train_config(self) -> TrainConfig:
        """The part of this configuration that fits one model."""
        fields = set(TrainConfig.model_fields)
        return TrainConfig(**{k: v for k, v in self.model_dump().items() if k in fields})


    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError(f"seeds repeat: {value}")
        return value


EXECUTION_FIELDS: tuple[str, ...] = ("engine", "max_stack")
"""Settings that decide how a run is computed, not what it computes (left out of cell ids)."""
CV_ONLY_FIELDS: tuple[str, ...] = tuple(
    name for name in CVConfig.model_fields if name not in TrainConfig.model_fields)
"""Settings of a cross-validation run that fitting one model has no use for (protocol, folds,
seeds, level, engine, max_stack): ``train`` and ``submit`` drop them, so that one file (or
preset) serves every verb."""


def config_sections(model: type[BaseModel] | None = None) -> dict[str, type[BaseModel]]:
    """The nested sections of ``model`` (default :class:`CVConfig`): field name -> section
    model, read from the fields, so a new section needs no list elsewhere."""
    fields = (model or CVConfig).model_fields
    return {name: field.annotation for name, field in fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}


def derive(config: _C, **updates: Any) -> _C:
    """``config`` with ``updates``, validated again (``model_copy(update=...)`` is not).

    A section given as a mapping updates that section key by key (``fusion={"select": "none"}``
    keeps the other fusion options); a section given as a model replaces it whole. A derived
    configuration that breaks a rule (e.g. probe heads with late fusion) is refused like a
    configuration file would be.
    """
    plain = {key: value.model_dump() if isinstance(value, BaseModel) else value
             for key, value in updates.items()}
    data = config.model_dump()
    for key, value in updates.items():
        if isinstance(value, BaseModel):
            data[key] = plain.pop(key)
    return type(config).model_validate(merge(data, plain))


def train_settings(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the settings only cross-validation uses (see :data:`CV_ONLY_FIELDS`)."""
    return {key: value for key, value in data.items() if key not in CV_ONLY_FIELDS}


class DuplicateKeyError(yaml.YAMLError):
    """A YAML mapping sets ``key`` on two lines."""

    def __init__(self, key: Any, first: int, again: int) -> None:
        super().__init__(f"setting {key!r} appears twice (lines {first} and {again}); keep one")


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping which sets one key twice is an error (the
    plain loader keeps the last value silently, so an edited copy of a preset could run with
    a setting its reader never sees)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base`` may repeat keys
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base loader says so
                continue
            if first != key_node.start_mark.line + 1:
                raise DuplicateKeyError(key, first, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """A YAML mapping of settings from ``text`` (``source`` names it in errors); refuses
    malformed YAML, a repeated key, an empty document (no settings: a file cut short or saved
    blank, which would otherwise run silently with the defaults) and one that is not a mapping
    (``[]`` and ``0`` too, which ``or {}`` would have passed as "no settings")."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source} is not valid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"{source} is empty: it sets nothing (write settings in it, or leave "
                          "it out to use the defaults)")
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping of settings, not {type(data).__name__}")
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file. A name that
    is not a file but a preset shipped with mefuse (``paper``) reads that preset."""
    from mefuse.presets import preset_names, preset_text

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"configuration {path} is a folder, not a YAML file (give a file such "
                          f"as configs/paper.yaml, or a preset: {', '.join(preset_names())})")
    if not path.is_file():
        if str(path) in preset_names():
            return parse_yaml(preset_text(str(path)), f"preset {path}")
        raise ConfigError(f"configuration file {path} does not exist (presets: "
                          f"{', '.join(preset_names())}; see 'mefuse config show')")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not UTF-8 text (byte "
                          f"0x{exc.object[exc.start]:02x} at offset {exc.start}); save it as "
                          "UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {path} cannot be read: "
                          f"{exc.strerror or exc}") from None
    return parse_yaml(text, f"configuration file {path}")


def build_config(model: type[_Strict], data: dict[str, Any], source: str = "configuration"):
    """Validate ``data`` as ``model``; errors name each bad key and what was expected."""
    try:
        return model(**data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            if error["type"] == "extra_forbidden":
                lines.append(f"  {where}: unknown setting")
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                lines.append(f"  {where}: {message}" if error["loc"] else f"  {message}")
        raise ConfigError(f"invalid settings in {source}:\n" + "\n".join(lines)) from None


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``override`` wins, nested sections merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
