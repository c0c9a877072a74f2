"""The package's layers import downward only.

Why: a lower layer that imports a higher one ties the two together (the store cannot be used
without the training code, the data layer drags in preprocessing), and cycles follow. The order
is the one the folders show (README, "Architecture"); this test reads every module's imports
with ``ast`` (function-level ones too, since lazy imports are still dependencies) and fails on
any import of a layer above the importing module's own. Modules of one layer may import each
other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[set[str]] = [
    {"mefuse", "errors", "utils"},
    {"data", "presets"},
    {"preprocess"},
    {"store"},
    {"features"},
    {"extraction"},
    {"model"},
    {"train"},
    {"spotting"},
    {"bench", "report", "submit", "inference", "predictions", "spot_recognise"},
    {"scale"},
    {"demo"},
    {"cli", "api", "estimator"},
]
"""Bottom to top. ``mefuse`` is the package's own ``__init__`` (version, class names)."""

LAYER_OF: dict[str, int] = {part: index for index, layers in enumerate(LAYERS) for part in layers}


def _part(module: str) -> str:
    """The layer-deciding part of a dotted ``mefuse`` module name (``mefuse.x.y`` -> ``x``)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "mefuse"


def _module_name(path: Path, src: Path) -> str:
    relative = path.relative_to(src).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every ``mefuse`` module named by an import in ``tree`` (absolute or relative)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            # `from mefuse import submit` imports a module, not a name of mefuse/__init__
            if target == "mefuse":
                found.update(f"mefuse.{alias.name}" for alias in node.names
                             if alias.name in LAYER_OF)
    return {name for name in found if name == "mefuse" or name.startswith("mefuse.")}


def _modules(src: Path) -> list[Path]:
    return sorted((src / "mefuse").rglob("*.py"))


def upward_imports(src: Path = SRC) -> list[str]:
    """``importer -> imported`` for each import of a higher layer, empty when the order holds."""
    problems = []
    for path in _modules(src):
        module = _module_name(path, src)
        own = _part(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in sorted(_imported(tree, module, path.name == "__init__.py")):
            part = _part(target)
            if LAYER_OF[part] > LAYER_OF[own]:
                problems.append(f"{module} (layer {LAYER_OF[own]}) imports {target} "
                                f"(layer {LAYER_OF[part]})")
    return problems


def test_every_top_level_module_has_a_layer() -> None:
    parts = {_part(_module_name(path, SRC)) for path in _modules(SRC)}
    assert parts - set(LAYER_OF) == set(), "add new packages to LAYERS"


def test_imports_run_downward_only() -> None:
    assert upward_imports() == []


def test_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself fails on a planted backward import (a test that cannot fail is none)."""
    package = tmp_path / "mefuse"
    (package / "utils").mkdir(parents=True)
    (package / "train").mkdir()
    (package / "__init__.py").write_text("")
    (package / "utils" / "__init__.py").write_text("")
    (package / "train" / "__init__.py").write_text("")
    (package / "train" / "trainer.py").write_text("from ..utils import x\n")
    (package / "utils" / "bad.py").write_text("def f():\n    from mefuse.train import trainer\n")
    assert upward_imports(tmp_path) == ["mefuse.utils.bad (layer 0) imports mefuse.train (layer 7)"]


@pytest.mark.parametrize("module", ["mefuse.store", "mefuse.demo"])
def test_the_layers_named_in_the_readme_exist(module: str) -> None:
    __import__(module)
