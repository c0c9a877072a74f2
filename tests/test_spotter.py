"""The weight-free spotter on generated long videos (real photographs, planted movements):
finds the micro- and macro-movements, ignores the head movement and the light, keeps bounded
state, takes its threshold from training videos, and ``mefuse spot`` writes the intervals."""

from __future__ import annotations

import itertools
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from mefuse.demo.long_videos import LongVideoSpec, make_long_video, write_video
from mefuse.errors import ConfigError
from mefuse.predictions import Predictions
from mefuse.spot_recognise import recognise_intervals
from mefuse.spotting.evaluation import f1_by_type, interval_iou
from mefuse.spotting.intervals import IntervalRule, find_intervals
from mefuse.spotting.signal import MotionSignal, MotionTracker
from mefuse.spotting.spotter import Spotter

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
SPEC = LongVideoSpec(seconds=10, size=160, micro=2, macro=1, head=1)


def mefuse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def video():
    return make_long_video(SPEC, seed=3)


@pytest.fixture(scope="module")
def spotted(video):
    return Spotter().spot(video.frames, video.fps, name=video.name)


def test_the_generated_video_plants_what_its_truth_says(video):
    assert video.frames.shape == (300, 160, 160, 3)
    assert sorted(video.truth["type"]) == ["ME", "ME", "MaE"]
    assert list(video.distractors["kind"]).count("head") == 1
    durations = (video.truth["offset"] - video.truth["onset"] + 1) / video.fps
    assert all(durations[video.truth["type"] == "ME"] <= 0.41)
    assert all(durations[video.truth["type"] == "MaE"] >= 0.99)


def test_spotter_finds_planted_movements_and_not_the_head(video, spotted):
    scores = f1_by_type(spotted, video.truth)
    assert scores["overall"] >= 0.66, (spotted, video.truth)
    found = sum(any(interval_iou(t.onset, t.offset, p.onset, p.offset) >= 0.5
                    and p.type == t.type for p in spotted.itertuples())
                for t in video.truth.itertuples())
    assert found >= 2
    apex_errors = [p.apex - t.apex for t in video.truth.itertuples() for p in spotted.itertuples()
                   if interval_iou(t.onset, t.offset, p.onset, p.offset) >= 0.5]
    assert max(map(abs, apex_errors)) <= 5, apex_errors
    for d in video.distractors.itertuples():
        assert not any(interval_iou(d.onset, d.offset, p.onset, p.offset) > 0.2
                       for p in spotted.itertuples()), (d, spotted)
    assert set(spotted.columns) >= {"video", "onset", "apex", "offset", "type", "score"}
    assert (spotted["onset"] <= spotted["apex"]).all()
    assert (spotted["apex"] <= spotted["offset"]).all()


def test_streaming_state_does_not_grow_with_the_video(video):
    """Twice as many frames (the same frames repeated): the same state, k + 1 frames."""
    tracker = MotionTracker(video.fps)
    sizes = []
    try:
        for n, frame in enumerate(itertools.islice(itertools.cycle(video.frames[:40]), 160),
                                  start=1):
            tracker.push(frame)
            if n in (80, 160):
                sizes.append((tracker.state_size(), len(tracker.__dict__)))
    finally:
        tracker.close()
    assert sizes[0] == sizes[1]
    assert sizes[0][0] == tracker.k + 1 == 7


def planted_signal(rng):
    """Noise, two real bumps (height ~40 noise deviations) and a distractor at ~8."""
    values = np.abs(rng.normal(1.0, 0.1, 400))
    truth = []
    for onset, height in ((60, 5.0), (250, 5.0)):
        values[onset:onset + 12] += height
        truth.append({"video": "v", "onset": onset, "apex": onset + 6, "offset": onset + 6,
                      "type": "ME"})
    values[150:158] += 1.0  # a smaller movement that is not in the truth
    return MotionSignal(values.astype(np.float32), 30.0, 6), pd.DataFrame(truth)


