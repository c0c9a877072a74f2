"""Finding faces in real photographs: a face that arrives late, a close-up that only the
short-range model finds, several faces, frames the face has left, and the quality table."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from faces import astronaut, grace_hopper
from mefuse.data.clips import ClipTable
from mefuse.extraction.job import ExtractionJob
from mefuse.extraction.local import extract_table
from mefuse.features.appearance.flow import FlowExtractor
from mefuse.preprocess.config import PreprocessConfig
from mefuse.preprocess.detect import FaceDetector
from mefuse.preprocess.faces import FULL_RANGE, SHORT_RANGE, FaceFinder
from mefuse.store.quality import read_quality


def _job(**settings: Any) -> ExtractionJob:
    """A quiet extraction job with 64 px crops and these preprocessing settings."""
    return ExtractionJob(PreprocessConfig(crop_size=64, **settings), progress=False)


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
                            _job(keep_faceless=True))
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
    assert "faces: found and kept in 1 of 1 clips" in result.stdout


def title_card(shape: tuple[int, ...]) -> np.ndarray:
    """A title card: a large rendered "8" on a flat purple background. MediaPipe's full-range
    model at the paper's threshold "finds" a face on it (about 0.77), as it did on a real
    video's cartoon title lettering; its crop shows no face."""
    card = np.zeros(shape, np.uint8)
    card[:] = (152, 87, 234)
    font, scale, thickness = cv2.FONT_HERSHEY_TRIPLEX, 2.54, 4
    (width, height), _ = cv2.getTextSize("8", font, scale, thickness)
    cv2.putText(card, "8", ((shape[1] - width) // 2, (shape[0] + height) // 2), font, scale,
                (125, 143, 54), thickness, cv2.LINE_AA)
    return card


def deep_field() -> np.ndarray:
    """A faceless textured frame (scikit-image's Hubble deep field) on which the full-range
    model "finds" a face at about 0.61, as it did on a real video's background."""
    from skimage import data

    return cv2.resize(np.roll(data.hubble_deep_field(), 20, axis=1), (256, 256))


def one_clip_table(clips: dict[str, Path]) -> ClipTable:
    rows = [{"clip_id": c, "sequence_id": c, "view": "full", "subject": c, "source": str(p),
             "Negative": 1, "Positive": 0, "Repression": 0, "Surprise": 0, "Others": 0}
            for c, p in clips.items()]
    return ClipTable.from_frame(pd.DataFrame(rows))


def test_title_card_detection_is_rejected_and_the_late_face_gives_the_box(tmp_path):
    face = astronaut()
    card = title_card(face.shape)
    with FaceDetector(full_range=True) as full:
        assert full.detect(card) is not None  # the false detection this test is about
    source = write_clip(tmp_path / "titled", [card] * 80 + [face] * 20)
    table = one_clip_table({"titled": source})
    summary = extract_table(table, tmp_path / "strict", [FlowExtractor(size=32)],
                            _job())
    quality = read_quality(tmp_path / "strict").set_index("clip_id").loc["titled"]
    assert quality["face_frame"] == 80 and quality["face_model"] == FULL_RANGE
    assert quality["face_rejected"] == 80  # the card's detection, once per frame
    assert quality["frames_without_face"] == 80 and not quality["face_kept"]
    (failure,) = summary.failures  # 80 % of the crops have no face: over the 20 % default
    assert failure.stage == "faces"
    assert failure.reason.startswith("no face in 80 of 100 crops (80%), more than "
                                     "--max-faceless 0.2")
    assert "faces: found and kept in 0 of 1 clips" in summary.faces_line()
    assert "1 dropped for too many crops without a face" in summary.faces_line()
    kept = extract_table(table, tmp_path / "kept", [FlowExtractor(size=32)],
                         _job(keep_faceless=True))
    assert kept.written == 1 and not kept.failures
    assert "faces: found and kept in 1 of 1 clips; 1 after the first frame" in kept.faces_line()
    assert "80 detection(s) in 1 clip(s) rejected" in kept.faces_line()


def test_faceless_textured_clip_fails_and_writes_no_features(tmp_path):
    texture = deep_field()
    with FaceDetector(full_range=True) as full:
        assert full.detect(texture) is not None  # the false detection this test is about
    table = one_clip_table({"sky": write_clip(tmp_path / "sky", [texture] * 6)})
    for settings in ({}, {"keep_faceless": True}):  # keeping cannot keep a clip without a box
        store = tmp_path / f"store{len(settings)}"
        summary = extract_table(table, store, [FlowExtractor(size=32)],
                                _job(**settings))
        assert summary.written == 0
        (failure,) = summary.failures
        assert failure.stage == "detect"
        assert failure.reason.startswith("no face in the first 6 frames (6 detection(s) "
                                         "rejected: no face in the crop they give)")
        assert ClipTable.read(store / "clips.csv").clip_ids == []
        quality = read_quality(store).set_index("clip_id").loc["sky"]
        assert quality["face_rejected"] == 6 and not quality["face_kept"]
        assert "faces: found and kept in 0 of 1 clips" in summary.faces_line()


def test_face_that_leaves_mid_clip_fails_at_faces_unless_kept(tmp_path):
    face = astronaut()
    table = one_clip_table({"leaves": write_clip(tmp_path / "leaves",
                                                 [face] * 6 + [wall(face.shape)] * 6)})
    def run(name: str, **settings: object):
        return extract_table(table, tmp_path / name, [FlowExtractor(size=32)],
                             _job(**settings))

    default = run("default")
    assert default.written == 0
    (failure,) = default.failures
    assert failure.stage == "faces" and "no face in 6 of 12 crops (50%)" in failure.reason
    assert run("limit", max_faceless=0.5).written == 1  # 50 % is within a 0.5 limit
    assert run("keep", keep_faceless=True).written == 1
    quality = read_quality(tmp_path / "keep").set_index("clip_id").loc["leaves"]
    assert quality["face_frame"] == 0 and quality["face_rejected"] == 0
    assert quality["frames_without_face"] == 6 and quality["face_kept"]


def test_faceless_share_is_validated_and_not_part_of_the_store_configuration(tmp_path):
    from mefuse.errors import ConfigError

    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match="between 0 and 1"):
            PreprocessConfig(max_faceless=bad)
    manifest = PreprocessConfig(max_faceless=0.5, keep_faceless=True).manifest()
    assert manifest == PreprocessConfig().manifest()  # existing stores stay valid
    result = subprocess.run(["mefuse", "extract", "-s", str(tmp_path / "s"), "-e", "flow",
                             "--clips", str(tmp_path / "none.csv"), "--max-faceless", "1.5"],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: the largest share of crops without a face "
                                    "(--max-faceless) must be between 0 and 1, got 1.5")
