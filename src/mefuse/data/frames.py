"""Frame sources: a clip's frames, from a folder of images or a video file, read lazily.

ME datasets ship their clips either as folders of numbered images (CASME II, SAMM, 4DME,
the 4DMR challenge) or as video files. Both are wrapped in a :class:`FrameSource` that knows its
length and decodes a frame only when asked, so a long, high-resolution clip is never held whole
in memory and checking a dataset (``mefuse check-data``) costs a directory listing, not a decode.

Conventions every consumer can rely on:

- frames come back as numpy arrays in **RGB** order (colour ``(H, W, 3)``) or as 2-D grey
  ``(H, W)``; the file's bit depth is kept (``uint8`` or ``uint16``), so 16-bit texture frames
  are not silently truncated;
- image folders are ordered by the integers in the file names (``img2`` before ``img10``), the
  first integer first, which is how the 4DMR authors ordered theirs; later integers break ties
  (``001_2.png`` before ``001_10.png``), and names without any integer come last, by name;
- every failure is a :class:`FrameSourceError` (a :class:`~mefuse.errors.DataError`) whose
  message names the path, so a pipeline can report the clip and go on with the others.
"""

from __future__ import annotations

import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from mefuse.errors import DataError

if TYPE_CHECKING:
    import cv2

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
"""Image file extensions read as frames (compared case-insensitively)."""

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".avi", ".mov", ".mkv"})
"""Video file extensions read as clips (compared case-insensitively)."""

_INTEGER = re.compile(r"\d+")

# Seeking in a compressed video decodes from the previous key frame; for a short forward jump it
# is cheaper to decode (grab) the frames in between.
_MAX_FORWARD_GRAB = 48


class FrameSourceError(DataError):
    """A frame source is missing, empty, unreadable, or was asked for a frame it lacks."""


# --------------------------------------------------------------------------- file names
def integers_in(name: str) -> tuple[int, ...]:
    """All integers in ``name``, in order: ``"006_05562.jpg"`` -> (6, 5562)."""
    return tuple(int(m) for m in _INTEGER.findall(name))


def frame_sort_key(name: str) -> tuple[int, tuple[int, ...], str]:
    """Sort key for frame files: by the first integer in the name, then the next ones, then the
    name; names without any integer sort after all numbered ones."""
    numbers = integers_in(Path(name).stem)
    return (0 if numbers else 1, numbers, name)


def frame_number(name: str) -> int | None:
    """The frame number written in a file name: its last integer (``img46.jpg`` -> 46,
    ``006_05562.jpg`` -> 5562), or None when the name has none.

    Label sheets give onset and offset as these numbers, not as positions in the folder.
    """
    numbers = integers_in(Path(name).stem)
    return numbers[-1] if numbers else None


