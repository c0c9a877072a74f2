"""The one registry pattern: extractors, 3D encoders and dataset adapters, listed and looked up
the same way, and listed on the command line (``extract --list``, ``check-data --list``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mefuse.data.adapters import ADAPTERS, list_adapters, load_dataset
from mefuse.errors import ConfigError
from mefuse.features.base import create_extractor, list_extractors
from mefuse.utils.registry import Registry
from test_cli_errors import run_mefuse


def test_registry_adds_lists_filters_and_refuses() -> None:
    registry: Registry[int] = Registry("widget")
    registry.add("b", 2)

    @registry.register("a")
    class A:
        pass

    assert registry.names() == ["a", "b"]
    assert dict(registry) == {"a": A, "b": 2}
    assert registry.names("b*") == ["b"]
    assert "a" in registry and "c" not in registry
    registry.add("b", 2)  # the same entry again is harmless (a module imported twice)
    with pytest.raises(ValueError, match="widget 'b' is registered twice"):
        registry.add("b", 3)
    with pytest.raises(ConfigError, match="unknown widget 'c'; available: a, b"):
        registry.lookup("c")


def test_registry_imports_its_modules_and_surfaces_a_missing_mefuse_module() -> None:
    registry: Registry[int] = Registry("widget", ["mefuse.no_such_module"])
    with pytest.raises(ModuleNotFoundError):
        registry.names()
    optional: Registry[int] = Registry("widget", ["no_such_optional_dependency_xyz"])
    assert optional.names() == []  # a missing optional dependency only hides its entries


def test_the_builtin_registries() -> None:
    assert {"mesh3d", "flow", "smirk", "faceverse", "3ddfa"} <= set(list_extractors())
    assert list(list_extractors("*3d*")) == ["3ddfa", "mesh3d"]
    from mefuse.features.geometry.encoders import ENCODERS, list_encoders

    assert set(ENCODERS) == {"smirk", "faceverse", "3ddfa"} == set(list_encoders())
    assert list_adapters() == ["4dme", "4dmr", "casme2", "casme3", "folder", "mmew", "samm",
                               "smic"]
    assert ADAPTERS["casme2"].__name__ == "load_casme2"
    with pytest.raises(ConfigError, match="unknown extractor 'nope'; available: 3ddfa, "):
        create_extractor("nope")
    with pytest.raises(ConfigError, match="unknown dataset kind 'nope'; available: 4dme, "):
        load_dataset("nope", ".")


@pytest.mark.parametrize(("verb", "names"), [
    ("extract", ["mesh3d", "flow", "smirk"]),
    ("check-data", ["4dmr", "4dme", "casme2", "samm", "folder"]),
])
def test_list_on_the_command_line(verb: str, names: list[str], tmp_path: Path) -> None:
    result = run_mefuse([verb, "--list"], tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert set(names) <= set(listed)
    assert listed == sorted(listed)
    assert all(len(line.split(maxsplit=1)) == 2 for line in result.stdout.splitlines()), \
        "every entry has a one-line description"
