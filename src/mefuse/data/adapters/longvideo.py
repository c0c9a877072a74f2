"""Long-video datasets for spotting: CAS(ME)^2, SAMM Long Videos and CAS(ME)^3 part A.

Spotting needs whole videos and the expression intervals in them, not clips cut around each
expression, so these adapters return a :class:`LongVideoDataset` (videos + an interval table,
see :mod:`mefuse.data.intervals`) rather than the clip adapters' :class:`Dataset`. They follow
the clip adapters' rules: a bad row is skipped and named in ``problems`` (information-only
entries start with ``"note: "``), and sheet frame *numbers* (the integer in a frame file's name)
become 0-based *positions* in the video's frame order with the same clamping rules as
:func:`~mefuse.data.adapters.base.frame_window`. The dataset's own numbers stay in
``onset_frame``, ``apex_frame`` and ``offset_frame``.

Layouts and sheets, as the datasets ship them and public MEGC spotting code reads them:

- ``casme2-lv`` (30 fps): frames ``rawpic/s15/15_0101disgustingteeth/img1.jpg`` (``cropped/``
  has the same layout); ``CAS(ME)^2code_final.xlsx`` (or ``...(Updated).xlsx``): first sheet
  without a header, columns participant number, ``<expression>_<n>`` name, onset, apex, offset
  (0 = not coded: the apex ends the interval), AUs, estimated emotion, type
  (``micro-expression`` / ``macro-expression``), self-reported emotion; sheet ``naming rule1``
  maps participant numbers (column 3) to the subject folder (column 1, ``s15``; column 2,
  ``15``, is tried too), ``naming rule2`` maps expression names (column 2, ``disgust1``) to the
  video code (column 1, ``101``) that follows ``15_`` in the video folder's name.
- ``samm-lv`` (200 fps): frames ``SAMM_longvideos/006_1/006_1_0001.jpg``;
  ``SAMM_LongVideos_V3_Release.xlsx`` (V1/V2 alike): a block of text, then Subject, Filename
  (``006_1_3`` = video ``006_1``, expression 3), Inducement Code, Onset, Apex, Offset, Duration,
  Type (``Micro - 1/2`` or ``Macro``), Action Units, Notes; an ``Emotion`` column is read when
  present. Offset 0 = not coded, as above.
- ``casme3-lv`` (30 fps): part A frames ``<part_A>/spNO.1/a/color/0.jpg`` (the jpg index is the
  frame number); ``cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`` (sheet ``label``: Subject,
  Filename, Onset, Apex, Offset, AU, emotion) for MEs and
  ``cas(me)3_part_A_MaE_label_JpgIndex_v2_emotion.xlsx`` (sub, seq, onset, apex, offset,
  emotion) for macro-expressions, found in the root or its ``annotation/`` folder.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mefuse.data.adapters.base import (
    NOTE,
    HasProblems,
    auto_find,
    cell_int,
    cell_text,
    find_column,
    is_missing,
    read_sheet,
    require_columns,
    resolve_child,
    safe_id,
    sheet_row,
)
from mefuse.data.frames import frame_number, list_image_files
from mefuse.data.intervals import MAE, ME, expression_type
from mefuse.errors import ConfigError, DataError
from mefuse.utils.registry import Registry

LongVideoAdapter = Callable[..., "LongVideoDataset"]
"""``adapter(root, labels=None, **options) -> LongVideoDataset``."""

LONG_VIDEO_ADAPTERS: Registry[LongVideoAdapter] = Registry("long-video dataset kind")
"""Long-video adapters by kind (``casme2-lv``, ``samm-lv``, ``casme3-lv``)."""

INTERVAL_COLUMNS = ("video", "subject", "onset", "apex", "offset", "type", "emotion",
                    "onset_frame", "apex_frame", "offset_frame", "aus")


def register_long_video(kind: str) -> Callable[[LongVideoAdapter], LongVideoAdapter]:
    """Function decorator: make the adapter available as ``load_long_videos(kind, ...)``."""
    return LONG_VIDEO_ADAPTERS.register(kind)


@dataclass
class LongVideo:
    """One long video: an image folder whose files, in frame order, are its frames."""

    video_id: str
    subject: str
    source: Path
    fps: float
    n_frames: int


@dataclass
class LongVideoDataset(HasProblems):
    """Videos, their expression intervals and the problems met reading them.

    ``intervals`` columns: ``video, subject, onset, apex, offset`` (0-based inclusive positions
    in the video's frame order; ``apex`` may be empty), ``type`` (``ME``/``MaE``), ``emotion``,
    ``onset_frame, apex_frame, offset_frame`` (the sheet's frame numbers) and ``aus``. It can be
    given as is as the ground truth of :func:`mefuse.spotting.evaluate_spotting`.
    """

    name: str
    root: Path
    fps: float
    videos: list[LongVideo]
    intervals: pd.DataFrame
    problems: list[str] = field(default_factory=list)

    @property
    def subjects(self) -> list[str]:
        """Distinct subjects, in video order."""
        return list(dict.fromkeys(v.subject for v in self.videos))

    def video(self, video_id: str) -> LongVideo:
        """The video called ``video_id`` (a DataError naming a few known ids otherwise)."""
        for video in self.videos:
            if video.video_id == video_id:
                return video
        known = ", ".join(v.video_id for v in self.videos[:5])
        raise DataError(f"{self.name}: no video {video_id!r} (videos: {known} ...)")

    def videos_frame(self) -> pd.DataFrame:
        """The videos as a table: ``video, subject, source, fps, n_frames``."""
        return pd.DataFrame([{"video": v.video_id, "subject": v.subject, "source": str(v.source),
                              "fps": v.fps, "n_frames": v.n_frames} for v in self.videos],
                            columns=["video", "subject", "source", "fps", "n_frames"])

    def counts(self) -> dict[str, int]:
        """Intervals per type."""
        return {kind: int((self.intervals["type"] == kind).sum()) for kind in (ME, MAE)}


def list_long_video_kinds(pattern: str | None = None) -> list[str]:
    """The long-video dataset kinds, sorted; ``pattern`` filters shell-style."""
    return LONG_VIDEO_ADAPTERS.names(pattern)


def long_video_options(kind: str) -> dict[str, Any]:
    """The options a long-video adapter accepts, with their defaults."""
    signature = inspect.signature(LONG_VIDEO_ADAPTERS.lookup(kind.lower()))
    return {name: p.default for name, p in signature.parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def load_long_videos(kind: str, root: str | Path, labels: str | Path | None = None,
                     **options: Any) -> LongVideoDataset:
    """Read the long-video dataset at ``root`` with the adapter ``kind``.

    ``labels`` names the label sheet when it is not where the adapter looks; ``options`` are the
    adapter's own (``frames``: the frame folder; ``macro_labels`` for ``casme3-lv``). An unknown
    option is refused, naming the valid ones.
    """
    adapter = LONG_VIDEO_ADAPTERS.lookup(kind.lower())
    accepted = long_video_options(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {kind!r} has no option(s) {', '.join(unknown)}; its options "
                          f"are {', '.join(accepted) or 'none'}")
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root {root} is not a folder")
    return adapter(root, Path(labels) if labels is not None else None, **options)


# --------------------------------------------------------------------------- shared reading
class _Collector:
    """Videos found on disk and the intervals of the sheet rows, with the problems met."""

    def __init__(self, name: str, root: Path, fps: float) -> None:
        self.name, self.root, self.fps = name, root, fps
        self.videos: dict[str, LongVideo] = {}
        self.numbers: dict[str, list[int | None]] = {}
        self.rows: list[dict[str, Any]] = []
        self.problems: list[str] = []

    def add_video(self, video_id: str, subject: str, folder: Path) -> None:
        files = list_image_files(folder)
        if not files:
            return
        video_id = safe_id(video_id)
        if video_id in self.videos:
            self.problems.append(f"video id {video_id} given by both {self.videos[video_id].source}"
                                 f" and {folder}; the second is left out")
            return
        self.videos[video_id] = LongVideo(video_id, subject, folder, self.fps, len(files))
        self.numbers[video_id] = [frame_number(f.name) for f in files]

    def add_interval(self, label: str, video_id: str, kind: str | None, onset: Any, apex: Any,
                     offset: Any, emotion: Any = None, aus: Any = None) -> None:
        """Append the row's interval, or name why it is skipped."""
        if kind is None:
            self.problems.append(f"{label}: expression type is neither micro nor macro; skipped")
            return
        video = self.videos.get(video_id)
        if video is None:
            self.problems.append(f"{label}: no frames of video {video_id} under the frame "
                                 "folder; skipped")
            return
        first, peak, last = cell_int(onset), cell_int(apex), cell_int(offset)
        if peak is not None and peak <= 0 and (first is None or first > 0):
            peak = None  # SAMM writes -1 (and some sheets 0) for "no apex"
        if first is None:
            self.problems.append(f"{label}: onset {onset!r} is not a frame number; skipped")
            return
        if last is None or last == 0:
            if peak is None or peak < first:
                self.problems.append(f"{label}: no offset ({offset!r}) and no apex to end the "
                                     "interval; skipped")
                return
            self.problems.append(f"{NOTE}{label}: offset not coded ({offset!r}); the apex "
                                 f"{peak} ends the interval")
            last = peak
        if last < first:
            self.problems.append(f"{label}: offset {last} comes before onset {first}; skipped")
            return
        positions = self._positions(label, video_id, first, peak, last)
        if positions is None:
            return
        start, apex_at, end = positions
        self.rows.append({"video": video_id, "subject": video.subject, "onset": start,
                          "apex": apex_at, "offset": end, "type": kind,
                          "emotion": None if is_missing(emotion) else cell_text(emotion),
                          "onset_frame": first, "apex_frame": peak, "offset_frame": last,
                          "aus": None if is_missing(aus) else cell_text(aus)})

    def _positions(self, label: str, video_id: str, onset: int, apex: int | None, offset: int
                   ) -> tuple[int, int | None, int] | None:
        """Positions of the numbered frames, clamped as frame_window clamps them."""
        numbers = self.numbers[video_id]
        folder = self.videos[video_id].source
        if any(n is None for n in numbers):
            self.problems.append(f"{label}: frame files in {folder} carry no frame numbers; "
                                 "skipped")
            return None
        where = {n: i for i, n in enumerate(numbers)}
        start = where.get(onset)
        if start is None:
            later = [i for i, n in enumerate(numbers) if n is not None and n >= onset]
            start = later[0] if later else len(numbers) - 1
            self.problems.append(f"{label}: onset frame {onset} has no file in {folder}; the "
                                 f"interval starts at frame {numbers[start]} instead")
        end = where.get(offset)
        if end is None:
            earlier = [i for i, n in enumerate(numbers) if n is not None and n <= offset]
            end = earlier[-1] if earlier else 0
            self.problems.append(f"{label}: offset frame {offset} has no file in {folder}; the "
                                 f"interval ends at frame {numbers[end]} instead")
        if end < start:
            self.problems.append(f"{label}: no frame file between onset {onset} and offset "
                                 f"{offset}; skipped")
            return None
        apex_at = where.get(apex) if apex is not None else None
        if apex is not None and apex_at is None:
            self.problems.append(f"{NOTE}{label}: apex frame {apex} has no file; apex left empty")
        return start, apex_at, end

    def result(self, what: str) -> LongVideoDataset:
        frame = pd.DataFrame(self.rows, columns=list(INTERVAL_COLUMNS))
        for column in ("onset", "offset", "onset_frame", "offset_frame"):
            frame[column] = frame[column].astype("int64")
        for column in ("apex", "apex_frame"):
            frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
        if not self.videos:
            self.problems.append(f"no video with frames found under {what}")
        elif frame.empty:
            self.problems.append("no usable interval in the label sheet(s)")
        return LongVideoDataset(self.name, self.root, self.fps, list(self.videos.values()),
                                frame, self.problems)


def _frames_root(name: str, root: Path, frames: str | Path | None,
                 candidates: Sequence[str]) -> Path:
    if frames is not None:
        path = Path(frames)
        path = path if path.is_absolute() else root / path
        if not path.is_dir():
            raise DataError(f"{name}: frames folder {path} does not exist")
        return path
    for candidate in candidates:
        found = resolve_child(root, candidate)
        if found is not None and found.is_dir():
            return found
    return root


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _workbook_sheet(path: Path, preferred: Sequence[str], *, header: Sequence[str] | None
                    ) -> pd.DataFrame:
    """One sheet of a workbook: the first whose name is in ``preferred`` (case and spaces
    ignored), else the first sheet; its header row found as :func:`read_sheet` finds it."""
    if path.suffix.lower() not in {".xlsx", ".xlsm", ".xls"}:
        return read_sheet(path, header_contains=header)
    try:
        sheets = pd.read_excel(path, sheet_name=None, header=None, dtype=object)
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"label sheet {path} cannot be read: {exc}") from None
    if not sheets:
        raise DataError(f"label sheet {path} has no sheets")
    wanted = {_key(n) for n in preferred}
    name = next((n for n in sheets if _key(n) in wanted), next(iter(sheets)))
    raw = sheets[name]
    header_row = 0
    if header is not None:
        names = {_key(n) for n in header}
        for row in range(min(len(raw), 50)):
            if any(_key(cell_text(v)) in names for v in raw.iloc[row] if not is_missing(v)):
                header_row = row
                break
        else:
            raise DataError(f"label sheet {path} ({name}): no header row with a "
                            f"{' or '.join(map(repr, header))} column in its first 50 rows")
    columns = [cell_text(v) if not is_missing(v) else f"Unnamed: {i}"
               for i, v in enumerate(raw.iloc[header_row])] if len(raw) else []
    frame = raw.iloc[header_row + 1:].reset_index(drop=True)
    frame.columns = columns
    frame = frame.dropna(how="all").reset_index(drop=True)
    frame.attrs["first_row"] = header_row + 2
    return frame


def _key(text: Any) -> str:
    return re.sub(r"[\s_\-]+", "", str(text)).lower()


# --------------------------------------------------------------------------- CAS(ME)^2
_CASME2_CODE = re.compile(r"^[^_]*_(\d+)")


@register_long_video("casme2-lv")
def load_casme2_lv(root: Path, labels: Path | None = None, *,
                   frames: str | Path | None = None) -> LongVideoDataset:
    """CAS(ME)^2 long videos (30 fps) and their ME / macro-expression intervals.

    ``frames``: the folder holding ``s15/15_0101disgustingteeth/`` (default ``rawpic``, else
    ``cropped``, else ``root``).
    """
    sheet_path = labels or auto_find(
        root, ("CAS(ME)^2code_final*.xls*", "CAS(ME)2code_final*.xls*", "*code_final*.xls*"),
        "CAS(ME)^2 label sheet")
    try:
        sheets = pd.read_excel(sheet_path, sheet_name=None, header=None, dtype=object)
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"label sheet {sheet_path} cannot be read: {exc}") from None
    names = list(sheets)
    by_key = {_key(n): n for n in names}
    rule1 = by_key.get("namingrule1", names[1] if len(names) > 1 else None)
    rule2 = by_key.get("namingrule2", names[2] if len(names) > 2 else None)
    if rule1 is None or rule2 is None:
        raise DataError(f"label sheet {sheet_path}: needs its 'naming rule1' (participant -> "
                        "subject folder) and 'naming rule2' (expression -> video code) sheets; "
                        f"it has {', '.join(map(str, names))}")
    # naming rule1: subject folder (s15), the number its video folders start with (15), and
    # the participant number the main sheet uses (1).
    subjects = {cell_int(r[2]): [cell_text(c) for c in r[:2] if not is_missing(c)]
                for r in sheets[rule1].itertuples(index=False)
                if len(r) > 2 and cell_int(r[2]) is not None}
    codes = {cell_text(r[1]).lower(): cell_int(r[0])
             for r in sheets[rule2].itertuples(index=False)
             if len(r) > 1 and cell_int(r[0]) is not None and not is_missing(r[1])}
    frames_root = _frames_root("casme2-lv", root, frames, ("rawpic", "cropped"))
    out = _Collector("casme2-lv", root, 30.0)
    index: dict[tuple[str, int], str] = {}
    for subject_dir in _subfolders(frames_root):
        for video_dir in _subfolders(subject_dir):
            out.add_video(video_dir.name, subject_dir.name, video_dir)
            match = _CASME2_CODE.match(video_dir.name)
            if match:
                index[(subject_dir.name.lower(), int(match.group(1)))] = safe_id(video_dir.name)
    main = sheets[names[0]]
    for position, row in enumerate(main.itertuples(index=False)):
        line = position + 1
        cells = list(row) + [None] * (9 - len(row))
        if all(is_missing(c) for c in cells):
            continue
        label = f"{sheet_path.name} row {line}"
        if position == 0 and cell_int(cells[2]) is None:
            continue  # a header row
        participant, expression = cell_int(cells[0]), cell_text(cells[1])
        label = f"{label} ({expression})"
        spellings = subjects.get(participant)
        code = codes.get(expression.split("_")[0].lower())
        if not spellings or code is None:
            what = (f"participant {cells[0]!r}" if not spellings
                    else f"expression {expression.split('_')[0]!r}")
            out.problems.append(f"{label}: {what} is not in the naming rules; skipped")
            continue
        folders = [f for f in (resolve_child(frames_root, n) for n in spellings) if f is not None]
        subject = folders[0].name if folders else spellings[0]
        video_id = index.get((subject.lower(), code))
        out.add_interval(label, video_id or f"{subject}_{code:04d}", expression_type(cells[7]),
                         cells[2], cells[3], cells[4], emotion=cells[6], aus=cells[5])
    return out.result(str(frames_root))