def list_image_files(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, in frame order (see :func:`frame_sort_key`).

    Hidden files (``.DS_Store``, macOS ``._img1.jpg`` forks) are skipped. An empty list is
    returned for a folder without images; a missing folder raises :class:`FrameSourceError`.
    """
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        raise FrameSourceError(f"frame folder {folder} does not exist") from None
    except NotADirectoryError:
        raise FrameSourceError(f"{folder} is not a folder") from None
    except PermissionError as exc:
        raise FrameSourceError(f"frame folder {folder} cannot be listed: {exc}") from None
    files = [
        p for p in entries
        if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(files, key=lambda p: frame_sort_key(p.name))


def is_video_file(path: str | Path) -> bool:
    """Whether ``path`` has a video extension (the file need not exist)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


# --------------------------------------------------------------------------- sources
class FrameSource(ABC):
    """A sequence of frames that are decoded on demand.

    ``len(source)`` is the number of frames; :meth:`read` decodes one; :meth:`iter_frames`
    decodes several in the order asked, cheaply when they are increasing. Use it as a context
    manager (or call :meth:`close`) to release the file handle of a video.
    """

    path: Path

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as RGB ``(H, W, 3)`` or grey ``(H, W)``."""

    def iter_frames(self, indices: Sequence[int] | None = None) -> Iterator[np.ndarray]:
        """The frames at ``indices`` (all frames when None), in the order given, one at a time."""
        if indices is None:
            indices = range(len(self))
        for index in indices:
            yield self.read(index)

    def close(self) -> None:  # noqa: B027 - a no-op by default: image folders hold no handle
        """Release any open file; reading again afterwards is an error for videos."""

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise FrameSourceError(f"{self.path}: frame index must be an integer, got {index!r}")
        index = int(index)
        count = len(self)
        if not 0 <= index < count:
            raise FrameSourceError(
                f"{self.path}: frame index {index} is out of range (the source has {count} "
                f"frame{'s' if count != 1 else ''}, indices 0..{count - 1})"
            )
        return index

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, frames={len(self)})"


def _to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR / BGRA / grey array as RGB or 2-D grey, dtype kept."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return image


class ImageFolderSource(FrameSource):
    """The image files of one folder, in frame order; each is decoded when read."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder)
        self.files: list[Path] = list_image_files(self.path)
        if not self.files:
            raise FrameSourceError(
                f"frame folder {self.path} holds no image files (looked for "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))})"
            )

    def __len__(self) -> int:
        return len(self.files)

    def read(self, index: int) -> np.ndarray:
        import cv2

        file = self.files[self._check_index(index)]
        try:
            image = cv2.imread(str(file), cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:
            raise FrameSourceError(f"cannot read image {file}: {exc}") from None
        if image is None or image.size == 0:
            reason = "file is gone" if not file.exists() else "corrupt or not an image"
            raise FrameSourceError(f"cannot read image {file} ({reason})")
        return _to_rgb(image)

class VideoSource(FrameSource):
    """A video file read through ``cv2.VideoCapture``, one frame at a time.

    Containers often misreport their frame count (``CAP_PROP_FRAME_COUNT`` comes from the
    header or from duration x rate). The count is therefore checked on first use: the last
    reported frame must decode and the one after it must not; otherwise the frames are counted
    by grabbing them (demux and decode, but no colour conversion and nothing kept). A read that
    fails later, inside the reported range, shortens the count and raises a clear error.
    """

    def __init__(self, file: str | Path) -> None:
        import cv2

        self.path = Path(file)
        if not self.path.is_file():
            raise FrameSourceError(f"video file {self.path} does not exist")
        if self.path.stat().st_size == 0:
            raise FrameSourceError(f"video file {self.path} is empty (0 bytes)")
        self._capture = open_capture(self.path)
        if not self._capture.isOpened():
            self._capture.release()
            raise FrameSourceError(
                f"video file {self.path} cannot be opened (unsupported codec or corrupt file)"
            )
        self._position = 0  # index of the frame the next capture.read() returns
        self._count: int | None = None
        self._closed = False
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.reported_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)

    # ----------------------------------------------------------------- counting
    def __len__(self) -> int:
        if self._count is None:
            self._count = self._verified_count()
        return self._count

    def _verified_count(self) -> int:
        reported = self.reported_count
        if reported > 0:
            last_ok = self._grab_at(reported - 1)
            beyond = last_ok and self._grab_next()
            if last_ok and not beyond:
                return reported
        return self._count_by_grabbing()

    def _count_by_grabbing(self) -> int:
        self._seek(0)
        count = 0
        while self._capture.grab():
            count += 1
        self._position = count
        if count == 0:
            raise FrameSourceError(f"video file {self.path} has no decodable frame")
        return count

    # ----------------------------------------------------------------- positioning
    def _ensure_open(self) -> None:
        if self._closed:
            raise FrameSourceError(f"video file {self.path} was closed")

    def _seek(self, index: int) -> None:
        import cv2

        self._capture.set(cv2.CAP_PROP_POS_FRAMES, float(index))
        self._position = index

    def _grab_next(self) -> bool:
        ok = bool(self._capture.grab())
        if ok:
            self._position += 1
        return ok

    def _move_to(self, index: int) -> bool:
        """Position the capture so that the next read returns frame ``index``."""
        if index == self._position:
            return True
        if self._position < index <= self._position + _MAX_FORWARD_GRAB:
            while self._position < index:
                if not self._grab_next():
                    return False
            return True
        self._seek(index)
        return True

    def _grab_at(self, index: int) -> bool:
        return self._move_to(index) and self._grab_next()

    # ----------------------------------------------------------------- reading
    def read(self, index: int) -> np.ndarray:
        self._ensure_open()
        index = self._check_index(index)
        ok = self._move_to(index)
        frame = None
        if ok:
            ok, frame = self._capture.read()
        if not ok or frame is None:
            # The container promised more frames than it holds: shrink the count to what
            # really decodes, so that callers who ask len() again get the truth.
            self._count = None
            self._count = self._count_by_grabbing()
            raise FrameSourceError(
                f"video file {self.path}: frame {index} cannot be decoded (the file holds "
                f"{self._count} decodable frames)"
            )
        self._position = index + 1
        return _to_rgb(frame)

    def iter_frames(self, indices: Sequence[int] | None = None) -> Iterator[np.ndarray]:
        """Frames at ``indices`` (all when None). Increasing indices are read in one forward
        pass (short gaps are skipped by grabbing, long ones by seeking); nothing is cached."""
        self._ensure_open()
        for index in range(len(self)) if indices is None else indices:
            yield self.read(index)

    def close(self) -> None:
        if not self._closed:
            self._capture.release()
            self._closed = True


