"""One configuration end to end (issue 20, item 1).

A fusion option is the model code, one :class:`~mefuse.train.config.FusionConfig` field and one
row of the bench variant table: the command-line flags, the scikit-learn parameters, the
network's constructor call and the bench's choices and labels are all read from those. These
tests hold every existing field to that, and add a new field and a new row (without touching
any other code) to see them reach every door.
"""

from __future__ import annotations

import inspect
import os
import subprocess

import pandas as pd
import pytest
import typer
from pydantic import Field
from typer.testing import CliRunner

from mefuse.bench import grid
from mefuse.bench.grid import Variant, build_cells, variant_label, variant_names
from mefuse.bench.groups import KeyGroups
from mefuse.bench.tables import BenchTables, markdown
from mefuse.cli import shared_options
from mefuse.cli.bench_verbs import variants_help
from mefuse.errors import ConfigError
from mefuse.estimator import FusionClassifier, FusionParams
from mefuse.model.fusion import NOT_NETWORK_FIELDS, NOT_NETWORK_MODEL_FIELDS, FusionNetwork
from mefuse.train.config import (
    CVConfig,
    FusionConfig,
    ModelConfig,
    TrainConfig,
    build_config,
    config_sections,
    derive,
)


def _help(verb: str) -> str:
    env = {**os.environ, "COLUMNS": "300", "NO_COLOR": "1", "TERM": "dumb"}
    done = subprocess.run(["mefuse", verb, "--help"], capture_output=True, text=True, env=env,
                          check=True)
    return done.stdout


def test_every_fusion_field_reaches_the_cli_scikit_learn_and_the_network():
    params = FusionClassifier().get_params(deep=True)
    keywords = inspect.signature(FusionNetwork).parameters
    helps = {verb: _help(verb) for verb in ("cv", "train", "submit")}
    for name, field in FusionConfig.model_fields.items():
        flag = f"--fusion-{name.replace('_', '-')}"
        for verb, text in helps.items():
            assert flag in text, f"{flag} missing from mefuse {verb} --help"
        assert (field.description or "").split()[0] in helps["cv"]
        assert params[f"fusion__{name}"] == field.default
        assert name in keywords or name in NOT_NETWORK_FIELDS, name
    for name in ModelConfig.model_fields:
        assert name in keywords or name == "frames" or name in NOT_NETWORK_MODEL_FIELDS


