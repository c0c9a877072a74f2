"""The apex finder, the apex columns of quality.csv, ``apexflow``, ``apeximage`` and the apex of
``mefuse predict`` on raw frames."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from faces import astronaut, grace_hopper, local_shift, similarity
from mefuse.errors import ConfigError
from mefuse.extraction.prepare import place_apex
from mefuse.features.appearance.apeximage import SIDE
from mefuse.features.base import create_extractor
from mefuse.features.geometry.apexflow import ROWS
from mefuse.features.geometry.regionflow import DIM, REGIONS, STATS
from mefuse.preprocess.apex import find_apex
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box
from mefuse.store.quality import apex_agreement

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}

FACES = {
    # photo, face box (1.5x square), crop-pixel (256 px) mouth corner and an eye
    "astronaut": (astronaut, Box(148, 42, 156), (100, 170), (90, 97)),
    "grace_hopper": (grace_hopper, Box(110, 50, 300), (110, 195), (95, 130)),
}


def profile(length: int, onset: int, apex: int, offset: int) -> np.ndarray:
    """Raised-cosine onset -> apex -> offset, as the demo's movements follow."""
    t = np.arange(length, dtype=np.float64)
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - onset) / (apex - onset), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - apex) / (offset - apex), 0, 1))
    return np.where(t <= apex, rise, fall)


def moving_clip(name: str, apex: int, length: int = 18, amplitude: float = 2.0,
                blink: int | None = 3, seed: int = 0) -> np.ndarray:
    """256 px face crops: the mouth corner moves up ``amplitude`` px at ``apex`` (raised
    cosine), the head wanders (translation and rotation random walk, up to a few px), and a
    one-frame blink-like movement of the lid (twice the expression's amplitude) at ``blink``."""
    photo, box, mouth, eye = FACES[name]
    still = crop_square(photo(), box, 256)
    rng = np.random.default_rng(seed)
    steps = rng.normal(scale=0.5, size=(length, 2)).cumsum(axis=0)
    weights = profile(length, max(apex - 5, 0), apex, min(apex + 5, length - 1))
    frames = []
    for t in range(length):
        frame = local_shift(still, mouth, 14, (0, -amplitude * weights[t]))
        if t == blink:
            frame = local_shift(frame, eye, 10, (0, 2 * amplitude))
        frames.append(similarity(frame, 0.1 * t, 1.0, tuple(steps[t])))
    return np.stack(frames)


@pytest.mark.parametrize(("name", "apex"), [("astronaut", 11), ("grace_hopper", 7)])
def test_find_apex_finds_the_peak_despite_head_motion_and_a_blink(name, apex):
    found = find_apex(moving_clip(name, apex))
    assert abs(found.index - apex) <= 2
    assert found.signal.shape == found.smoothed.shape == (18,)
    assert found.contrast > 1.5


def test_a_still_clip_has_a_weak_apex_and_one_frame_is_its_own_apex():
    still = moving_clip("astronaut", 9, amplitude=0.0, blink=None, length=8)
    assert find_apex(still).contrast < find_apex(moving_clip("astronaut", 4, length=8)).contrast
    assert find_apex(still[:1]).index == 0


def test_place_apex_converts_sampled_crops_to_source_frames():
    crops = moving_clip("astronaut", 8, length=12, blink=None)
    positions = 40 + 3 * np.arange(12)  # every third frame of a window starting at frame 40
    quality: dict = {}
    row = place_apex(quality, crops, positions, None)
    assert abs(quality["apex_found"] - (40 + 3 * 8)) <= 6 and quality["apex_source"] == "found"
    assert quality["apex_frame"] == quality["apex_found"] == positions[row]
    row = place_apex(quality, crops, positions, 50)  # a label between two sampled frames
    assert (quality["apex_label"], quality["apex_frame"], quality["apex_source"]) == (
        50, 50, "label")
    assert row == quality["apex_row"] == 3  # frame 49 is the nearest crop
    assert apex_agreement([quality]) == (1, abs(quality["apex_found"] - 50),
                                         float(abs(quality["apex_found"] - 50) <= 2))


def test_apexflow_rows_follow_the_moved_region():
    clip = moving_clip("astronaut", 8, length=12, amplitude=2.5, blink=None)
    extractor = create_extractor("apexflow")
    features = extractor.extract_clip(clip)
    assert features.shape == (len(ROWS), DIM) and np.isfinite(features).all()
    regions = features.reshape(len(ROWS), len(REGIONS), len(STATS))
    magnitude = list(STATS).index("magnitude")
    names = list(REGIONS)
    mouth = regions[0, names.index("mouth_corner_right"), magnitude]
    brows = regions[0, names.index("brow_inner_left"), magnitude]
    assert mouth > 3 * brows  # the subject's right mouth corner is the moved one
    # the movement returns by the offset: apex -> offset moves the corner back down
    assert regions[1, names.index("mouth_corner_right"), list(STATS).index("dy")] > 0
    # a given apex is used as is: at the onset itself there is no onset -> apex motion
    assert np.abs(extractor.extract_clip(clip, apex=0)[0]).max() == 0


