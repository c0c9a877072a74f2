"""tools/rename_classes.py: the class renames of issue 20, re-runnable after merging branches.

This file names the old classes on purpose (rename-classes: skip-file).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("rename_classes",
                                                  ROOT / "tools" / "rename_classes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_TREE = {
    "src/mefuse/estimator.py": ('class FusionModel(ClassifierMixin):\n'
                                '    """Wraps FusionEstimator."""\n'),
    "src/mefuse/model/fusion.py": "class FusionClassifier(nn.Module):\n    pass\n",
    "src/mefuse/cli/options.py": "X = 1\n",
    "src/mefuse/cli/main.py": ("from mefuse.cli.options import X\n"
                               "from mefuse.model import options\n"),
    "tests/test_x.py": ("from mefuse.model.fusion import FusionClassifier\n"
                        "from mefuse.estimator import FusionModel\nFusionModelling = 1\n"),
    "docs/a.md": "`cli/options.py`; FusionModel wraps FusionEstimator; FusionClassifier.\n",
    "benchmarks/results/r.md": "FusionModel\n",
}


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_renames_an_old_tree_in_order_and_a_second_run_changes_nothing(tmp_path):
    script = _script()
    _tree(tmp_path, OLD_TREE)
    changed, unclear = script.run(tmp_path)
    assert unclear == [] and changed
    read = lambda name: (tmp_path / name).read_text()  # noqa: E731
    assert read("src/mefuse/estimator.py").startswith(
        'class FusionClassifier(ClassifierMixin):\n    """Wraps TrainedModel."""\n')
    assert '_RENAMED = {"FusionModel": "FusionClassifier"}' in read("src/mefuse/estimator.py")
    assert read("src/mefuse/model/fusion.py").startswith("class FusionNetwork(nn.Module):")
    assert '{"FusionClassifier": "FusionNetwork"}' in read("src/mefuse/model/fusion.py")
    assert not (tmp_path / "src/mefuse/cli/options.py").exists()
    assert read("src/mefuse/cli/shared_options.py") == "X = 1\n"
    assert read("src/mefuse/cli/main.py") == ("from mefuse.cli.shared_options import X\n"
                                              "from mefuse.model import options\n")
    assert read("tests/test_x.py") == ("from mefuse.model.fusion import FusionNetwork\n"
                                       "from mefuse.estimator import FusionClassifier\n"
                                       "FusionModelling = 1\n")
    assert read("docs/a.md") == ("`cli/shared_options.py`; FusionClassifier wraps TrainedModel; "
                                 "FusionNetwork.\n")
    assert read("benchmarks/results/r.md") == "FusionModel\n"  # recorded results stay
    snapshot = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    assert script.run(tmp_path) == ([], [])
    assert script.run(tmp_path, check=True) == ([], [])
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == snapshot


def test_after_a_merge_old_files_are_renamed_and_unclear_ones_are_named(tmp_path):
    """A renamed tree with files merged in from a branch that kept the old names."""
    script = _script()
    _tree(tmp_path, OLD_TREE)
    script.run(tmp_path)
    _tree(tmp_path, {
        "src/mefuse/train/batched.py": ("from mefuse.model.fusion import FusionClassifier\n"
                                        "from mefuse.train.trainer import FusionEstimator\n"),
        "docs/b.md": "mefuse.FusionModel is the estimator.\n",
        "src/mefuse/train/mixed.py": "from x import FusionNetwork\nFusionClassifier(3)\n",
    })
    _, unclear = script.run(tmp_path)
    assert (tmp_path / "src/mefuse/train/batched.py").read_text() == (
        "from mefuse.model.fusion import FusionNetwork\n"
        "from mefuse.train.trainer import TrainedModel\n")
    assert (tmp_path / "docs/b.md").read_text() == "mefuse.FusionClassifier is the estimator.\n"
    assert unclear == ["src/mefuse/train/mixed.py: FusionClassifier could be the network or the "
                       "estimator"]



def test_the_repository_is_renamed():
    """Nothing left for the script to do here (run it after merging a branch)."""
    assert _script().run(ROOT, check=True) == ([], [])