_OPEN_LOCK = threading.Lock()


def open_capture(path: Path) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` on ``path`` through FFmpeg, with the native libraries' own log
    lines about a file they cannot read kept out of the terminal.

    A file that does not open gets mefuse's error naming it (:class:`FrameSourceError`); what
    FFmpeg ("moov atom not found", "EBML header parsing failed"), OpenCV's backend warnings and
    its built-in AVI reader ("Unexpected element ...", written straight to stderr when every
    other backend has failed) print on their own is a stray line beside it. So FFmpeg's log
    level is set to quiet before its first use in the process (``OPENCV_FFMPEG_LOGLEVEL``, read
    then; a value the user set is kept), FFmpeg is asked for by name (it is the backend any
    other choice would try first), and OpenCV's log level is raised to errors for the open
    call only. ``MEFUSE_NATIVE_LOGS=1`` leaves every library as it is.
    """
    import cv2

    if os.environ.get("MEFUSE_NATIVE_LOGS"):
        return cv2.VideoCapture(str(path))
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):  # a build without FFmpeg
        return cv2.VideoCapture(str(path))
    logging = cv2.utils.logging
    with _OPEN_LOCK:  # the log level is per process: no other open may restore it meanwhile
        previous = logging.getLogLevel()
        logging.setLogLevel(min(previous, logging.LOG_LEVEL_ERROR))
        try:
            return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        finally:
            logging.setLogLevel(previous)


def open_frames(path: str | Path) -> FrameSource:
    """Open a clip's frames: an image folder or a video file (mp4, avi, mov, mkv).

    Raises :class:`FrameSourceError` when the path is missing, a folder holds no images, a file
    is not a video, or a video cannot be opened. Nothing is decoded here.
    """
    path = Path(path)
    if path.is_dir():
        return ImageFolderSource(path)
    if path.is_file():
        if is_video_file(path):
            return VideoSource(path)
        raise FrameSourceError(
            f"{path} is neither a folder of frames nor a video file (video extensions: "
            f"{', '.join(sorted(VIDEO_EXTENSIONS))})"
        )
    raise FrameSourceError(f"frame source {path} does not exist")


__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameSource",
    "FrameSourceError",
    "ImageFolderSource",
    "VideoSource",
    "frame_number",
    "frame_sort_key",
    "integers_in",
    "is_video_file",
    "list_image_files",
    "open_frames",
]