def test_from_config_builds_the_network_build_network_built():
    import torch

    config = TrainConfig(modalities=["a", "b"], fusion={"aux_weight": 1.0, "late": False},
                         model={"dim": 8, "hidden": 8, "queries": 3, "position": True})
    torch.manual_seed(3)
    built = FusionNetwork.from_config(config.model, config.fusion, [4, 6], 5,
                                         strategy=config.strategy, task=config.task)
    torch.manual_seed(3)
    direct = FusionNetwork([4, 6], 5, strategy="gated", dim=8, queries=3, hidden=8,
                              position=True, max_frames=config.model.frames, aux_weight=1.0)
    assert list(built.state_dict()) == list(direct.state_dict())
    for (name, a), b in zip(built.state_dict().items(), direct.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert built.pools[0].queries.shape == (3, 8) and built.aux_weight == 1.0


def test_a_fusion_flag_routes_by_section_and_an_unknown_section_is_an_error():
    data = shared_options.config_data(None, None, fusion__aux_weight=0.5, optim__lr=0.01,
                               strategy="sum", model__dim=None)
    assert data == {"fusion": {"aux_weight": 0.5}, "optim": {"lr": 0.01}, "strategy": "sum"}
    assert set(config_sections()) == {"model", "fusion", "optim", "thresholds"}
    with pytest.raises(ConfigError, match="no configuration section 'fuson'"):
        shared_options.config_data(None, None, fuson__late=True)


def test_derived_configurations_are_validated_again():
    config = TrainConfig(modalities=["a", "b"], fusion={"aux_weight": 1.0})
    probe = derive(config, fusion={"aux_detach": True})
    assert probe.fusion.aux_detach and probe.fusion.aux_weight == 1.0
    with pytest.raises(ValueError, match="no late fusion"):
        derive(probe, fusion={"late": True})
    assert derive(config, fusion=FusionConfig()).fusion == FusionConfig()
    cv = CVConfig(modalities=["a", "b"])
    assert isinstance(derive(cv, thresholds={"mode": "tuned"}), CVConfig)


def test_scikit_learn_reaches_every_section_and_checks_values():
    from sklearn.base import clone

    model = FusionClassifier(modalities=["a", "b"], widths=[2, 2])
    assert {"fusion__aux_weight", "model__dim", "optim__lr", "thresholds__mode"} <= set(
        model.get_params(deep=True))
    model.set_params(fusion__aux_weight=0.1, model__dim=16)
    assert model.get_params()["fusion__aux_weight"] == 0.1
    assert FusionClassifier().get_params()["fusion__aux_weight"] == 0.0  # the default is untouched
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(ValueError, match="fusion__aux_weight"):
        model.set_params(fusion__aux_weight=-1.0)
    assert model.get_params()["fusion__aux_weight"] == 0.1  # a refused value changes nothing
    config = model._config(8, "multilabel", ["x", "y"])
    assert config.fusion.aux_weight == 0.1 and config.model.dim == 16
    with pytest.raises(ConfigError, match="two or more modalities"):  # checked with the rest
        clone(model).set_params(modalities=["a"], widths=None)._config(8, "multilabel", ["x"])


def test_a_new_fusion_option_is_one_field_and_one_variant_row(monkeypatch):
    """Add a field and a row, and nothing else: flag, parameter, network and bench see them."""

    class Extended(FusionConfig):
        new_knob: float = Field(0.0, ge=0.0, description="strength of a new fusion option")

    class Network(FusionNetwork):  # the model code of the new option
        def __init__(self, *args, new_knob: float = 0.0, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.new_knob = new_knob

    # the network is built from the section, with no mapping to extend
    network = Network.from_config(ModelConfig(dim=8, hidden=8), Extended(new_knob=0.5),
                                  [4, 6], 3)
    assert network.new_knob == 0.5

    # the command line: every decorated verb gets --fusion-new-knob, with the field's help
    import mefuse.train.config as config_module

    sections = {**config_sections(), "fusion": Extended}
    monkeypatch.setattr(config_module, "config_sections", lambda model=None: sections)
    app = typer.Typer()
    seen = {}

    @app.command()
    @shared_options.section_flags("fusion")
    def verb(fusion: dict | None = None, epochs: shared_options.EpochsOpt = None) -> None:
        seen.update(shared_options.config_data(None, None, **shared_options.config_flags(locals())))

    result = CliRunner().invoke(app, ["--fusion-new-knob", "0.5", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert seen == {"fusion": {"new_knob": 0.5}, "optim": {"epochs": 2}}
    helped = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"})
    assert "--fusion-new-knob" in helped.output and "strength of a new fusion" in helped.output

    # scikit-learn: the section's parameters are the fields
    class ExtendedParams(FusionParams):
        config = Extended

    model = FusionClassifier(fusion=ExtendedParams()).set_params(fusion__new_knob=0.25)
    assert model.get_params()["fusion__new_knob"] == 0.25
    with pytest.raises(ValueError, match="fusion__new_knob"):
        model.set_params(fusion__new_knob=-1.0)

    # the bench: one row is a --variants choice, a grid column and a table label
    row = Variant("probe", "gated + probe heads",
                  {"strategy": "gated", "fusion": {"aux_weight": 1.0, "aux_detach": True}})
    monkeypatch.setattr(grid, "VARIANT_TABLE", [*grid.VARIANT_TABLE, row])
    assert "probe" in variant_names() and "probe (gated + probe heads)" in variants_help()
    cells = build_cells(KeyGroups(other=("a", "b")), variants=["gated", "probe"])
    probe = [c for c in cells if c.variant == "probe"]
    assert len(probe) == 1
    config = build_config(CVConfig, probe[0].config_data({"seeds": [0]}))
    assert config.fusion.aux_detach and config.strategy == "gated"
    assert variant_label("probe") == "gated + probe heads"
    frame = pd.DataFrame([
        {"cell_id": f"{v}__a+b", "feature_set": "a + b", "kinds": "other", "set": "pairs",
         "variant": v, "headline": 0.5, "headline_std": 0.1, "macro_f1_var": 0.01,
         "macro_f1_seed_std": 0.0, "uf1_mean": 0.5, "uar_mean": 0.5, "gate": "",
         "runtime_s": 1.0, "headline_metric": "macro_f1"} for v in ("gated", "probe")])
    tables = BenchTables(plan={"store": "s", "cells": list(frame["cell_id"])}, classes=[],
                         cells=frame, seeds=pd.DataFrame(), missing=[],
                         comparisons=pd.DataFrame())
    assert "gated + probe heads" in markdown(tables).split("## Fusion strategies")[1]
