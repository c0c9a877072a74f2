"""``mefuse predict`` on video files and frame folders with a model trained on the demo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mefuse.errors import DataError
from mefuse.inference import Recipe, build_extractors, input_table, model_recipe
from mefuse.preprocess.config import PreprocessConfig
from mefuse.train.trainer import TrainedModel

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def mefuse(*args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def write_video(folder: Path, path: Path) -> Path:
    """The frames of a demo sequence folder as an MJPG video file."""
    frames = [cv2.imread(str(p)) for p in sorted(folder.iterdir())]
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained, through the CLI, on flow features of the demo's real-face dataset
    (one sequence per subject keeps it quick; ``mefuse demo`` adds mesh3d and more data)."""
    from mefuse.demo.faces import DemoFacesSpec, make_demo_faces

    out = tmp_path_factory.mktemp("demo")
    labels = make_demo_faces(out / "dataset", DemoFacesSpec(sequences_per_subject=1))
    store = out / "store"
    result = mefuse("extract", "-d", "4dmr", "-r", str(out / "dataset"), "--labels", str(labels),
                    "-s", str(store), "-e", "flow", "--option", "flow.size=64",
                    "--crop-size", "256", "-q")
    assert result.returncode == 0, result.stderr
    model = out / "model.pt"
    result = mefuse("train", "-s", str(store), "-m", "flow", "--strategy", "single",
                    "--epochs", "3", "-o", str(model), "-q")
    assert result.returncode == 0, result.stderr
    return out, model


@pytest.mark.slow
def test_predict_on_a_video_file_and_a_frame_folder(trained, tmp_path):
    out, model = trained
    estimator = TrainedModel.load(model)
    recipe = model_recipe(estimator)  # the training store's settings travel in the model
    assert recipe.preprocess.views == "both" and recipe.preprocess.crop_size == 256
    assert recipe.extractors["flow"]["params"]["size"] == 64
    sequence = sorted((out / "dataset" / "train").iterdir())[0]
    video = write_video(sequence, tmp_path / "new_clip.avi")
    csv = tmp_path / "pred.csv"
    result = mefuse("predict", "--model", str(model), str(video), str(sequence), "-o", str(csv),
                    "-q")
    assert result.returncode == 0, result.stderr
    assert "probabilities" in result.stdout
    clips = pd.read_csv(csv)
    assert sorted(clips["clip_id"]) == sorted(
        [f"{sequence.name}_left", f"{sequence.name}_right", "new_clip_left", "new_clip_right"])
    sequences = pd.read_csv(tmp_path / "pred_sequences.csv").set_index("sequence_id")
    probabilities = sequences[[f"p_{c}" for c in estimator.classes]].to_numpy()
    assert probabilities.shape == (2, 5)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # the video is the folder's frames through a lossy codec: nearly the same scores
    np.testing.assert_allclose(probabilities[0], probabilities[1], atol=0.15)
    assert set(sequences[estimator.classes].to_numpy().ravel()) <= {0, 1}


@pytest.mark.slow
def test_predict_refuses_a_model_whose_extractor_is_not_installed(tmp_path):
    store = tmp_path / "store"
    assert mefuse("demo-store", str(store)).returncode == 0
    model = tmp_path / "m.pt"
    assert mefuse("train", "-s", str(store), "-m", "signal", "--strategy", "single",
                  "--epochs", "1", "-o", str(model)).returncode == 0
    folder = tmp_path / "frames"
    folder.mkdir()
    result = mefuse("predict", "--model", str(model), str(folder))
    assert result.returncode == 2
    assert result.stderr.startswith("error: the model needs extractor 'demo-signal' (modality "
                                     "'signal'), which is not available")
    assert len(result.stderr.splitlines()) == 1


def test_a_model_without_recorded_extractors_is_refused():
    from mefuse.train.config import TrainConfig

    estimator = TrainedModel(TrainConfig(modalities=["imported"], strategy="single"))
    with pytest.raises(DataError, match="records no extractor for modality 'imported'"):
        model_recipe(estimator)


def test_unavailable_or_different_extractor_is_refused():
    recipe = Recipe({"x": {"extractor": "nosuch", "params": {}, "weights": None}},
                    PreprocessConfig())
    with pytest.raises(DataError, match="needs extractor 'nosuch'.*not available"):
        build_extractors(recipe)
    recipe = Recipe({"flow": {"extractor": "flow", "params": {"size": 999}, "weights": None}},
                    PreprocessConfig())
    with pytest.raises(DataError, match=r"params\.size: model 999, here"):
        build_extractors(recipe, {"flow": {"size": 64}})


def test_input_table_names_views_and_refuses_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "a").mkdir(parents=True)
    table = input_table([tmp_path / "a", tmp_path / "b" / "a"], "both", ["Negative"])
    assert table.clip_ids == ["a_left", "a_right", "a_2_left", "a_2_right"]
    assert input_table([tmp_path / "a"], "none", ["Negative"]).clip_ids == ["a"]
    with pytest.raises(DataError, match="does not exist"):
        input_table([tmp_path / "missing.mp4"], "none", ["Negative"])


