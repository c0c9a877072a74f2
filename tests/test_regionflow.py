"""``regionflow``: blind to how the head moves as a whole, and says *where* on a real face a
movement of one or two pixels happened."""

from __future__ import annotations

import numpy as np
import pytest

from faces import astronaut, local_shift, similarity
from mefuse.errors import ConfigError, DataError
from mefuse.features.base import create_extractor, list_extractors
from mefuse.features.geometry.regionflow import (
    DIM,
    REGIONS,
    STATS,
    RegionFlowExtractor,
    feature_names,
    fit_affine_motion,
)
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box
from mefuse.preprocess.landmarks import FaceLandmarker

BOX = Box(148, 42, 156)
"""The astronaut's face box (MediaPipe's detector, 1.5x square), fixed so that tests are fast."""
MOTION = list(STATS).index("magnitude")
DY = list(STATS).index("dy")
DX = list(STATS).index("dx")
BROWS = ["brow_inner_right", "brow_outer_right", "brow_inner_left", "brow_outer_left"]


def crops(frames, size=256):
    return np.stack([crop_square(f, BOX, size) for f in frames])


def per_region(features):
    return features.reshape(len(features), len(REGIONS), len(STATS))


@pytest.fixture(scope="module")
def face():
    """The photograph and its mesh in crop pixels (256 px crops)."""
    image = astronaut()
    with FaceLandmarker(tracking=False) as landmarker:
        points = landmarker(crops([image])[0])
    return image, points[:, :2]


def move(image, points, ids, amount, direction, radius=12.0):
    """``image`` with the skin around crop landmarks ``ids`` moved by ``amount`` crop pixels."""
    scale = BOX.side / 256  # photo pixels per crop pixel
    for index in ids:
        x, y = points[index]
        image = local_shift(image, (BOX.x + x * scale, BOX.y + y * scale), radius * scale,
                            (direction[0] * amount * scale, direction[1] * amount * scale))
    return image


def test_invariant_to_global_rotation_scale_and_translation(face):
    image, _ = face
    centre = (BOX.x + BOX.side / 2, BOX.y + BOX.side / 2)
    frames = [similarity(image, angle=1.5 * t, scale=1 + 0.03 * t, shift=(2.0 * t, -1.5 * t),
                         centre=centre) for t in range(6)]  # up to 7.5 deg, 15 %, 20 px
    features = per_region(create_extractor("regionflow").extract_clip(crops(frames)))
    assert features.shape == (6, len(REGIONS), len(STATS))
    assert np.abs(features[0]).max() == 0
    # motion statistics in inter-ocular distances: 0.0015 is 0.15 px at this face's 100 px
    assert np.abs(features[..., :4]).max() < 0.0015
    assert np.abs(features[..., 4]).max() < 0.008  # strain; a 1 px brow raise gives > 0.015
    # without the second flow on the realigned frame, DIS errs on large head motion
    once = per_region(RegionFlowExtractor(realign_px=1e9).extract_clip(crops(frames)))
    assert np.abs(once[5, :, :4]).max() > 5 * np.abs(features[5, :, :4]).max()


def test_a_brow_raise_of_one_or_two_pixels_moves_the_brows_most(face):
    image, points = face
    brows = (105, 334)  # the middle of each brow
    clip = [image, move(image, points, brows, 1, (0, -1)), move(image, points, brows, 2, (0, -1))]
    features = per_region(create_extractor("regionflow").extract_clip(crops(clip)))
    names = list(REGIONS)
    motion = features[..., MOTION]
    for t in (1, 2):
        strongest = {names[i] for i in np.argsort(motion[t])[-4:]}
        assert strongest == set(BROWS)
        brow_dy = features[t, [names.index(b) for b in BROWS], DY]
        assert (brow_dy < -0.002 * t).all()  # upward (y down), about 0.4 px per pixel raised
        far = [names.index(n) for n in ("mouth_corner_right", "mouth_corner_left", "upper_lip",
                                        "lower_lip", "chin", "nasolabial_right")]
        assert motion[t, far].max() < 0.1 * motion[t].max()
    assert (motion[2, [names.index(b) for b in BROWS]]
            > 1.5 * motion[1, [names.index(b) for b in BROWS]]).all()


def test_a_lip_corner_pull_survives_a_head_movement(face):
    image, points = face
    centre = (BOX.x + BOX.side / 2, BOX.y + BOX.side / 2)
    pulled = move(image, points, (61,), 2, (-0.7, -0.7))  # subject's right corner: image left
    pulled = move(pulled, points, (291,), 2, (0.7, -0.7))
    turned = similarity(pulled, angle=2.0, scale=1.02, shift=(3.0, 1.0), centre=centre)
    features = per_region(create_extractor("regionflow").extract_clip(crops([image, turned])))[1]
    names = list(REGIONS)
    right, left = names.index("mouth_corner_right"), names.index("mouth_corner_left")
    assert features[right, DX] < -0.004 and features[left, DX] > 0.004  # outwards
    assert features[right, DY] < -0.004 and features[left, DY] < -0.004  # and up
    brows = [names.index(b) for b in BROWS]
    assert features[brows, MOTION].max() < 0.3 * features[[right, left], MOTION].min()


def test_robust_affine_fit_ignores_a_minority_that_moves_on_its_own():
    size = 64
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    truth = np.array([[0.5, -0.2], [0.3, 0.8], [1.5, -2.0]])  # rows: x/size, y/size, 1
    design = np.stack([xs / size, ys / size, np.ones_like(xs)], axis=-1).reshape(-1, 3)
    flow = (design @ truth).reshape(size, size, 2).astype(np.float32)
    flow[10:20, 10:20] += np.float32([4.0, -3.0])  # a region moving on its own (2.4 %)
    pixels = np.arange(size * size)
    fitted = fit_affine_motion(flow, pixels, design)
    np.testing.assert_allclose(fitted, truth, atol=1e-3)
    plain, *_ = np.linalg.lstsq(design, flow.reshape(-1, 2), rcond=None)
    assert np.abs(plain - truth).max() > 0.05  # ordinary least squares is pulled away


def test_registry_names_and_errors():
    assert list_extractors()["regionflow"] is RegionFlowExtractor
    extractor = create_extractor("regionflow", size=128)
    assert extractor.kind == "geometry"
    assert extractor.params()["dim"] == DIM == len(feature_names()) == 5 * len(REGIONS)
    assert feature_names()[:2] == ["brow_inner_right.dx", "brow_inner_right.dy"]
    for bad, match in (({"preset": "slow"}, "preset"), ({"size": 32}, "size"),
                       ({"radius": 0}, "radius"), ({"realign_px": -1}, "realign_px")):
        with pytest.raises(ConfigError, match=match):
            RegionFlowExtractor(**bad)
    with pytest.raises(DataError, match="no face"):
        extractor.extract_clip(np.zeros((3, 64, 64, 3), np.uint8))
