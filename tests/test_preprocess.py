"""Views, face box and crops on real photographs; the paper's sampling rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from faces import astronaut, grace_hopper, similarity
from mefuse.errors import ConfigError
from mefuse.extraction.prepare import Preparer
from mefuse.preprocess.config import PreprocessConfig
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box, FaceDetector, find_face_box, square_box
from mefuse.preprocess.sampling import resample, uniform_indices
from mefuse.preprocess.views import split_view, views_for


def test_face_found_on_a_real_photo_and_box_is_square_and_enlarged():
    image = astronaut()
    with FaceDetector() as detector:
        x, y, w, h, score = detector.detect(image)
        box, index = find_face_box(detector, [np.zeros_like(image), image])
    assert score > 0.5 and index == 1  # the empty first frame is skipped
    assert box.side == pytest.approx(1.5 * max(w, h), abs=1)
    assert box.x <= x and box.y <= y and box.x + box.side >= x + w
    # the astronaut's face is in the upper middle of the picture
    assert 150 < box.x + box.side / 2 < 300 and 60 < box.y + box.side / 2 < 200


def test_no_face_gives_none():
    with FaceDetector() as detector:
        assert find_face_box(detector, [np.zeros((64, 64, 3), np.uint8)] * 3) is None


def test_one_box_for_every_frame_of_a_clip(tmp_path):
    import cv2

    base = astronaut()
    frames = [similarity(base, 0, 1.0, (3 * t, 0)) for t in range(5)]  # the head moves right
    folder = tmp_path / "clip"
    folder.mkdir()
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"f{t}.png"), frame[:, :, ::-1])
    preparer = Preparer(PreprocessConfig(views="none", crop_size=128), None)
    rows = pd.DataFrame({"clip_id": ["c"], "view": ["full"], "source": [str(folder)],
                         "start": [np.nan], "end": [np.nan]})
    (clip,) = preparer(rows)
    assert clip.failure is None and clip.crops.shape == (5, 128, 128, 3)
    with FaceDetector() as detector:
        box, _ = find_face_box(detector, frames[:1])
    for t in range(5):  # every crop uses the first frame's box
        np.testing.assert_array_equal(clip.crops[t], crop_square(frames[t], box, 128))
    assert not np.array_equal(clip.crops[0], clip.crops[4])  # so the head's motion stays


def test_side_by_side_frame_splits_into_two_views_each_with_its_face():
    import cv2

    left = astronaut()
    right = cv2.resize(grace_hopper(), (512, 512))
    frame = np.concatenate([left, right], axis=1)
    assert views_for("both") == ("left", "right")
    with FaceDetector() as detector:
        for view, source in (("left", left), ("right", right)):
            part = split_view(frame, view)
            assert part.shape == source.shape
            np.testing.assert_array_equal(part, source)
            assert detector.detect(part) is not None
    assert split_view(frame, "full") is frame
    with pytest.raises(ConfigError):
        views_for("top")


def test_crop_pads_with_zeros_outside_the_frame_and_handles_grey_and_16_bit():
    grey16 = (np.arange(100 * 100, dtype=np.uint32).reshape(100, 100) * 6).astype(np.uint16)
    crop = crop_square(grey16, Box(-20, -20, 60), 60)
    assert crop.shape == (60, 60, 3) and crop.dtype == np.uint8
    assert (crop[:20, :20] == 0).all()
    np.testing.assert_array_equal(crop[20:, 20:, 0], (grey16[:40, :40] >> 8).astype(np.uint8))
    assert crop_square(np.zeros((50, 50), np.uint8), Box(0, 0, 50), 1024).shape == (1024, 1024, 3)


def test_square_box_is_centred():
    box = square_box(10, 20, 40, 20, scale=1.5)
    assert box.side == 60 and box.x + box.side / 2 == pytest.approx(30, abs=1)
    assert box.y + box.side / 2 == pytest.approx(30, abs=1)


def test_sampling_follows_the_paper_rule():
    # round(i * (n - 1) / (k - 1)), halves rounded up
    assert uniform_indices(100, 5).tolist() == [0, 25, 50, 74, 99]
    assert uniform_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_indices(7, 7).tolist() == list(range(7))
    assert uniform_indices(5, 1).tolist() == [0]


def test_short_clips_repeat_frames_evenly():
    indices = uniform_indices(4, 9)
    assert len(indices) == 9 and indices[0] == 0 and indices[-1] == 3
    assert sorted(set(indices.tolist())) == [0, 1, 2, 3]
    assert (np.diff(indices) >= 0).all()
    clip = np.arange(4)[:, None] * np.ones((1, 2))
    assert resample(clip, 9)[:, 0].tolist() == indices.tolist()
    with pytest.raises(ValueError):
        uniform_indices(0, 3)