@pytest.mark.slow
def test_predict_drops_or_warns_about_a_face_that_leaves_and_reports_the_share(trained,
                                                                                tmp_path):
    """A clip whose face leaves half-way fails at stage ``faces`` (default), or is scored with a
    warning when kept; the per-clip output carries each clip's share of crops without a face."""
    from mefuse.errors import ConfigError
    from mefuse.inference import predict_inputs

    out, model = trained
    sequence = sorted((out / "dataset" / "train").iterdir())[0]
    frames = [cv2.imread(str(p)) for p in sorted(sequence.iterdir())[:10]]
    rng = np.random.default_rng(0)
    wall = cv2.GaussianBlur(rng.integers(60, 200, frames[0].shape).astype(np.uint8), (9, 9), 3)
    leaves = tmp_path / "leaves"
    leaves.mkdir()
    for t, frame in enumerate(frames + [wall] * 10):
        cv2.imwrite(str(leaves / f"{t:03d}.png"), frame)
    csv = tmp_path / "pred.csv"
    result = mefuse("predict", "--model", str(model), str(sequence), str(leaves), "-o", str(csv),
                    "-q")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    for view in ("left", "right"):
        assert (f"failed leaves_{view} at faces: no face in 10 of 20 crops (50%), more than "
                "--max-faceless 0.2") in text
    clips = pd.read_csv(csv)
    assert sorted(clips["clip_id"]) == [f"{sequence.name}_left", f"{sequence.name}_right"]
    assert (clips["faceless_share"] == 0).all()
    result = mefuse("predict", "--model", str(model), str(sequence), str(leaves), "-o", str(csv),
                    "-q", "--keep-faceless")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "failed" not in text
    for view in ("left", "right"):
        assert (f"warning leaves_{view}: no face in 50% of its crops (more than --max-faceless "
                "0.2; kept by --keep-faceless)") in text
    shares = pd.read_csv(csv).set_index("clip_id")["faceless_share"]
    assert shares["leaves_left"] == 0.5 and shares["leaves_right"] == 0.5
    assert shares[f"{sequence.name}_left"] == 0
    with pytest.raises(ConfigError, match=r"\(--max-faceless\) must be between 0 and 1"):
        predict_inputs(model, [leaves], max_faceless=2.0)


# ------------------------------------------------------------------ issues 18 and 19
def test_an_input_named_in_unicode_keeps_its_letters(tmp_path):
    for name in ("été☃.mp4", "☃☃.mp4"):
        (tmp_path / name).write_bytes(b"")
    table = input_table([tmp_path / "été☃.mp4", tmp_path / "☃☃.mp4"], "none", ["Negative"])
    assert table.clip_ids == ["ete", "input"]
    assert table.frame["source"].tolist() == [str(tmp_path / "été☃.mp4"),
                                              str(tmp_path / "☃☃.mp4")]


def test_a_single_camera_video_split_in_two_is_warned_about():
    from mefuse.inference import layout_warnings
    from mefuse.store.reports import Failure

    table = input_table([Path(__file__)], "both", ["Negative"])
    half = [Failure(table.clip_ids[1], "detect", "no face in the first 100 frames")]
    (warning,) = layout_warnings("both", "both", table, half)
    assert "one half of the frame has a face" in warning and "--views none" in warning
    assert layout_warnings("both", "both", table, []) == []
    (warning,) = layout_warnings("both", "none", input_table([Path(__file__)], "none",
                                                             ["Negative"]), [])
    assert "trained on frames where each frame is split" in warning and "--views none" in warning


@pytest.mark.slow
def test_predict_into_a_labelled_store_keeps_it_and_names_each_source(trained, tmp_path):
    import shutil

    from mefuse.data.clips import ClipTable

    out, model = trained
    store = tmp_path / "store"
    shutil.copytree(out / "store", store)
    before = ClipTable.read(store / "clips.csv")
    sequence = sorted((out / "dataset" / "train").iterdir())[0]
    frames = [cv2.imread(str(p)) for p in sorted(sequence.iterdir())]
    single = tmp_path / "left"
    single.mkdir()
    for index, frame in enumerate(frames):  # one camera: the left half of the 4DMR frames
        cv2.imwrite(str(single / f"{index:03d}.png"), frame[:, : frame.shape[1] // 2])
    video = write_video(single, tmp_path / "été☃.avi")
    csv = tmp_path / "pred.csv"
    result = mefuse("predict", "--model", str(model), str(video), "--views", "none",
                    "-o", str(csv), "-q")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stdout and "--views none" in result.stdout
    clips = pd.read_csv(csv)
    assert clips["clip_id"].tolist() == ["ete"]
    assert clips["source"].tolist() == [str(video.resolve())]
    assert pd.read_csv(tmp_path / "pred_sequences.csv")["source"].tolist() == [
        str(video.resolve())]
    # into the labelled training store: its clip table gains the input, loses nothing
    both = write_video(sequence, tmp_path / "new.avi")
    result = mefuse("predict", "--model", str(model), str(both), "--store", str(store),
                    "-o", str(csv), "-q")
    assert result.returncode == 0, result.stderr
    after = ClipTable.read(store / "clips.csv")
    assert after.clip_ids == [*before.clip_ids, "new_left", "new_right"]
    assert int(after.labelled.sum()) == int(before.labelled.sum()) == len(before)
    retrain = mefuse("train", "-s", str(store), "-m", "flow", "--strategy", "single",
                     "--epochs", "1", "-o", str(tmp_path / "again.pt"), "-q")
    assert retrain.returncode == 0, retrain.stderr
