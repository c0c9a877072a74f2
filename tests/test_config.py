"""Configuration: YAML validation with clear errors, and configs/paper.yaml = code defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from mefuse.errors import ConfigError
from mefuse.train.config import CVConfig, build_config, load_yaml

PAPER = Path(__file__).resolve().parent.parent / "configs" / "paper.yaml"


def test_paper_yaml_is_valid_and_matches_the_code_defaults():
    config = build_config(CVConfig, load_yaml(PAPER), str(PAPER))
    defaults = CVConfig(modalities=config.modalities)
    for section in ("model", "optim", "thresholds"):
        assert getattr(config, section) == getattr(defaults, section), section
    for key in ("strategy", "task", "protocol", "folds", "level", "engine", "max_stack"):
        assert getattr(config, key) == getattr(defaults, key), key
    assert config.model.frames == 18 and config.folds == 3 and config.strategy == "gated"


def test_unknown_keys_are_refused_with_their_path(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("modalities: [a]\nstrategy: single\noptim:\n  lrr: 0.1\nbogus: 1\n")
    with pytest.raises(ConfigError) as error:
        build_config(CVConfig, load_yaml(path), str(path))
    assert "optim.lrr: unknown setting" in str(error.value)
    assert "bogus: unknown setting" in str(error.value)


def test_bad_values_are_explained():
    with pytest.raises(ConfigError, match="strategy"):
        build_config(CVConfig, {"modalities": ["a"], "strategy": "mean"})
    with pytest.raises(ConfigError, match="exactly one modality"):
        build_config(CVConfig, {"modalities": ["a", "b"], "strategy": "single"})
    with pytest.raises(ConfigError, match="epochs"):
        build_config(CVConfig, {"modalities": ["a"], "optim": {"epochs": 0}})


def test_malformed_yaml(tmp_path):
    (tmp_path / "bad.yaml").write_text("modalities: [a\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")


def test_presets_ship_in_the_package_and_load_by_name():
    from mefuse.presets import preset_names, preset_text

    assert "paper" in preset_names()
    assert preset_text("paper") == PAPER.read_text(encoding="utf-8")  # configs/ links here
    assert load_yaml("paper") == load_yaml(PAPER)
    with pytest.raises(ConfigError, match="presets: .*paper"):
        load_yaml("no-such-preset")


def test_modality_names_resolve_to_store_keys():
    from mefuse.train.modalities import resolve_modalities

    keys = ["faceverse", "radio_v2.5-g", "siglip2-large", "siglip2-base"]
    names, notes = resolve_modalities(["faceverse", "radio"], keys)
    assert names == ["faceverse", "radio_v2.5-g"] and "'radio' is the store's" in notes[0]
    with pytest.raises(ConfigError, match="several extractor keys.*siglip2-base"):
        resolve_modalities(["siglip2"], keys)
    with pytest.raises(ConfigError, match="not in the store; its extractor keys: faceverse"):
        resolve_modalities(["smirk"], keys)
    with pytest.raises(ConfigError, match="not in the store"):
        resolve_modalities(["radio_v"], keys)  # a prefix must end at a separator


def test_config_show_through_the_installed_command(tmp_path):
    import subprocess

    listing = subprocess.run(["mefuse", "config", "show"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert listing.returncode == 0 and "paper" in listing.stdout.split()
    shown = subprocess.run(["mefuse", "config", "show", "paper"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert shown.returncode == 0 and shown.stdout == PAPER.read_text(encoding="utf-8")
