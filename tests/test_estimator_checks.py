"""scikit-learn's own estimator checks on FusionClassifier (issue 18, item 3).

``parametrize_with_checks`` runs every check scikit-learn has for a classifier (input
validation, NaN/inf, empty data, one class, pickling, cloning, idempotent fits, n_features_in_,
column-vector y, multi-label output...). None is skipped: ``EXPECTED_FAILED`` is empty, and any
check that starts failing fails this file. The model is made small and fast (8-d pools, few
epochs, no dropout) so that all of them run in seconds; the checks feed 2-D arrays, which
FusionClassifier reads as one frame per clip.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from mefuse.estimator import FusionClassifier, ModelParams, OptimParams

FAST = FusionClassifier(optim=OptimParams(epochs=8, lr=1e-2, batch_size=32),
                   model=ModelParams(dim=8, hidden=8, queries=1, dropout=0.0,
                                     feature_dropout=0.0))

EXPECTED_FAILED: dict[str, str] = {}
"""Checks FusionClassifier is known to fail, each with its reason (none at present)."""


@parametrize_with_checks([FAST], expected_failed_checks=lambda _: EXPECTED_FAILED)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