# --------------------------------------------------------------------------- SAMM Long Videos
@register_long_video("samm-lv")
def load_samm_lv(root: Path, labels: Path | None = None, *,
                 frames: str | Path | None = None) -> LongVideoDataset:
    """SAMM Long Videos (200 fps) and their ME / macro-expression intervals.

    ``frames``: the folder holding ``006_1/`` (default ``SAMM_longvideos``, else ``root``).
    """
    sheet_path = labels or auto_find(
        root, ("SAMM_LongVideos*.xls*", "*LongVideos*.xls*", "*Long*Videos*.csv"),
        "SAMM Long Videos label sheet")
    sheet = read_sheet(sheet_path, header_contains=("Filename",))
    roles = require_columns(sheet, sheet_path, {
        "clip": ("Filename",), "onset": ("Onset", "Onset Frame"), "apex": ("Apex", "Apex Frame"),
        "offset": ("Offset", "Offset Frame"), "type": ("Type",)})
    emotion = find_column(sheet, "Emotion", "Estimated Emotion")
    aus = find_column(sheet, "Action Units", "AUs")
    frames_root = _frames_root("samm-lv", root, frames, ("SAMM_longvideos",))
    out = _Collector("samm-lv", root, 200.0)
    for video_dir in _subfolders(frames_root):
        out.add_video(video_dir.name, video_dir.name.split("_")[0], video_dir)
    lowered = {v.lower(): v for v in out.videos}
    for position, row in enumerate(sheet.to_dict("records")):
        clip = cell_text(row[roles["clip"]])
        label = f"{sheet_path.name} row {sheet_row(sheet, position)} ({clip})"
        parts = clip.split("_")
        if is_missing(row[roles["clip"]]) or len(parts) < 2:
            out.problems.append(f"{label}: Filename is not <subject>_<video>_<n>; skipped")
            continue
        video = "_".join(parts[:2])
        out.add_interval(label, lowered.get(video.lower(), video),
                         expression_type(row[roles["type"]]), row[roles["onset"]],
                         row[roles["apex"]], row[roles["offset"]],
                         emotion=row[emotion] if emotion else None,
                         aus=row[aus] if aus else None)
    return out.result(str(frames_root))


