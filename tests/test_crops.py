"""Each encoder's crop rule on a real photo lands on the face, at that rule's scale."""

from __future__ import annotations

import numpy as np
import pytest

from mefuse.errors import DataError
from mefuse.features.geometry.clip_landmarks import clip_landmarks, fill_missing
from mefuse.features.geometry.crops import (
    TDDFA_TEMPLATE,
    cut_zero_padded,
    faceverse_crop,
    fit_scale_translation,
    five_points,
    smirk_crop,
    tddfa_crop,
)

pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photo():
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def landmarks(photo):
    from mefuse.preprocess.landmarks import FaceLandmarker

    with FaceLandmarker(tracking=False) as marker:
        points = marker(photo)
    assert points is not None, "MediaPipe must find the astronaut's face"
    return points


def _inside(points, size):
    return bool(((points >= 0) & (points < size)).all())


def test_smirk_crop_frames_the_landmarks_at_1_4(photo, landmarks):
    crop = smirk_crop(photo, landmarks)
    assert crop.image.shape == (224, 224, 3) and crop.image.dtype == np.uint8
    projected = crop.project(landmarks)
    centroid = projected.mean(axis=0)
    assert _inside(centroid[None], 224)
    assert np.allclose(centroid, 112, atol=20)
    extent = projected.max(axis=0) - projected.min(axis=0)
    # side = 1.4 x mean(width, height): the mean extent fills 1/1.4 of the crop
    assert extent.mean() / 224 == pytest.approx(1 / 1.4, abs=0.02)
    assert _inside(projected, 224)
    # the pixels are the photo's: the crop's centre is skin, not black padding
    assert crop.image[100:124, 100:124].mean() > 60


def test_faceverse_crop_is_the_shifted_1_3_square(photo, landmarks):
    crop = faceverse_crop(photo, landmarks)
    assert crop.image.shape == (256, 256, 3)
    projected = crop.project(landmarks)
    low, high = projected.min(axis=0), projected.max(axis=0)
    assert _inside(projected, 256)
    # the longer side of the landmark box spans 1 / 1.3 of the crop
    assert (high - low).max() / 256 == pytest.approx(1 / 1.3, abs=0.02)
    box_centre = (low + high) / 2
    assert box_centre[0] / 256 == pytest.approx(0.5, abs=0.02)
    assert box_centre[1] / 256 == pytest.approx(0.7 / 1.3, abs=0.02)  # shifted down in the crop


def test_tddfa_crop_puts_the_five_points_on_the_template(photo, landmarks):
    crop = tddfa_crop(photo, landmarks)
    assert crop.image.shape == (224, 224, 3)
    points = crop.project(five_points(landmarks))
    # the template (y up) scaled by 102 around the crop centre is about where the points go
    # (the fit is a free 3D -> 2D affine map, so depth shifts the nose a little)
    expected = np.stack([112 + 102 * TDDFA_TEMPLATE[:, 0], 112 - 102 * TDDFA_TEMPLATE[:, 1]], 1)
    error = np.linalg.norm(points - expected, axis=1)
    assert error.max() < 20 and error.mean() < 12
    eye_distance = np.linalg.norm(points[1] - points[0])
    assert 50 < eye_distance < 80
    assert _inside(crop.project(landmarks).mean(axis=0)[None], 224)


def test_crops_pad_with_black_when_the_face_touches_the_border(photo, landmarks):
    shifted = photo[60:, 150:]  # the face now touches the top-left corner
    moved = landmarks.copy()
    moved[:, 0] -= 150
    moved[:, 1] -= 60
    for rule in (smirk_crop, faceverse_crop, tddfa_crop):
        crop = rule(shifted, moved)
        assert crop.image[:3, :3].max() == 0, rule.__name__
        projected = crop.project(moved).mean(axis=0)
        assert _inside(projected[None], crop.image.shape[0])


def test_scale_fit_recovers_a_known_projection():
    scale, translation = 80.0, np.array([120.0, -40.0])
    points = scale * TDDFA_TEMPLATE[:, :2] + translation
    fitted_scale, fitted_translation = fit_scale_translation(points, TDDFA_TEMPLATE)
    assert fitted_scale == pytest.approx(scale, rel=1e-6)
    assert np.allclose(fitted_translation, translation)


def test_cut_zero_padded_keeps_pixels_and_pads():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    cut = cut_zero_padded(image, -1, -1, 2, 2)
    assert cut.shape == (3, 3)
    assert cut[0].tolist() == [0, 0, 0] and cut[1].tolist() == [0, 0, 1]


def test_missing_frames_take_the_nearest_frames_landmarks():
    marks = np.stack([np.full((478, 3), float(i)) for i in range(5)])
    marks[[0, 2, 3]] = np.nan
    filled = fill_missing(marks, stage="test crop")
    assert [f[0, 0] for f in filled] == [1.0, 1.0, 1.0, 4.0, 4.0]


def test_a_clip_without_any_face_names_the_stage():
    blank = np.zeros((3, 64, 64, 3), np.uint8)
    with pytest.raises(DataError, match=r"smirk crop.*no face in any of the 3 frame"):
        clip_landmarks(blank, stage="smirk crop (face landmarks)")