def test_fit_sets_the_threshold_from_training_videos_and_spot_uses_it():
    signal, truth = planted_signal(np.random.default_rng(0))
    spotter = Spotter(rule=IntervalRule(p=3.0))
    assert len(spotter.intervals(signal, "v")) == 3  # the low threshold takes the distractor
    result = spotter.fit({"v": signal}, truth)
    assert spotter.fitted and spotter.rule.p == result.p and result.p > 3.0
    assert result.f1 == 1.0 and len(result.table) > 10
    after = spotter.intervals(signal, "v")
    assert len(after) == 2
    assert np.all(np.abs(np.sort(after["onset"]) - [60, 250]) <= 2)
    pd.testing.assert_frame_equal(after, find_intervals(signal.values, 30.0, 6, spotter.rule,
                                                        "v"))
    assert Spotter.from_dict(spotter.to_dict()).rule == spotter.rule


def test_bad_frame_rate_and_threshold_are_refused():
    with pytest.raises(ConfigError, match="must be between 1 and 2000"):
        MotionTracker(0.0)
    with pytest.raises(ConfigError, match="threshold p"):
        find_intervals(np.zeros(10), 30.0, 2, IntervalRule(p=-1))


def test_recognise_intervals_cuts_each_me_interval_into_a_clip(video, spotted):
    from mefuse.train.config import TrainConfig
    from mefuse.train.trainer import TrainedModel

    estimator = TrainedModel(TrainConfig(modalities=["x"], strategy="single",
                                         classes=["a", "b"]))
    seen = {}

    def fake_predict(model, folders, **options):
        assert model is estimator and options == {"views": "none"}
        rows = []
        for folder in folders:
            seen[folder.name] = len(list(folder.iterdir()))
            rows.append({"sequence_id": folder.name, "p_a": 0.25, "p_b": 0.75, "a": 0, "b": 1})
        return Predictions(pd.DataFrame(rows), pd.DataFrame(rows))

    out = recognise_intervals(video.frames, spotted, estimator, predict=fake_predict,
                              views="none")
    me = out[out["type"] == "ME"]
    assert len(seen) == len(me) >= 1
    assert sorted(seen.values()) == sorted((me["offset"] - me["onset"] + 1).tolist())
    assert (me["p_b"] == 0.75).all() and out.loc[out["type"] == "MaE", "p_a"].isna().all()


@pytest.mark.slow
def test_spot_command_writes_the_intervals_csv(tmp_path):
    video = make_long_video(LongVideoSpec(seconds=5, size=128, micro=1, macro=1, head=0,
                                          illumination=False, macro_seconds=(1.0, 1.2)),
                            seed=1)
    path = write_video(video, tmp_path / "long.avi")
    out = tmp_path / "spots.csv"
    result = mefuse("spot", str(path), "-o", str(out), "-q")
    assert result.returncode == 0, result.stderr
    assert "spotted intervals" in result.stdout
    table = pd.read_csv(out)
    assert list(table.columns) == ["video", "onset", "apex", "offset", "type", "score"]
    assert set(table["video"]) == {"long"} and len(table) >= 1
    folder = write_video(video, tmp_path / "frames")
    result = mefuse("spot", str(folder), "--fps", "0", "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("error: frame rate (--fps) must be between 1 and 2000")
    assert len(result.stderr.splitlines()) == 1
    result = mefuse("spot", str(folder), "-o", str(out))
    assert result.returncode == 2 and "give the frame rate with --fps" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    result = mefuse("spot", str(folder), "--fps", "30", "--threshold", "0", "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith("error: threshold p must be > 0 noise deviations")
    assert len(result.stderr.splitlines()) == 1
    result = mefuse("spot", str(folder), "--fps", "30", "--views", "sideways", "-o", str(out))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1


def test_demo_spot_refuses_fewer_than_two_videos(tmp_path):
    result = mefuse("demo", "--spot", "--videos", "1", "--out", str(tmp_path / "d"))
    assert result.returncode == 2 and "--videos" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_tracker_keeps_each_frames_region_values_behind_its_value(video):
    """``MotionTracker.regions``: the per-region motion whose top mean is the frame's value
    (the learned spotter's per-region input)."""
    tracker = MotionTracker(video.fps)
    try:
        seen = 0
        for frame in video.frames[:40]:
            value = tracker.push(frame)
            if tracker.regions is not None and value > 0:
                top = np.sort(tracker.regions)[-tracker.config.top_regions:].mean()
                assert value == pytest.approx(top)
                seen += 1
        assert seen > 20 and len(tracker.regions) > tracker.config.top_regions
    finally:
        tracker.close()
