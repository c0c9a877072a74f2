"""Validated configuration of a model, its training and a cross-validation run.

Configuration is data: pydantic models with ``extra="forbid"``, so a misspelt key in a YAML file
is an error that names the key instead of a silently ignored setting. Defaults are those of
``configs/paper.yaml``, where each choice is justified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mefuse.errors import ConfigError
from mefuse.model.strategies import Strategy

Protocol = Literal["mskf", "subject-kfold", "loso"]
Task = Literal["multilabel", "singlelabel"]


class _Strict(BaseModel):
    # allow_inf_nan=False: an infinite learning rate or decay passes ``gt=0`` and trains NaN
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelConfig(_Strict):
    """Architecture of the fusion classifier (see :class:`mefuse.model.FusionClassifier`)."""

    frames: int = Field(18, ge=1, le=512, description="frames each clip is resampled to")
    dim: int = Field(128, ge=4, description="width of keys, values and pooled summaries")
    queries: int = Field(4, ge=1, description="learnable queries per pool")
    hidden: int = Field(128, ge=4, description="hidden width of the head")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="dropout in the head")
    feature_dropout: float = Field(
        0.1, ge=0.0, lt=1.0, description="channel dropout on input features"
    )
    position: bool = Field(False, description="learned temporal position embedding (beyond paper)")
    motion: bool = Field(False, description="each frame minus the first as input (beyond paper)")


class FusionConfig(_Strict):
    """Fusion options beyond the paper (all off = the paper's model; see
    :mod:`mefuse.model.options` for why each exists)."""

    modality_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="probability of dropping a whole stream per clip")
    aux_weight: float = Field(
        0.0, ge=0.0, description="weight of the per-modality heads' own loss (0: no such heads)")
    gate_entropy: float = Field(
        0.0, ge=0.0, description="weight of the gate-entropy penalty (a decisive gate)")
    late: bool = Field(False, description="late fusion of per-modality logits")
    aux_detach: bool = Field(
        False, description="per-modality heads learn from detached summaries (probes that "
        "do not shape the pools); needs aux_weight > 0")
    select: Literal["none", "inner"] = Field(
        "none", description="inner: choose between the fused output and each modality alone "
        "on a subject-disjoint inner split of the training data (never the test fold)")
    select_holdout: float = Field(
        0.5, gt=0.0, lt=1.0, description="share of training subjects held out for the choice")
    select_margin: float = Field(
        0.02, ge=0.0, le=1.0, description="held-out macro-F1 by which the fused output must "
        "beat the best single stream to be chosen")

    def is_paper(self) -> bool:
        """True when every option is off (the paper's model)."""
        return self == FusionConfig()


class OptimConfig(_Strict):
    """AdamW with linear warm-up and cosine decay over a fixed number of epochs."""

    epochs: int = Field(60, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.05, ge=0)
    warmup_epochs: int = Field(5, ge=0)
    grad_clip: float = Field(1.0, ge=0, description="max gradient norm; 0 disables clipping")
    gate_lr_scale: float = Field(10.0, gt=0, description="learning-rate multiplier of the gate")


class ThresholdConfig(_Strict):
    """How probabilities become 0/1 decisions (multi-label only)."""

    mode: Literal["fixed", "tuned"] = "fixed"
    value: float = Field(0.5, gt=0, lt=1, description="the threshold when mode is fixed")
    inner_fraction: float = Field(
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

    @model_validator(mode="after")
    def _strategy_fits(self) -> TrainConfig:
        if self.strategy == "single" and len(self.modalities) != 1:
            raise ValueError(
                f"strategy 'single' takes exactly one modality, got {len(self.modalities)}; "
                "use concat, sum or gated to fuse several"
            )
        from mefuse.model.options import check_fusion_options

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


class CVConfig(TrainConfig):
    """A cross-validation run: a :class:`TrainConfig` plus protocol, folds and seeds."""

    protocol: Protocol = "mskf"
    folds: int = Field(3, ge=2, description="folds for mskf and subject-kfold")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    level: Literal["sequence", "clip"] = Field(
        "sequence", description="score sequences (views merged by per-class max) or clips"
    )
    engine: Literal["batched", "loop"] = Field(
        "batched", description="train all folds and seeds as one stacked model (batched) or "
        "one at a time (loop); both give the same results"
    )
    max_stack: int = Field(
        64, ge=1, description="most fits the batched engine stacks at once (bounds its memory)"
    )

    def train_config(self) -> TrainConfig:
        """The part of this configuration that fits one model."""
        fields = set(TrainConfig.model_fields)
        return TrainConfig(**{k: v for k, v in self.model_dump().items() if k in fields})


EXECUTION_FIELDS: tuple[str, ...] = ("engine", "max_stack")
"""Settings that decide how a run is computed, not what it computes (left out of cell ids)."""


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with a clear error for a missing or malformed file. A name that
    is not a file but a preset shipped with mefuse (``paper``) reads that preset."""
    from mefuse.presets import preset_names, preset_text

    path = Path(path)
    if not path.is_file():
        if str(path) in preset_names():
            text = preset_text(str(path))
        else:
            raise ConfigError(f"configuration file {path} does not exist (presets: "
                              f"{', '.join(preset_names())}; see 'mefuse config show')")
    else:
        text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings, not {type(data).__name__}")
    return data


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
