"""The recommended preset's promises, measured (3 seeds, subject-kfold, small stores):

- on the complementary store it beats each stream alone by at least 0.05 macro-F1;
- on the demo store (one informative stream, one identity-only stream) it is not below the
  best single stream;
- on the paper-shaped store (widths 171 and 1536, 16 subjects, 18-60 frames) it is not below
  the best single stream either (15 epochs here; 60 epochs in the README's table).
"""

from __future__ import annotations

import numpy as np
import pytest

from mefuse.demo.features import DemoSpec, make_demo_store, paper_shaped_spec
from mefuse.train.config import CVConfig, merge
from mefuse.train.cv import run_cv
from mefuse.train.presets import load_preset

SPEC = dict(subjects=12, sequences_per_subject=10, min_frames=12, max_frames=20, signal_dim=12,
            noise_dim=16)
RECIPE = {"protocol": "subject-kfold", "folds": 3, "seeds": [0, 1, 2],
          "model": {"frames": 10}, "optim": {"epochs": 15}}


def _scores(tmp_path, complementary: bool, spec: DemoSpec | None = None,
            recipe: dict | None = None) -> dict[str, float]:
    root = tmp_path / "store"
    spec = spec or DemoSpec(**SPEC, complementary=complementary)
    recipe = recipe or RECIPE
    table = make_demo_store(root, spec, seed=0)
    streams = ["stream_a", "stream_b"] if complementary else ["signal", "noise"]
    paper = merge(load_preset("paper"), recipe)
    configs = {m: merge(paper, {"modalities": [m], "strategy": "single"}) for m in streams}
    configs["recommended"] = merge(merge(load_preset("recommended"), recipe),
                                   {"modalities": streams})
    scores, choice_scores = {}, []
    for name, data in configs.items():
        result = run_cv(root, table, CVConfig(**data))
        scores[name] = result.summary["macro_f1_mean"]
        if name == "recommended":
            scores["choices"] = [f["choice"] for f in result.folds]
            choice_scores = [f["choice_scores"] for f in result.folds]
    print(scores, choice_scores)
    return scores


@pytest.mark.slow
def test_recommended_beats_each_stream_alone_on_complementary_data(tmp_path):
    scores = _scores(tmp_path, complementary=True)
    assert scores["recommended"] >= scores["stream_a"] + 0.05
    assert scores["recommended"] >= scores["stream_b"] + 0.05
    assert np.mean([c == "fused" for c in scores["choices"]]) >= 0.5


@pytest.mark.slow
def test_recommended_is_not_below_the_best_single_stream_on_the_demo(tmp_path):
    scores = _scores(tmp_path, complementary=False)
    assert scores["recommended"] >= max(scores["signal"], scores["noise"])


@pytest.mark.slow
def test_recommended_is_not_below_the_best_single_stream_on_the_paper_shaped_store(tmp_path):
    recipe = {"protocol": "subject-kfold", "folds": 3, "seeds": [0, 1, 2],
              "optim": {"epochs": 15}}
    scores = _scores(tmp_path, complementary=False, spec=paper_shaped_spec(), recipe=recipe)
    assert scores["recommended"] >= max(scores["signal"], scores["noise"])
