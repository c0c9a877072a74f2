"""Frame sources: image folders in frame order, bit depths, videos read lazily, clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mefuse.data.frames import (
    FrameSourceError,
    ImageFolderSource,
    VideoSource,
    frame_number,
    frame_sort_key,
    list_image_files,
    open_frames,
)
from mefuse.errors import DataError


def _write(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB (or grey) array with OpenCV, which expects BGR."""
    array = rgb[:, :, ::-1] if rgb.ndim == 3 else rgb
    assert cv2.imwrite(str(path), np.ascontiguousarray(array))


def _frame(value: int, shape: tuple[int, ...] = (12, 16, 3)) -> np.ndarray:
    frame = np.zeros(shape, np.uint8)
    frame[..., 0] = value
    if len(shape) == 3:
        frame[..., 1] = 255 - value
        frame[..., 2] = 7
    return frame


# --------------------------------------------------------------------------- ordering
def test_sort_key_orders_by_first_integer_then_the_rest_then_unnumbered():
    names = ["img10.jpg", "img2.jpg", "zz.png", "img1.jpg", "aa.png", "001_10.png", "001_2.png"]
    ordered = sorted(names, key=frame_sort_key)
    assert ordered == ["img1.jpg", "001_2.png", "001_10.png", "img2.jpg", "img10.jpg",
                       "aa.png", "zz.png"]
    assert frame_number("006_05562.jpg") == 5562
    assert frame_number("img46.jpg") == 46
    assert frame_number("face.jpg") is None


def test_image_folder_is_read_in_frame_order_with_mixed_formats(tmp_path):
    # img2 must come before img10 (a plain name sort would put img10 first).
    for number, ext in [(10, "png"), (2, "bmp"), (1, "jpg"), (3, "PNG")]:
        _write(tmp_path / f"img{number}.{ext}", _frame(number * 20))
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / ".hidden1.png").write_bytes(b"junk")
    (tmp_path / "sub").mkdir()
    with open_frames(tmp_path) as source:
        assert isinstance(source, ImageFolderSource)
        assert [f.name for f in source.files] == ["img1.jpg", "img2.bmp", "img3.PNG", "img10.png"]
        assert len(source) == 4
        frames = list(source.iter_frames())
    assert [int(f[..., 0].mean().round()) for f in frames[1:]] == [40, 60, 200]  # lossless
    assert abs(float(frames[0][..., 0].mean()) - 20) < 3  # jpeg, lossy
    for frame in frames:
        assert frame.shape == (12, 16, 3) and frame.dtype == np.uint8
        # RGB order: the red channel holds the value written as red.
        assert frame[..., 2].mean() == pytest.approx(7, abs=3)