def test_apeximage_is_stststnet_shaped_and_brightest_where_the_face_moved():
    clip = moving_clip("grace_hopper", 6, length=10, amplitude=2.5, blink=None)
    extractor = create_extractor("apeximage")
    image = extractor.extract_clip(clip, apex=6)
    assert image.shape == (1, 3 * SIDE * SIDE) and image.dtype == np.float32
    assert np.isfinite(image).all()
    _, v, strain = image.reshape(3, SIDE, SIDE)
    mouth_x, mouth_y = (int(c * SIDE / 256) for c in FACES["grace_hopper"][2])
    near = np.s_[mouth_y - 2:mouth_y + 3, mouth_x - 2:mouth_x + 3]
    assert v[near].min() < -0.1  # the corner moved up (v is down-positive) by ~0.27 px at 28
    assert np.abs(v[near]).mean() > 4 * np.abs(v).mean() / 2
    assert strain[near].mean() > 2 * np.median(strain)
    found = find_apex(clip).index  # without an apex, the extractor finds it itself
    assert np.array_equal(extractor.extract_clip(clip), extractor.extract_clip(clip, apex=found))


def mefuse(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def write_sequence(folder, apex: int, length: int = 14) -> None:
    """A 4DMR-layout sequence: the astronaut photo, its mouth corner moving 1.5 photo px up and
    back (peak at ``apex``), the same view twice side by side, as PNG frames."""
    import cv2

    photo = astronaut()
    weights = profile(length, apex - 4, apex, min(apex + 4, length - 1))
    folder.mkdir(parents=True)
    for t in range(length):
        moved = local_shift(photo, (209, 146), 9, (0, -1.5 * weights[t]))
        view = cv2.resize(moved, (288, 288), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"{folder.name}_{t}.png"),
                    np.concatenate([view, view], axis=1)[:, :, ::-1])


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory):
    """Two labelled sequences with their true apex, extracted with apexflow by the CLI."""
    out = tmp_path_factory.mktemp("apex")
    data = out / "data"
    labels = pd.DataFrame({"Id": [1, 2], "Subject": ["a", "b"], "Negative": [1, 0],
                           "Positive": [0, 1], "Repression": [0, 0], "Surprise": [0, 0],
                           "Others": [0, 0], "apex": [6, 9]})
    for sequence, apex in zip(labels["Id"], labels["apex"], strict=True):
        write_sequence(data / "train" / f"{sequence:03d}", int(apex))
    labels.to_csv(data / "train_labels.csv", index=False)
    store = out / "store"
    result = mefuse("extract", "-d", "4dmr", "-r", str(data), "-s", str(store), "-e", "apexflow",
                    "--crop-size", "256", "--jobs", "1", "-q")
    assert result.returncode == 0, result.stderr
    return data, labels, store, result.stdout


def test_extract_writes_the_apex_columns_and_reports_their_agreement(tiny_store):
    _, labels, store, stdout = tiny_store
    quality = pd.read_csv(store / "quality.csv").set_index("clip_id")
    assert len(quality) == 4
    for _, label in labels.iterrows():
        for view in ("left", "right"):
            row = quality.loc[f"{label['Id']}_{view}"]  # the 4dmr adapter's clip ids
            assert row["apex_label"] == label["apex"]  # frames 0..n-1: the number is the position
            assert row["apex_frame"] == label["apex"] and row["apex_source"] == "label"
            assert row["apex_row"] == label["apex"]  # every frame kept
            assert abs(row["apex_found"] - label["apex"]) <= 3
    assert "apex: found vs labelled in 4 clip(s): mean absolute difference" in stdout
    from mefuse.store import FeatureStore

    [features] = FeatureStore.open(store).load("apexflow", [f"{labels['Id'].iloc[0]}_left"])
    assert features.shape == (2, DIM)


def test_bad_apeximage_options_are_refused():
    with pytest.raises(ConfigError, match="size >= 28"):
        create_extractor("apeximage", size=8)
    with pytest.raises(ConfigError, match="preset"):
        create_extractor("apeximage", preset="slow")


def test_predict_on_raw_frames_reports_the_apex(tiny_store, tmp_path):
    data, labels, store, _ = tiny_store
    model = tmp_path / "model.pt"
    result = mefuse("train", "-s", str(store), "-m", "apexflow", "--strategy", "single",
                    "--epochs", "2", "-o", str(model), "-q")
    assert result.returncode == 0, result.stderr
    sequence = data / "train" / f"{labels['Id'].iloc[0]:03d}"
    csv = tmp_path / "pred.csv"
    result = mefuse("predict", "--model", str(model), str(sequence), "-o", str(csv), "-q")
    assert result.returncode == 0, result.stderr
    clips = pd.read_csv(csv).set_index("clip_id")
    apex = int(labels["apex"].iloc[0])
    for view in ("left", "right"):
        found = clips.loc[f"{sequence.name}_{view}", "apex_frame"]
        assert abs(found - apex) <= 3
        assert f"apex {sequence.name}_{view}: frame {found}" in result.stdout
