"""``mesh3d``: blind to how the head moves as a whole, sensitive to a few pixels of expression."""

from __future__ import annotations

import numpy as np
import pytest

from faces import astronaut, local_shift, similarity
from mefuse.errors import DataError
from mefuse.features.base import create_extractor
from mefuse.features.geometry.mesh3d import (
    DIM,
    DISTANCES,
    REGIONS,
    fill_missing,
    similarity_transform,
)
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import FaceDetector, find_face_box

GLOBAL_TOLERANCE = 0.025
"""Largest coefficient (in inter-ocular distances) that a global similarity may leave: the
face mesh itself jitters by about this much between frames."""


@pytest.fixture(scope="module")
def face_clip():
    image = astronaut()
    with FaceDetector() as detector:
        box, _ = find_face_box(detector, [image])
    return image, box


def crops(frames, box, size=256):
    return np.stack([crop_square(f, box, size) for f in frames])


def test_invariant_to_global_rotation_scale_and_translation(face_clip):
    image, box = face_clip
    centre = (box.x + box.side / 2, box.y + box.side / 2)
    frames = [similarity(image, angle=1.5 * t, scale=1 + 0.03 * t, shift=(2.0 * t, -1.5 * t),
                         centre=centre) for t in range(6)]
    features = create_extractor("mesh3d").extract_clip(crops(frames, box))
    assert features.shape == (6, DIM)
    assert np.abs(features[0]).max() < 1e-6
    assert np.abs(features).max() < GLOBAL_TOLERANCE


def test_responds_to_a_local_movement_of_a_few_pixels(face_clip):
    image, box = face_clip
    extractor = create_extractor("mesh3d")
    points = extractor.landmarks(crops([image], box))[0]
    scale = box.side / 256  # photo pixels per crop pixel
    names = list(DISTANCES)

    def pull_corners(amount):  # lip corners out and up by `amount` crop pixels
        moved = image
        for index, side in ((61, -1), (291, 1)):
            x, y = points[index, :2]
            moved = local_shift(moved, (box.x + x * scale, box.y + y * scale), 15 * scale,
                                (side * amount * scale, -amount * scale))
        return moved

    features = extractor.extract_clip(crops([image, pull_corners(1.5), pull_corners(3)], box))
    width = features[:, 3 * len(REGIONS) + names.index("mouth_width")]
    assert width[2] > 2 * GLOBAL_TOLERANCE  # 6 px wider mouth at a ~100 px eye distance
    assert width[2] > width[1] > 0  # larger movement, larger response
    lift = features[:, 3 * len(REGIONS) + names.index("corner_lift_right")]
    assert lift[2] > 0.01


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(20, 3))
    angle = 0.4
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                         [0, 0, 1]])
    target = 1.7 * source @ rotation.T + np.array([3.0, -2.0, 0.5])
    scale, r, t = similarity_transform(source, target)
    assert scale == pytest.approx(1.7)
    np.testing.assert_allclose(r, rotation, atol=1e-9)
    np.testing.assert_allclose(t, [3.0, -2.0, 0.5], atol=1e-9)


def test_missing_frames_take_the_nearest_and_no_face_is_an_error():
    landmarks = np.arange(4 * 2 * 3, dtype=float).reshape(4, 2, 3)
    landmarks[1] = np.nan
    landmarks[3] = np.nan
    filled = fill_missing(landmarks)
    np.testing.assert_array_equal(filled[1], landmarks[0])
    np.testing.assert_array_equal(filled[3], landmarks[2])
    with pytest.raises(DataError, match="no face"):
        fill_missing(np.full((3, 2, 3), np.nan))
    with pytest.raises(DataError, match="no face"):
        create_extractor("mesh3d").extract_clip(np.zeros((3, 64, 64, 3), np.uint8))
