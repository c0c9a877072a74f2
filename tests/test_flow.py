"""``flow``: grid-pooled optical flow from the first frame."""

from __future__ import annotations

import numpy as np
import pytest

from faces import astronaut, local_shift
from mefuse.errors import ConfigError
from mefuse.features.appearance.flow import FlowExtractor, grid_summary
from mefuse.features.base import create_extractor
from mefuse.preprocess.crop import crop_square
from mefuse.preprocess.detect import Box


def face_crop():
    return crop_square(astronaut(), Box(148, 42, 156), 256)


def test_grid_summary_averages_each_cell():
    flow = np.zeros((64, 64, 2), np.float32)
    flow[:32, :32, 0] = 2.0  # top-left quarter moves right by 2
    cells = grid_summary(flow, 2).reshape(3, 2, 2)
    assert cells[0].tolist() == [[2.0, 0.0], [0.0, 0.0]]
    assert cells[2, 0, 0] == pytest.approx(2.0)


def test_still_frames_give_zeros_and_first_frame_is_zero():
    crop = face_crop()
    features = create_extractor("flow").extract_clip(np.stack([crop] * 3))
    assert features.shape == (3, 3 * 8 * 8)
    assert np.abs(features).max() < 1e-3


def test_a_local_movement_shows_in_its_cell_and_global_motion_is_removed():
    crop = face_crop()
    moved = local_shift(crop, (64, 160), 14, (0, -3))  # 3 px up, lower-left area
    extractor = FlowExtractor(size=256, grid=4)
    features = extractor.extract_clip(np.stack([crop, moved]))[1].reshape(3, 4, 4)
    dy = features[1] * 256
    assert dy[2, 1] < -0.3 and abs(dy[0, 3]) < 0.1  # the moved cell, and a far one
    shifted = np.roll(crop, 2, axis=1)  # the whole face moves 2 px right
    still = extractor.extract_clip(np.stack([crop, shifted]))[1].reshape(3, 4, 4)
    assert np.abs(still[0, 1:3, 1:3] * 256).max() < 0.3
    raw = FlowExtractor(size=256, grid=4, remove_global="none").extract_clip(
        np.stack([crop, shifted]))[1].reshape(3, 4, 4)
    assert raw[0, 1:3, 1:3].mean() * 256 > 1.5


def test_affine_removal_takes_out_a_small_head_rotation_but_keeps_local_motion():
    from faces import similarity

    crop = face_crop()
    turned = similarity(crop, 1.0, 1.01, (0.5, 0))  # head turns 1 degree and comes closer
    affine = FlowExtractor(size=256, grid=4)
    translation = FlowExtractor(size=256, grid=4, remove_global="translation")
    for_affine = np.abs(affine.extract_clip(np.stack([crop, turned]))[1][:32]).max() * 256
    for_median = np.abs(translation.extract_clip(np.stack([crop, turned]))[1][:32]).max() * 256
    assert for_affine < 0.35 < for_median
    moved = local_shift(turned, (64, 160), 14, (0, -3))
    dy = affine.extract_clip(np.stack([crop, moved]))[1].reshape(3, 4, 4)[1] * 256
    assert dy[2, 1] < -0.3


def test_bad_settings():
    with pytest.raises(ConfigError, match="preset"):
        FlowExtractor(preset="slow")
    with pytest.raises(ConfigError, match="remove_global"):
        FlowExtractor(remove_global="rigid")
    with pytest.raises(ConfigError, match="size"):
        FlowExtractor(size=8)
