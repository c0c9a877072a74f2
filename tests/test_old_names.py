"""The classes renamed in issue 20 keep their old names for one release, with a warning.

This file names the old classes on purpose (rename-classes: skip-file).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

RENAMED = [
    ("mefuse", "FusionModel", "mefuse.estimator", "FusionClassifier"),
    ("mefuse.estimator", "FusionModel", "mefuse.estimator", "FusionClassifier"),
    ("mefuse.train.trainer", "FusionEstimator", "mefuse.train.trainer", "TrainedModel"),
    ("mefuse.model.fusion", "FusionClassifier", "mefuse.model.fusion", "FusionNetwork"),
    ("mefuse.model", "FusionClassifier", "mefuse.model.fusion", "FusionNetwork"),
]


@pytest.mark.parametrize(("module", "old", "home", "new"), RENAMED)
def test_an_old_name_imports_warns_and_is_the_new_class(module, old, home, new):
    expected = getattr(importlib.import_module(home), new)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} is deprecated .* now "
                                                rf"{module}\.{new}"):
        value = getattr(importlib.import_module(module), old)
    assert value is expected
    with pytest.warns(DeprecationWarning):
        exec(f"from {module} import {old} as imported", namespace := {})
    assert namespace["imported"] is expected


def test_the_new_names_do_not_warn_and_mean_what_they_say():
    import torch

    import mefuse
    from mefuse.model import FusionNetwork
    from mefuse.train.trainer import TrainedModel

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mefuse.FusionClassifier.__module__ == "mefuse.estimator"
        assert issubclass(FusionNetwork, torch.nn.Module)
        assert hasattr(TrainedModel, "save") and hasattr(TrainedModel, "load")
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        _ = mefuse.estimator.Nothing


def test_the_warning_points_at_the_code_that_uses_the_old_name():
    """Run as a script: the warning names the user's file and line, not mefuse's internals."""
    code = "import mefuse.estimator\nmefuse.estimator.FusionModel\n"
    result = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", "-c", code],
                            capture_output=True, text=True, check=True)
    assert '<string>:2: DeprecationWarning: mefuse.estimator.FusionModel is deprecated' in (
        result.stderr)