# --------------------------------------------------------------------------- CAS(ME)^3 part A
_CASME3_FRAMES = ("part_A", "data/part_A", "data/part_A_split/part_A", "part_A_split/part_A",
                  "data/Compressed_version1_seperate_compress",
                  "Compressed_version1_seperate_compress")


def _casme3_frames_root(root: Path, frames: str | Path | None) -> Path:
    if frames is not None:
        return _frames_root("casme3-lv", root, frames, ())
    for candidate in _CASME3_FRAMES:
        if (root / candidate).is_dir():
            return root / candidate
    for depth in ("", "*/", "*/*/", "*/*/*/"):
        hits = sorted(p for p in root.glob(f"{depth}spNO.*") if p.is_dir())
        if hits:
            return hits[0].parent
    return root


def _find_sheet(root: Path, patterns: Sequence[str], what: str) -> Path | None:
    for folder in (root, root / "annotation", root / "part_A" / "annotation"):
        if folder.is_dir() and any(p for pattern in patterns for p in folder.glob(pattern)):
            return auto_find(folder, patterns, what)
    return None


@register_long_video("casme3-lv")
def load_casme3_lv(root: Path, labels: Path | None = None, *,
                   frames: str | Path | None = None,
                   macro_labels: str | Path | None = None) -> LongVideoDataset:
    """CAS(ME)^3 part A long videos (30 fps): ME intervals from ``labels`` (the ME sheet) and
    macro-expression intervals from ``macro_labels`` (both found in ``root`` or
    ``root/annotation`` by default; without a macro sheet only MEs are read, and a note says so).

    ``frames``: the folder holding ``spNO.1/a/color/`` (default: found under ``root``).
    """
    me_patterns = ("cas(me)3_part_A_ME_label*.xls*", "*part_A_ME_label*.xls*", "*ME_label*.xls*")
    mae_patterns = ("cas(me)3_part_A_MaE_label*.xls*", "*part_A_MaE_label*.xls*",
                    "*MaE_label*.xls*")
    me_path = labels or _find_sheet(root, me_patterns, "CAS(ME)^3 ME label sheet")
    if me_path is None:
        raise DataError(f"no CAS(ME)^3 ME label sheet found in {root} or {root / 'annotation'} "
                        f"(looked for {', '.join(me_patterns)}); name it with --labels")
    mae_path = Path(macro_labels) if macro_labels is not None else _find_sheet(
        root, mae_patterns, "CAS(ME)^3 macro-expression label sheet")
    frames_root = _casme3_frames_root(root, frames)
    out = _Collector("casme3-lv", root, 30.0)
    for subject_dir in _subfolders(frames_root):
        for video_dir in _subfolders(subject_dir):
            colour = resolve_child(video_dir, "color")
            out.add_video(f"{subject_dir.name}_{video_dir.name}", subject_dir.name,
                          colour if colour is not None and colour.is_dir() else video_dir)
    lowered = {v.lower(): v for v in out.videos}
    sources: list[tuple[Path, str]] = [(me_path, ME)]
    if mae_path is not None:
        sources.append((mae_path, MAE))
    else:
        out.problems.append(f"{NOTE}no CAS(ME)^3 macro-expression sheet (looked for "
                            f"{', '.join(mae_patterns)}): only MEs are read; give it with "
                            "macro_labels=...")
    for path, kind in sources:
        sheet = _workbook_sheet(path, ("label", "Sheet1"), header=("Subject", "sub"))
        roles = require_columns(sheet, path, {
            "subject": ("Subject", "sub"), "clip": ("Filename", "seq"),
            "onset": ("Onset",), "apex": ("Apex",), "offset": ("Offset",)})
        emotion = find_column(sheet, "emotion", "Estimated Emotion")
        aus = find_column(sheet, "AU", "Action Units", "AUs")
        for position, row in enumerate(sheet.to_dict("records")):
            subject, clip = _casme3_ids(row, roles)
            label = f"{path.name} row {sheet_row(sheet, position)} ({subject}/{clip})"
            if not subject or not clip:
                out.problems.append(f"{label}: empty subject or sequence; skipped")
                continue
            video = safe_id(f"{subject}_{clip}")
            out.add_interval(label, lowered.get(video.lower(), video), kind, row[roles["onset"]],
                             row[roles["apex"]], row[roles["offset"]],
                             emotion=row[emotion] if emotion else None,
                             aus=row[aus] if aus else None)
    return out.result(str(frames_root))


def _casme3_ids(row: dict[Hashable, Any], roles: dict[str, str]) -> tuple[str, str]:
    subject = "" if is_missing(row[roles["subject"]]) else cell_text(row[roles["subject"]])
    clip = "" if is_missing(row[roles["clip"]]) else cell_text(row[roles["clip"]])
    return subject, clip


__all__ = ["INTERVAL_COLUMNS", "LONG_VIDEO_ADAPTERS", "LongVideo", "LongVideoDataset",
           "list_long_video_kinds", "load_casme2_lv", "load_casme3_lv", "load_long_videos",
           "load_samm_lv", "long_video_options", "register_long_video"]
