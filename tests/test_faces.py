"""Finding faces in real photographs: a face that arrives late, a close-up that only the
short-range model finds, several faces, frames the face has left, and the quality table."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, grace_hopper
from mefuse.data.clips import ClipTable
from mefuse.features.appearance.flow import FlowExtractor
from mefuse.features.extract import PreprocessConfig, extract_table
from mefuse.preprocess.detect import FaceDetector
from mefuse.preprocess.faces import FULL_RANGE, SHORT_RANGE, FaceFinder
from mefuse.store.quality import read_quality


def close_up() -> np.ndarray:
    """The astronaut's face filling the frame: the full-range model misses it."""
    return cv2.resize(astronaut()[30:150, 180:280], (512, 512), interpolation=cv2.INTER_CUBIC)


def wall(shape: tuple[int, ...]) -> np.ndarray:
    """A faceless frame with some texture (a wall before the subject walks in)."""
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(60, 200, shape).astype(np.uint8), (9, 9), 3)


def write_clip(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"frame{t + 1:03d}.png"), frame[:, :, ::-1])
    return folder


def test_close_up_needs_the_short_range_model():
    image = close_up()
    with FaceDetector(full_range=True) as full:
        assert full.detect(image) is None  # the reason for the fallback
    finder = FaceFinder()
    found = finder.search([image])
    assert found.box is not None and found.model == SHORT_RANGE and found.frame == 0
    finder.close()


def test_late_face_is_found_and_frames_without_face_are_counted():
    face = astronaut()
    frames = [wall(face.shape)] * 15 + [face] * 5
    finder = FaceFinder()
    found = finder.search(frames)
    assert found.frame == 15 and found.model == FULL_RANGE and found.searched == 16
    assert finder.search(frames, search_frames=10).box is None  # the bound is honoured
    from mefuse.preprocess.crop import crop_square

    crops = [crop_square(f, found.box, 128) for f in frames]
    assert finder.frames_without_face(crops) == 15
    finder.close()


def test_several_faces_record_the_choice():
    left = astronaut()
    right = cv2.resize(grace_hopper(), (512, 512))
    found = FaceFinder().search([np.concatenate([left, right], axis=1)])
    assert found.faces == 2 and found.choice.startswith("highest score of 2")


def test_extract_crops_late_and_close_up_faces_and_writes_quality(tmp_path):
    face = astronaut()
    sources = {
        "late": write_clip(tmp_path / "late", [wall(face.shape)] * 12 + [face] * 4),
        "closeup": write_clip(tmp_path / "closeup", [close_up()] * 4),
        "noface": write_clip(tmp_path / "noface", [wall(face.shape)] * 4),
    }
    rows = [{"clip_id": c, "sequence_id": c, "view": "full", "subject": c, "source": str(p),
             "Negative": 1, "Positive": 0, "Repression": 0, "Surprise": 0, "Others": 0}
            for c, p in sources.items()]
    table = ClipTable.from_frame(pd.DataFrame(rows))
    summary = extract_table(table, tmp_path / "store", [FlowExtractor(size=32)],
                            PreprocessConfig(crop_size=64), progress=False)
    assert summary.written == 2 and [f.clip_id for f in summary.failures] == ["noface"]
    assert "no face in the first 4 frames" in summary.failures[0].reason
    quality = read_quality(tmp_path / "store").set_index("clip_id")
    assert quality.loc["late", "face_frame"] == 12
    assert quality.loc["late", "face_model"] == FULL_RANGE
    assert quality.loc["late", "frames_without_face"] == 12
    assert quality.loc["closeup", "face_model"] == SHORT_RANGE
    assert quality.loc["closeup", "frames_without_face"] == 0
    assert pd.isna(quality.loc["noface", "face_model"])
    assert "1 by the short-range model" in summary.faces_line()


@pytest.mark.slow
def test_cli_single_camera_folder_clip_gets_one_full_view(tmp_path):
    """A ``folder`` dataset with default flags: one full-frame view, not two halves."""
    face = astronaut()
    write_clip(tmp_path / "data" / "clip1", [face] * 3)
    (tmp_path / "data" / "clips.csv").write_text(
        "path,subject,Negative,Positive,Repression,Surprise,Others\nclip1,s1,1,0,0,0,0\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    check = subprocess.run(["mefuse", "check-data", "-d", "folder", "-r",
                            str(tmp_path / "data")], capture_output=True, text=True, env=env,
                           timeout=120, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "views: none: each frame is one full view" in check.stdout
    store = tmp_path / "store"
    result = subprocess.run(["mefuse", "extract", "-d", "folder", "-r", str(tmp_path / "data"),
                             "-s", str(store), "-e", "flow", "--crop-size", "64", "-q"],
                            capture_output=True, text=True, env=env, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    table = ClipTable.read(store / "clips.csv")
    assert table.clip_ids == ["clip1"] and list(table.frame["view"]) == ["full"]
    manifest = json.loads((store / "flow" / "manifest.json").read_text())
    assert manifest["preprocess"]["views"] == "none"
    assert "faces: found in 1 of 1 clips" in result.stdout
