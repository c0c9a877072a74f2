"""The learned spotter (mefuse.spotting.learned) and leave-one-subject-out spotting
(mefuse.spotting.loso), on synthetic per-frame signals with planted expressions."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from mefuse.errors import ConfigError, DataError, MefuseError
from mefuse.spotting import (
    LearnedSettings,
    LearnedSpotter,
    Spotter,
    evaluate_loso,
    evaluate_spotting,
)
from mefuse.spotting.learned import robust_normalise


def synthetic(n_subjects: int = 4, videos_per: int = 3, fps: float = 30.0, regions: int = 6,
              seed: int = 0) -> tuple[dict, dict, pd.DataFrame, dict]:
    """Long videos' regional motion signals: noise, a slow drift, a per-person level, MEs
    (~0.3 s, 1-2 regions), stronger and wider MaEs (~1.5 s, 3-6 regions) and 1-frame blinks
    (strong spikes that are no expression)."""
    rng = np.random.default_rng(seed)
    signals, rates, subjects, rows = {}, {}, {}, []
    second = int(fps)
    for s in range(n_subjects):
        level = rng.uniform(0.5, 3.0)
        for k in range(videos_per):
            video = f"s{s}_v{k}"
            n = int(rng.integers(600, 1500) * fps / 30)
            t = np.arange(n) / fps
            x = np.abs(rng.normal(0, 1, (n, regions)))
            x += 2 + 1.5 * np.sin(2 * np.pi * t / rng.uniform(20, 40))[:, None]
            taken = np.zeros(n, bool)

            def place(length: int, taken: np.ndarray = taken, n: int = n) -> int | None:
                for _ in range(50):
                    on = int(rng.integers(second, n - length - second))
                    if not taken[max(0, on - second):on + length + second].any():
                        taken[on:on + length] = True
                        return on
                return None

            for kind, count, seconds, width, height in (
                    ("ME", rng.integers(2, 4), (0.25, 0.4), (1, 3), (4, 6)),
                    ("MaE", rng.integers(1, 3), (1.2, 2.0), (3, regions + 1), (7, 10))):
                for _ in range(int(count)):
                    length = round(rng.uniform(*seconds) * fps)
                    on = place(length)
                    if on is None:
                        continue
                    cols = rng.choice(regions, int(rng.integers(*width)), replace=False)
                    bump = np.sin(np.linspace(0, np.pi, length))
                    x[on:on + length, cols] += rng.uniform(*height) * bump[:, None]
                    rows.append({"video": video, "onset": on, "offset": on + length - 1,
                                 "type": kind})
            for _ in range(int(rng.integers(3, 7))):
                on = int(rng.integers(0, n))
                if not taken[max(0, on - 3):on + 4].any():
                    x[on, rng.choice(regions, 2, replace=False)] += rng.uniform(8, 15)
            signals[video] = x * level
            rates[video] = fps
            subjects[video] = f"s{s}"
    return signals, rates, pd.DataFrame(rows), subjects


class PeakBaseline:
    """A trivial spotter for comparison: runs of frames whose largest normalised region
    exceeds a threshold (set on the training videos), ME when shorter than 0.5 s."""

    grid = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)

    def __init__(self) -> None:
        self.threshold = 0.0

    def fit(self, signals: Mapping[str, np.ndarray], fps: Mapping[str, float],
            truth: pd.DataFrame) -> PeakBaseline:
        def f1(threshold: float) -> float:
            self.threshold = threshold
            found = [self.spot(s, fps[v], v) for v, s in signals.items()]
            return evaluate_spotting(pd.concat(found, ignore_index=True), truth).f1
        self.threshold = max(self.grid, key=f1)
        return self

    def spot(self, signal: np.ndarray, fps: float, video: str) -> pd.DataFrame:
        peak = robust_normalise(np.asarray(signal, float)).max(axis=1)
        above = np.concatenate([[0], (peak > self.threshold).astype(int), [0]])
        edges = np.flatnonzero(np.diff(above))
        rows = [{"video": video, "onset": a, "apex": a, "offset": b - 1,
                 "type": "ME" if (b - a) / fps < 0.5 else "MaE", "score": 1.0}
                for a, b in zip(edges[::2], edges[1::2], strict=True)]
        return pd.DataFrame(rows, columns=["video", "onset", "apex", "offset", "type", "score"])


@pytest.fixture(scope="module")
def data() -> tuple[dict, dict, pd.DataFrame, dict]:
    return synthetic()


@pytest.fixture(scope="module")
def loso(data):
    signals, rates, truth, subjects = data
    fitted: list[dict] = []

    class Spy(LearnedSpotter):
        def fit(self, signals, fps, truth, *, groups=None):
            fitted.append({"videos": set(signals), "fps": set(fps),
                           "truth": set(truth["video"]), "groups": dict(groups or {})})
            return super().fit(signals, fps, truth, groups=groups)

    result = evaluate_loso(signals, rates, truth, subjects, Spy)
    return result, fitted


def test_learned_spotter_finds_planted_expressions_under_loso(data, loso) -> None:
    signals, rates, truth, subjects = data
    result, _ = loso
    scores = result.scores
    baseline = evaluate_loso(signals, rates, truth, subjects, PeakBaseline).scores
    assert scores.f1 > 0.75, scores.table()
    assert scores.f1 > baseline.f1 + 0.2, (scores.table(), baseline.table())
    # types mostly right: both types are found, and typed as such
    assert scores.by_type["ME"].f1 > 0.6 and scores.by_type["MaE"].f1 > 0.6, scores.table()
    # pooled predictions: every video's own subject, the MEGC columns, positions inside it
    preds = result.predictions
    assert {"video", "onset", "apex", "offset", "type", "score", "subject"} <= set(preds.columns)
    assert (preds["subject"] == preds["video"].map(subjects)).all()
    assert ((preds["onset"] <= preds["apex"]) & (preds["apex"] <= preds["offset"])).all()
    assert (preds["offset"] < preds["video"].map({v: len(s) for v, s in signals.items()})).all()
    assert list(result.folds["subject"]) == ["s0", "s1", "s2", "s3"]
    assert result.folds["tp"].sum() == scores.overall.tp


def test_loso_fits_never_see_the_held_out_subject(data, loso) -> None:
    _, _, _, subjects = data
    _, fitted = loso
    people = list(dict.fromkeys(subjects.values()))
    assert len(fitted) == len(people)
    for person, seen in zip(people, fitted, strict=True):
        held_out = {v for v, s in subjects.items() if s == person}
        assert seen["videos"] == set(subjects) - held_out
        assert seen["fps"] == seen["videos"]
        assert seen["truth"] <= seen["videos"]
        assert seen["groups"] == {v: subjects[v] for v in seen["videos"]}


def test_protocol_and_frame_rate_awareness(data) -> None:
    signals, rates, truth, _ = data
    spotter = LearnedSpotter().fit(signals, rates, truth)
    assert isinstance(spotter, Spotter) and isinstance(PeakBaseline(), Spotter)
    assert spotter.threshold in spotter.settings.thresholds
    # windows are in seconds: a spotter fitted on 30 fps videos spots 200 fps ones
    fast, _fast_rates, fast_truth, _ = synthetic(n_subjects=1, videos_per=2, fps=200.0, seed=5)
    found = pd.concat([spotter.spot(s, 200.0, v) for v, s in fast.items()], ignore_index=True)
    assert evaluate_spotting(found, fast_truth).f1 > 0.6


def test_save_load_round_trip(tmp_path, data) -> None:
    signals, rates, truth, _ = data
    train = {v: s for v, s in signals.items() if not v.startswith("s0_")}
    spotter = LearnedSpotter(LearnedSettings(inner_folds=0)).fit(
        train, rates, truth[truth["video"].isin(train)])
    path = spotter.save(tmp_path / "spotter.json")
    stored = json.loads(path.read_text())
    assert stored["format"] == "mefuse-learned-spotter" and stored["settings"]["inner_folds"] == 0
    loaded = LearnedSpotter.load(path)
    assert loaded.threshold == spotter.threshold and loaded.settings == spotter.settings
    for video in ("s0_v0", "s0_v1"):
        before = spotter.spot(signals[video], 30.0, video)
        assert not before.empty
        pd.testing.assert_frame_equal(before, loaded.spot(signals[video], 30.0, video))
        np.testing.assert_array_equal(spotter.frame_scores(signals[video], 30.0),
                                      loaded.frame_scores(signals[video], 30.0))
    stored["coef"] = stored["coef"][:2]
    (tmp_path / "bad.json").write_text(json.dumps(stored))
    with pytest.raises(DataError, match="do not fit"):
        LearnedSpotter.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(DataError, match="not a learned spotter"):
        LearnedSpotter.load(tmp_path / "other.json")


def test_bad_input_is_a_clear_error(data) -> None:
    signals, rates, truth, _subjects = data
    small = {v: signals[v][:300] for v in ("s0_v0", "s1_v0")}
    small_truth = truth[truth["video"].isin(small) & (truth["offset"] < 300)]
    nan = {**small, "s0_v0": small["s0_v0"].copy()}
    nan["s0_v0"][17, 2] = np.nan
    with pytest.raises(DataError, match=r"'s0_v0'.*NaN.*\(17\)"):
        LearnedSpotter().fit(nan, rates, small_truth)
    with pytest.raises(ConfigError, match=r"'s1_v0'.*frame rate must be > 0"):
        LearnedSpotter().fit(small, {**rates, "s1_v0": 0}, small_truth)
    ghost = pd.concat([small_truth, pd.DataFrame([{"video": "nobody", "onset": 1, "offset": 5,
                                                   "type": "ME"}])])
    with pytest.raises(DataError, match="without a signal: nobody"):
        LearnedSpotter().fit(small, rates, ghost)
    with pytest.raises(ConfigError, match="not fitted"):
        LearnedSpotter().spot(small["s0_v0"], 30.0, "s0_v0")
    with pytest.raises(DataError, match="no subject"):
        evaluate_loso(small, rates, small_truth, {"s0_v0": "s0"}, LearnedSpotter)
    with pytest.raises(DataError, match="at least 2 subjects"):
        evaluate_loso(small, rates, small_truth, {v: "x" for v in small}, LearnedSpotter)
    with pytest.raises(ConfigError, match="inner_folds"):
        LearnedSettings(inner_folds=1)
    fitted = LearnedSpotter(LearnedSettings(inner_folds=0)).fit(
        {v: signals[v] for v in ("s0_v0", "s1_v0")}, rates, truth[truth["video"].isin(
            ["s0_v0", "s1_v0"])])
    with pytest.raises(DataError, match="3 column"):
        fitted.spot(signals["s0_v1"][:, :3], 30.0, "s0_v1")
    with pytest.raises(MefuseError):
        fitted.spot(signals["s0_v1"], -30.0, "s0_v1")


def test_truth_with_one_type_and_rows_past_the_end(data) -> None:
    signals, rates, truth, _ = data
    videos = ["s0_v0", "s1_v0", "s2_v0"]
    few = {v: signals[v] for v in videos}
    me_only = truth[truth["video"].isin(videos) & (truth["type"] == "ME")]
    spotter = LearnedSpotter(LearnedSettings(inner_folds=0)).fit(few, rates, me_only)
    found = spotter.spot(signals["s3_v0"], 30.0, "s3_v0")
    assert set(found["type"]) <= {"ME"}                    # a type never labelled is never spotted
    late = pd.DataFrame([{"video": "s0_v0", "onset": len(signals["s0_v0"]), "offset":
                          len(signals["s0_v0"]) + 5, "type": "ME"}])
    with pytest.raises(DataError, match="starting at frame"):
        LearnedSpotter().fit(few, rates, pd.concat([me_only, late]))
    with pytest.raises(DataError, match="no interval"):
        LearnedSpotter().fit(few, rates, me_only.iloc[0:0])
