"""``mefuse spot-eval`` end to end on a tiny CAS(ME)^2-layout dataset of generated long videos
(real photographs, planted movements at known frames): stored signals reused on a second run,
both spotters evaluated leave-one-subject-out, a fitted spotter file applied by ``mefuse spot``,
``mefuse report`` showing the spotting results, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mefuse.demo.long_videos import LongVideoSpec, make_long_video

ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
SPEC = LongVideoSpec(seconds=9, size=96, micro=2, macro=1, head=1, illumination=False)
SUBJECTS = (("s15", "15", 1, "astronaut", 0), ("s16", "16", 2, "hopper", 1),
            ("s17", "17", 3, "astronaut", 2))


def mefuse(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mefuse", *args], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)


def _one_error_line(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], result.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Three subjects with one 9 s video each, frames ``rawpic/s15/15_0101.../img1.jpg`` and
    the CAS(ME)^2 sheet (frame numbers from 1)."""
    root = tmp_path_factory.mktemp("casme2lv") / "CAS(ME)^2"
    rows, truths = [], []
    for folder, number, participant, photo, seed in SUBJECTS:
        name = f"{number}_0101disgustingteeth"
        video = make_long_video(SPEC, seed=seed, name=name, photo=photo)
        frames = root / "rawpic" / folder / name
        frames.mkdir(parents=True)
        for t, frame in enumerate(video.frames):
            cv2.imwrite(str(frames / f"img{t + 1}.jpg"), frame[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
        for j, row in enumerate(video.truth.itertuples(), start=1):
            kind = "micro-expression" if row.type == "ME" else "macro-expression"
            emotion = "disgust" if j % 2 else "happiness"
            rows.append([participant, f"disgust1_{j}", row.onset + 1, row.apex + 1,
                         row.offset + 1, "4", emotion, kind, None])
        truths.append(video.truth.assign(subject=folder))
    with pd.ExcelWriter(root / "CAS(ME)^2code_final.xlsx", engine="openpyxl") as writer:
        for sheet, table in (("CASFEcode_final", rows),
                             ("naming rule1", [[f, n, p] for f, n, p, _, _ in SUBJECTS]),
                             ("naming rule2", [[101, "disgust1"]])):
            pd.DataFrame(table).to_excel(writer, sheet_name=sheet, header=False, index=False)
    return root, pd.concat(truths, ignore_index=True)


@pytest.fixture(scope="module")
def evaluated(dataset, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root, _ = dataset
    out = tmp_path_factory.mktemp("spot") / "run"
    result = mefuse("spot-eval", "--dataset", "casme2-lv", "--root", str(root), "-o", str(out),
                    "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


@pytest.mark.slow
def test_evaluation_scores_both_spotters_leave_one_subject_out(evaluated):
    out, result = evaluated
    assert "signals: 3 computed, 0 reused, 0 failed" in result.stdout
    for kind in ("weightfree", "learned"):
        assert f"{kind} spotter, leave-one-subject-out" in result.stdout
    document = json.loads((out / "spot_results.json").read_text())
    assert document["dataset"] == "casme2-lv" and set(document["videos"]) == {
        "15_0101disgustingteeth", "16_0101disgustingteeth", "17_0101disgustingteeth"}
    assert document["truth"] == {"ME": 6, "MaE": 3}
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns[:8]) == ["spotter", "subject", "video", "onset", "apex",
                                              "offset", "type", "score"]
    for kind in ("weightfree", "learned"):
        scores = document["spotters"][kind]["scores"]
        mine = predictions[predictions["spotter"] == kind]
        # TP + FP is the number of spotted intervals; TP + FN the number of truths.
        assert scores["overall"]["tp"] + scores["overall"]["fp"] == len(mine)
        assert scores["overall"]["tp"] + scores["overall"]["fn"] == 9
        assert [f["subject"] for f in document["spotters"][kind]["folds"]] == ["s15", "s16",
                                                                               "s17"]
    # The weight-free spotter finds most planted movements on these videos.
    assert document["spotters"]["weightfree"]["scores"]["overall"]["f1"] >= 0.5
    stored = pd.read_csv(out / "truth.csv")
    assert len(stored) == 9 and set(stored["type"]) == {"ME", "MaE"}
    signal = np.load(out / "signals" / "16_0101disgustingteeth.npy")
    manifest = json.loads((out / "signals" / "16_0101disgustingteeth.json").read_text())
    assert manifest["frames"] == len(signal) == round(SPEC.seconds * SPEC.fps)
    assert manifest["fps"] == 30.0 and manifest["subject"] == "s16" and manifest["k"] == 6


@pytest.mark.slow
def test_second_run_reuses_the_stored_signals_and_fits_a_spotter_file(dataset, evaluated,
                                                                        tmp_path):
    root, _ = dataset
    out, _ = evaluated
    signal = out / "signals" / "15_0101disgustingteeth.npy"
    before = signal.stat().st_mtime_ns
    fitted = tmp_path / "spotter.json"
    result = mefuse("spot-eval", "--dataset", "casme2-lv", "--root", str(root), "-o", str(out),
                    "--spotter", "weightfree", "--no-loso", "--fit-out", str(fitted), "-q")
    assert result.returncode == 0, result.stderr
    assert "signals: 0 computed, 3 reused, 0 failed" in result.stdout
    assert signal.stat().st_mtime_ns == before
    data = json.loads(fitted.read_text())
    assert data["format"] == "mefuse-spotter" and data["spotter"] == "weightfree"
    assert data["settings"]["fitted"] is True
    # The fitted threshold is applied to a new video (a frame folder of the dataset here).
    spots = tmp_path / "spots.csv"
    video = root / "rawpic" / "s16" / "16_0101disgustingteeth"
    result = mefuse("spot", str(video), "--fps", "30", "--spotter-file", str(fitted), "-o",
                    str(spots), "-q")
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(spots)
    assert list(table.columns) == ["video", "onset", "apex", "offset", "type", "score"]
    assert len(table) >= 1 and (table["score"] >= data["settings"]["rule"]["p"]).all()


@pytest.mark.slow
def test_learned_spotter_file_applies_and_report_shows_spotting(dataset, evaluated, tmp_path):
    root, _ = dataset
    out, _ = evaluated
    fitted = tmp_path / "learned.json"
    result = mefuse("spot-eval", "--dataset", "casme2-lv", "--root", str(root), "-o", str(out),
                    "--spotter", "learned", "--no-loso", "--fit-out", str(fitted), "-q")
    assert result.returncode == 0, result.stderr
    spots = tmp_path / "spots.csv"
    video = root / "rawpic" / "s15" / "15_0101disgustingteeth"
    result = mefuse("spot", str(video), "--fps", "30", "--spotter", "learned",
                    "--spotter-file", str(fitted), "-o", str(spots), "-q")
    assert result.returncode == 0, result.stderr
    assert "spotted" in result.stdout and spots.exists()
    result = mefuse("report", str(out), "-o", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Spotting" in page and "15_0101disgustingteeth" in page and "learned" in page


def test_bad_inputs_are_one_line_errors(dataset, tmp_path):
    root, _ = dataset
    out = str(tmp_path / "run")
    _one_error_line(mefuse("spot-eval", "--dataset", "nosuch-lv", "--root", str(root), "-o",
                           out), "nosuch-lv")
    _one_error_line(mefuse("spot-eval", "--dataset", "casme2-lv", "--root",
                           str(tmp_path / "absent"), "-o", out), "does not exist")
    _one_error_line(mefuse("spot-eval", "--dataset", "casme2-lv", "--root", str(root),
                           "--spotter", "foo", "-o", out), "--spotter must be one of")
    folder = root / "rawpic" / "s15" / "15_0101disgustingteeth"
    _one_error_line(mefuse("spot", str(folder), "--spotter", "foo", "-o", out),
                    "--spotter must be one of")
    _one_error_line(mefuse("spot", str(folder), "--fps", "30", "--spotter", "learned", "-o",
                           out), "needs --spotter-file")
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"format": "something-else"}')
    _one_error_line(mefuse("spot", str(folder), "--fps", "30", "--spotter-file", str(bogus),
                           "-o", out), "not a spotter file")
    _one_error_line(mefuse("spot", str(folder), "-o", out), "--fps")  # a folder has no rate


# --------------------------------------------------------------------------- Python level
def test_weight_free_spotter_follows_the_protocol_and_round_trips(tmp_path):
    from mefuse.spotting import (
        Spotter,
        WeightFreeSpotter,
        evaluate_loso,
        load_spotter,
        save_spotter,
    )

    rng = np.random.default_rng(0)
    signals, fps, subjects, rows = {}, {}, {}, []
    for i in range(4):
        values = np.abs(rng.normal(0.01, 0.002, 300))
        values[:6] = 0
        for onset in (60, 180):
            values[onset:onset + 8] += 0.2  # a 0.27 s bump: an ME
            rows.append({"video": f"v{i}", "onset": onset, "offset": onset + 7, "type": "ME"})
        signals[f"v{i}"], fps[f"v{i}"], subjects[f"v{i}"] = values, 30.0, f"s{i // 2}"
    truth = pd.DataFrame(rows)
    assert isinstance(WeightFreeSpotter(), Spotter)
    result = evaluate_loso(signals, fps, truth, subjects, WeightFreeSpotter)
    assert list(result.folds["subject"]) == ["s0", "s1"]
    assert len(result.predictions) >= 4 and set(result.predictions["video"]) == set(signals)
    assert result.scores.overall.tp + result.scores.overall.fp == len(result.predictions)
    fitted = WeightFreeSpotter().fit(signals, fps, truth)
    assert fitted.fitted
    loaded, _ = load_spotter(save_spotter(fitted, tmp_path / "s.json"))
    assert isinstance(loaded, WeightFreeSpotter) and loaded.spotter.rule == fitted.spotter.rule
    pd.testing.assert_frame_equal(loaded.spot(signals["v0"], 30.0, "v0"),
                                  fitted.spot(signals["v0"], 30.0, "v0"))


def test_signal_store_reuses_and_reports_a_broken_video(evaluated, tmp_path):
    import shutil

    from mefuse.spotting import SignalStore, VideoInput

    out, _ = evaluated
    shutil.copytree(out / "signals", tmp_path / "signals")
    manifest = json.loads((tmp_path / "signals" / "15_0101disgustingteeth.json").read_text())
    store = SignalStore(tmp_path / "signals")
    lines: list[str] = []
    stored = store.compute([VideoInput("15_0101disgustingteeth", "s15",
                                       Path(manifest["source"]), 30.0),
                            VideoInput("broken", "s99", tmp_path / "absent", 30.0)],
                           report=lines.append)
    assert stored.reused == ["15_0101disgustingteeth"] and stored.computed == []
    assert list(stored.failed) == ["broken"] and len(lines) == 1 and "broken" in lines[0]
    assert stored.signals["15_0101disgustingteeth"].shape == (manifest["frames"],)


def test_recognised_predictions_give_the_strs(dataset):
    from mefuse.predictions import Predictions
    from mefuse.spot_recognise import recognise_predictions
    from mefuse.spotting import str_score
    from mefuse.train.config import TrainConfig
    from mefuse.train.trainer import TrainedModel

    root, truth = dataset
    video = "15_0101disgustingteeth"
    truth = truth[truth["video"] == video].assign(emotion="disgust")
    estimator = TrainedModel(TrainConfig(modalities=["x"], strategy="single",
                                         classes=["disgust", "happiness"]))

    def fake_predict(model, folders, **options):
        rows = [{"sequence_id": f.name, "p_disgust": 0.8, "p_happiness": 0.2} for f in folders]
        return Predictions(pd.DataFrame(rows), pd.DataFrame(rows))

    pred = truth.assign(score=1.0, spotter="weightfree")
    out = recognise_predictions(pred, {video: root / "rawpic" / "s15" / video}, estimator,
                                predict=fake_predict)
    me = out[out["type"] == "ME"]
    assert (me["emotion"] == "disgust").all() and (out.loc[out["type"] == "MaE", "emotion"]
                                                   == "").all()
    scores = str_score(me, truth[truth["type"] == "ME"], types="ME")
    assert scores.strs == pytest.approx(1.0)
