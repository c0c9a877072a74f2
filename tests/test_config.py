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


def test_numbers_and_switches_do_not_stand_in_for_each_other():
    base = {"modalities": ["a"], "strategy": "single"}
    for bad, where in [({"optim": {"epochs": True}}, "optim.epochs"),
                       ({"model": {"dim": False}}, "model.dim"),
                       ({"optim": {"lr": True}}, "optim.lr"),
                       ({"seeds": [True]}, "seeds.0"),
                       ({"model": {"position": 1}}, "model.position"),
                       ({"fusion": {"late": "yes"}}, "fusion.late"),
                       ({"optim": {"lr": float("nan")}}, "optim.lr"),
                       ({"optim": {"weight_decay": float("inf")}}, "optim.weight_decay")]:
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            build_config(CVConfig, {**base, **bad})
    import numpy as np  # values from a parameter grid keep working

    config = build_config(CVConfig, {**base, "model": {"dim": np.int64(32),
                                                       "position": np.bool_(True)}})
    assert config.model.dim == 32 and config.model.position is True


def test_widths_seeds_and_classes_are_bounded():
    base = {"modalities": ["a"], "strategy": "single"}
    for bad, where in [({"model": {"dim": 100_000_000}}, "model.dim"),
                       ({"model": {"hidden": 5000}}, "model.hidden"),
                       ({"model": {"queries": 65}}, "model.queries"),
                       ({"seeds": [99_999_999_999]}, "seeds.0"),
                       ({"seeds": list(range(1001))}, "seeds"),
                       ({"seeds": [1, 1]}, "seeds repeat"),
                       ({"classes": []}, "names no class"),
                       ({"classes": ["a", " "]}, "blank class"),
                       ({"folds": 1001}, "folds")]:
        with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
            build_config(CVConfig, {**base, **bad})
    assert build_config(CVConfig, {**base, "model": {"dim": 4096}}).model.dim == 4096


def test_seed_lists_refuse_what_numpy_or_memory_could_not_take():
    from mefuse.utils.options import MAX_CV_SEED, parse_seeds

    assert parse_seeds(f"{MAX_CV_SEED}") == [MAX_CV_SEED]
    # every fit seed (seed * 1000 + fold) stays a 32-bit seed
    assert MAX_CV_SEED * 1000 + 999 <= 2**32 - 1
    for bad, reason in [("4294967296", "largest seed"), (f"0-{MAX_CV_SEED + 1}", "largest"),
                        ("0-100000", "more than 1000 seeds"),
                        ("0-10**30".replace("10**30", "1" + "0" * 30), "largest seed")]:
        with pytest.raises(ConfigError, match=reason):
            parse_seeds(bad)


def test_duplicate_keys_are_refused_with_their_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("modalities: [a]\noptim:\n  epochs: 3\n  lr: 0.1\n  epochs: 5\n")
    with pytest.raises(ConfigError, match=r"'epochs' appears twice \(lines 3 and 5\)"):
        load_yaml(path)
    # a YAML merge key may repeat a key on purpose: the explicit value wins, as in YAML
    path.write_text("base: &b {epochs: 3, lr: 0.1}\noptim:\n  <<: *b\n  epochs: 5\n")
    assert load_yaml(path)["optim"] == {"epochs": 5, "lr": 0.1}


def test_a_config_that_is_a_folder_or_not_utf8_is_named(tmp_path):
    with pytest.raises(ConfigError, match="is a folder, not a YAML file"):
        load_yaml(tmp_path)
    path = tmp_path / "latin1.yaml"
    path.write_bytes("modalities: [a]  # café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_yaml(path)


def test_classes_flag_refuses_empty_names():
    from mefuse.cli.shared_options import parse_classes

    assert parse_classes(None) is None
    assert parse_classes("a, b") == ["a", "b"]
    for bad in (",,", "", " ", "a,,b"):
        with pytest.raises(ConfigError, match="--classes"):
            parse_classes(bad)


def test_every_preset_and_file_serves_a_single_fit():
    """``train`` and ``submit`` drop the cross-validation settings (engine, max_stack too)."""
    from mefuse.presets import preset_names
    from mefuse.train.config import CV_ONLY_FIELDS, TrainConfig, train_settings

    assert set(CV_ONLY_FIELDS) == {"protocol", "folds", "seeds", "level", "engine", "max_stack"}
    for name in preset_names():
        for source in (name, PAPER.parent / f"{name}.yaml"):
            config = build_config(TrainConfig, train_settings(load_yaml(source)), str(source))
            assert config.modalities == ["faceverse", "radio"]


@pytest.mark.parametrize("settings", [
    {"strategy": "gated"}, {"strategy": "concat"}, {"strategy": "sum", "model": {"position": True}},
    {"strategy": "gated", "fusion": {"aux_weight": 1.0, "select": "inner"}},
    {"strategy": "gated", "fusion": {"late": True}},
    {"strategy": "single", "modalities": ["a"], "model": {"queries": 7, "hidden": 33}},
])
def test_parameter_count_matches_the_built_network(settings):
    from mefuse.train.config import TrainConfig
    from mefuse.train.memory import parameter_count
    from mefuse.train.trainer import build_network

    config = TrainConfig(**{"modalities": ["a", "b"], **settings})
    dims = [12, 30][: len(config.modalities)]
    network = build_network(config, dims, 5)
    assert parameter_count(config, dims, 5) == sum(p.numel() for p in network.parameters())


def test_memory_check_refuses_with_the_figure_and_passes_small_runs():
    from mefuse.train.config import TrainConfig
    from mefuse.train.memory import advice, check_memory, estimate_memory

    paper = TrainConfig(modalities=["faceverse", "radio"])
    small = estimate_memory(paper, [171, 1536], clips=256, num_classes=5, fits=9, stack=9)
    assert small.total < 512 * 1024**2  # the paper's run on its data: well under 0.5 GiB
    check_memory(small, "cpu", free=1024**3)
    wide = paper.model_copy(update={"model": paper.model.model_copy(
        update={"dim": 4096, "hidden": 4096})})
    large = estimate_memory(wide, [171, 1536], clips=256, num_classes=5, fits=300, stack=64,
                            batch=16)
    assert large.total > 50 * 1024**3
    with pytest.raises(ConfigError, match=r"needs about [\d,.]+ GiB .*more than the 16 GiB of "
                                          r"memory free now; lower model\.dim.*or --max-stack"):
        check_memory(large, "cpu", free=16 * 1024**3, hint=advice("--max-stack"))
    with pytest.raises(ConfigError, match="GiB of CUDA memory free now"):  # training on a GPU
        check_memory(large, "cuda", free=16 * 1024**3, where="CUDA memory")
    from mefuse.train.memory import available_memory

    free = available_memory()
    assert free is None or free > 0