def test_grey_and_16_bit_frames_keep_their_shape_and_depth(tmp_path):
    grey = (np.arange(12 * 16).reshape(12, 16) % 256).astype(np.uint8)
    deep = (np.arange(12 * 16).reshape(12, 16) * 300).astype(np.uint16)
    deep_colour = np.stack([deep, deep // 2, deep // 3], axis=-1)
    _write(tmp_path / "0.png", grey)
    _write(tmp_path / "1.png", deep)
    _write(tmp_path / "2.tif", deep_colour)
    source = open_frames(tmp_path)
    first, second, third = (source.read(i) for i in range(3))
    assert first.shape == (12, 16) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, grey)
    assert second.dtype == np.uint16 and second.max() > 255
    np.testing.assert_array_equal(second, deep)
    assert third.shape == (12, 16, 3) and third.dtype == np.uint16
    np.testing.assert_array_equal(third, deep_colour)  # RGB back, not BGR


def test_alpha_channel_is_dropped(tmp_path):
    bgra = np.zeros((4, 4, 4), np.uint8)
    bgra[..., 2] = 200  # red in BGRA
    bgra[..., 3] = 255
    assert cv2.imwrite(str(tmp_path / "0.png"), bgra)
    frame = open_frames(tmp_path).read(0)
    assert frame.shape == (4, 4, 3) and frame[0, 0].tolist() == [200, 0, 0]


# --------------------------------------------------------------------------- errors
def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FrameSourceError, match="does not exist"):
        open_frames(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    with pytest.raises(FrameSourceError, match="holds no image files"):
        open_frames(empty)
    other = tmp_path / "labels.csv"
    other.write_text("a,b\n")
    with pytest.raises(FrameSourceError, match="neither a folder of frames nor a video"):
        open_frames(other)
    assert issubclass(FrameSourceError, DataError)


def test_unreadable_image_is_named_and_other_frames_still_read(tmp_path):
    _write(tmp_path / "1.png", _frame(10))
    (tmp_path / "2.jpg").write_bytes(b"this is not a jpeg at all")
    _write(tmp_path / "3.png", _frame(30))
    source = open_frames(tmp_path)
    assert len(source) == 3
    with pytest.raises(FrameSourceError, match=r"2\.jpg"):
        source.read(1)
    assert source.read(2)[..., 0].mean() == 30


def test_index_out_of_range(tmp_path):
    _write(tmp_path / "1.png", _frame(10))
    source = open_frames(tmp_path)
    for bad in (1, -1):
        with pytest.raises(FrameSourceError, match="out of range"):
            source.read(bad)
    with pytest.raises(FrameSourceError, match="out of range"):
        list(source.iter_frames([0, 5]))


def test_list_image_files_on_a_missing_folder(tmp_path):
    with pytest.raises(FrameSourceError, match="does not exist"):
        list_image_files(tmp_path / "nope")


# --------------------------------------------------------------------------- video
def _video(path: Path, count: int, fourcc: str, shape=(48, 64)) -> list[np.ndarray]:
    """Write ``count`` frames whose brightness encodes their index; return them (RGB)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 25.0,
                             (shape[1], shape[0]))
    assert writer.isOpened(), f"cannot write {fourcc} video here"
    frames = []
    for index in range(count):
        rgb = np.zeros((*shape, 3), np.uint8)
        rgb[..., 0] = 8 * index  # red ramps with the index
        rgb[..., 1] = 100
        frames.append(rgb)
        writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))
    writer.release()
    return frames


def _index_of(frame: np.ndarray) -> int:
    return round(float(frame[..., 0].mean()) / 8)


@pytest.mark.parametrize(("name", "fourcc"), [("clip.avi", "MJPG"), ("clip.mp4", "mp4v")])
def test_video_is_read_lazily_in_any_order(tmp_path, name, fourcc):
    path = tmp_path / name
    written = _video(path, 30, fourcc)
    with open_frames(path) as source:
        assert isinstance(source, VideoSource)
        assert len(source) == 30
        first = source.read(0)
        assert first.shape == (48, 64, 3) and first.dtype == np.uint8
        assert np.abs(first.astype(int) - written[0]).mean() < 6  # RGB, not BGR
        wanted = [0, 3, 4, 20, 29, 2, 15]  # forward grabs, a long jump, and going back
        got = [_index_of(f) for f in source.iter_frames(wanted)]
        assert got == wanted
        assert [_index_of(f) for f in source.iter_frames()] == list(range(30))
        with pytest.raises(FrameSourceError, match="out of range"):
            source.read(30)
    with pytest.raises(FrameSourceError, match="closed"):
        source.read(0)


def test_video_with_a_lying_frame_count_is_counted(tmp_path):
    path = tmp_path / "clip.avi"
    _video(path, 12, "MJPG")
    # A header that promises more frames than the file holds, fewer, or none.
    for lie in (40, 5, 0):
        source = VideoSource(path)
        source.reported_count = lie
        assert len(source) == 12, lie
        assert _index_of(source.read(11)) == 11
        source.close()


def test_video_that_cannot_be_opened(tmp_path):
    path = tmp_path / "broken.mp4"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(FrameSourceError, match=r"broken\.mp4"):
        source = open_frames(path)
        len(source)
