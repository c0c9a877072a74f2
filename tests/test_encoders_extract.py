"""The encoders as extractors: real landmarks on real frames, batching across clips, smoothing,
frames without a face, and an import that works without timm."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mefuse.errors import DataError
from mefuse.features.geometry.temporal import smooth

pytest.importorskip("timm")
pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from mefuse.features.geometry.encoders import ENCODERS  # noqa: E402
from test_encoders_checkpoints import FILES, checkpoints  # noqa: E402, F401


def face_clip(frames: int = 3, seed: int = 0) -> np.ndarray:
    """A face-crop clip from the astronaut photo: the face jitters by a few pixels."""
    photo = skimage_data.astronaut()
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(frames):
        dx, dy = rng.integers(-4, 5, size=2)
        out.append(photo[20 + dy:260 + dy, 105 + dx:345 + dx])
    return np.stack(out)


@pytest.fixture(scope="module")
def smirk(checkpoints):  # noqa: F811
    folder, _ = checkpoints
    return ENCODERS["smirk"](checkpoint=folder, device="cpu", batch_size=4)


def test_extract_clips_batches_across_clips_like_one_clip_at_a_time(smirk):
    first, second = face_clip(3, seed=1), face_clip(2, seed=2)
    together = smirk.extract_clips([first, second])
    assert [a.shape for a in together] == [(3, 50), (2, 50)]
    alone = smirk.extract_clip(second)
    assert np.allclose(together[1], alone, rtol=1e-4, atol=1e-3)
    assert not np.allclose(together[0][0], together[0][1])  # frames differ, features differ


def test_frames_without_a_face_reuse_the_nearest_landmarks(smirk):
    clip = face_clip(3, seed=3)
    clip[1] = 0  # MediaPipe finds nothing on a black frame
    crops = smirk.crops(clip)
    # the black frame was cut with a face's landmarks: black crop, same framing as its neighbour
    assert crops[1].max() == 0
    assert crops[0].mean() > 60


def test_a_clip_without_a_face_is_a_data_error_that_names_it(smirk):
    blank = np.zeros((2, 120, 120, 3), np.uint8)
    with pytest.raises(DataError, match=r"smirk crop \(face landmarks\).*clip 2 of 2") as info:
        smirk.extract_clips([face_clip(2), blank])
    assert info.value.clip_index == 1


def test_bad_frame_arrays_are_refused(smirk):
    with pytest.raises(DataError, match=r"\(T, H, W, 3\) uint8"):
        smirk.extract_clip(np.zeros((2, 64, 64), np.uint8))


def test_smoothing_is_recorded_and_applied(checkpoints):  # noqa: F811
    folder, _ = checkpoints
    plain = ENCODERS["smirk"](checkpoint=folder, device="cpu")
    smoothed = ENCODERS["smirk"](checkpoint=folder, device="cpu", smoothing="mean",
                                 smoothing_window="3")
    assert plain.params()["smoothing"] == "none"
    assert smoothed.params()["smoothing"] == "mean"
    assert smoothed.params()["smoothing_window"] == 3
    clip = face_clip(4, seed=4)
    raw = plain.extract_clip(clip)
    assert np.allclose(smoothed.extract_clip(clip), smooth(raw, "mean", 3), atol=1e-5)


def test_smooth_moving_average_and_savgol():
    ramp = np.arange(6, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    assert np.allclose(smooth(ramp, "mean", 3)[1:-1], ramp[1:-1])  # a line stays a line
    assert smooth(ramp, "mean", 3)[0, 0] == pytest.approx(1 / 3)  # edge repeats frame 0
    spike = np.zeros((7, 1), np.float32)
    spike[3] = 3
    assert smooth(spike, "mean", 3)[3, 0] == pytest.approx(1.0)
    assert smooth(spike, "savgol", 5)[3, 0] > smooth(spike, "mean", 5)[3, 0]  # keeps peaks
    assert smooth(spike[:2], "savgol", 5).shape == (2, 1)  # shorter than the window
    assert np.array_equal(smooth(spike, "none", 5), spike)


def test_encoders_module_imports_without_timm_and_explains_when_used(checkpoints):  # noqa: F811
    folder, _ = checkpoints
    code = (
        "import sys; sys.modules['timm'] = None; sys.modules['torchvision'] = None\n"
        "from mefuse.features.geometry import encoders\n"
        "from mefuse.errors import MefuseError\n"
        "try:\n"
        f"    encoders.ENCODERS['smirk'](checkpoint={str(folder)!r}, device='cpu')\n"
        "except MefuseError as exc:\n"
        "    print('ERR', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "pip install 'mefuse[timm]'" in result.stdout
