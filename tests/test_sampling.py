"""Frame sampling (issue 22, parts 2b and 6): ``--sampling uniform|apex`` and the demo's
``--amplitude``.

Apex sampling puts each clip's apex (``apex_row`` of the store's quality table) at position
``k // 2`` of the model's input; uniform sampling, the paper's and the default, must stay what
it was. The demo's amplitude factor scales the generated movements and leaves everything else
(every other random draw, the onset frames) as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mefuse.demo.features import DemoSpec, make_demo_store
from mefuse.errors import ConfigError, DataError
from mefuse.preprocess.sampling import apex_indices, resample, sample_indices, uniform_indices
from mefuse.store import FeatureStore
from mefuse.store.quality import read_quality, write_quality
from mefuse.train.config import CVConfig, TrainConfig

TINY = DemoSpec(subjects=4, sequences_per_subject=3, signal_dim=6, noise_dim=5, min_frames=8,
                max_frames=14)


def _mefuse(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    script = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([script, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120, check=False)


def _one_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------- apex_indices
CASES = [(n, k, a) for n in (1, 2, 3, 5, 8, 18, 31, 60) for k in (1, 2, 3, 4, 7, 18, 19)
         for a in sorted({0, n // 3, n // 2, n - 2, n - 1} - {-1})]


@pytest.mark.parametrize(("n", "k"), sorted({(n, k) for n, k, _ in CASES}))
def test_apex_indices_hold_their_rule_for_every_apex(n, k):
    for apex in sorted({a for m, j, a in CASES if (m, j) == (n, k)}):
        rows = apex_indices(n, k, apex)
        assert rows.dtype == np.int64 and rows.shape == (k,)
        assert rows[k // 2] == apex, (n, k, apex, rows)  # the apex sits in the middle
        assert (np.diff(rows) >= 0).all()  # frames in time order
        assert rows.min() >= 0 and rows.max() <= n - 1
        if k >= 3:  # onset first, offset last
            assert rows[0] == 0 and rows[-1] == n - 1
        # each side uniform: steps differ by at most one frame (half-up rounding)
        for side in (np.diff(rows[: k // 2 + 1]), np.diff(rows[k // 2:])):
            if len(side):
                assert side.max() - side.min() <= 1, (n, k, apex, rows)


def test_apex_indices_edge_cases():
    assert apex_indices(10, 5, 0).tolist() == [0, 0, 0, 5, 9]  # apex on the first row
    assert apex_indices(10, 5, 9).tolist() == [0, 5, 9, 9, 9]  # apex on the last row
    assert apex_indices(3, 7, 1).tolist() == [0, 0, 1, 1, 1, 2, 2]  # short clip: repeats
    assert apex_indices(20, 1, 4).tolist() == [4]  # one frame: the apex
    assert apex_indices(20, 2, 4).tolist() == [0, 4]  # two: onset and apex
    assert apex_indices(1, 5, 0).tolist() == [0] * 5
    # the apex in the middle row of a clip of k frames: every frame once, as uniform gives
    assert apex_indices(18, 18, 9).tolist() == list(range(18)) == uniform_indices(18, 18).tolist()
    assert apex_indices(30, 18, 5).tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5,
                                                8, 11, 14, 17, 20, 23, 26, 29]
    for bad in ((10, 5, 10), (10, 5, -1), (0, 5, 0), (10, 0, 3)):
        with pytest.raises(ValueError):
            apex_indices(*bad)
    with pytest.raises(ValueError, match="needs the clip's apex"):
        sample_indices(10, 5, "apex")


def test_uniform_sampling_is_unchanged():
    """The paper's rule, written out: i * (n - 1) / (k - 1) rounded half up."""
    for n in range(1, 40):
        for k in range(2, 25):
            expected = [int(np.floor(i * (n - 1) / (k - 1) + 0.5)) for i in range(k)]
            assert uniform_indices(n, k).tolist() == expected
            assert sample_indices(n, k).tolist() == expected
    assert uniform_indices(6, 3).tolist() == [0, 3, 5]


# ---------------------------------------------------------------------------- the store
def _apex_store(root: Path, *, skip: tuple[str, ...] = ()) -> tuple[FeatureStore, dict[str, int]]:
    """A tiny demo store whose quality table gives each clip (but ``skip``) an apex row."""
    table = make_demo_store(root, TINY)
    store = FeatureStore.open(root)
    apexes = {}
    rows = []
    for index, clip in enumerate(table.clip_ids):
        length = len(store.load("signal", [clip])[0])
        apexes[clip] = (3 * index) % length  # all over the clip, first and last rows too
        row = {"clip_id": clip, "frames": length, "apex_frame": apexes[clip],
               "apex_source": "label", "apex_label": apexes[clip], "apex_row": apexes[clip]}
        rows.append({**row, "apex_row": None} if clip in skip else row)
    write_quality(root, rows)
    return store, apexes


def test_apex_rows_read_the_quality_table_and_name_missing_clips(tmp_path):
    store, apexes = _apex_store(tmp_path / "store", skip=("s001_left",))
    ids = [c for c in apexes if c != "s001_left"]
    assert store.apex_rows(ids) == {c: apexes[c] for c in ids}
    written = read_quality(store.root).set_index("clip_id")
    assert written.loc["s002_left", "apex_source"] == "label"
    assert ".0" not in (store.root / "quality.csv").read_text()  # rows as integers
    with pytest.raises(DataError, match=r"1 of 3 clip\(s\) have no apex_row.*s001_left"):
        store.apex_rows(["s000_left", "s001_left", "s002_left"])
    make_demo_store(tmp_path / "bare", TINY)
    with pytest.raises(DataError, match="no apex_row"):  # no quality table at all
        FeatureStore.open(tmp_path / "bare").apex_rows(["s000_left"])


def test_loading_puts_the_apex_in_the_middle_and_keeps_uniform_as_it_was(tmp_path):
    store, apexes = _apex_store(tmp_path / "store")
    ids = list(apexes)
    frames = 7
    uniform = store.load_modalities(ids, ["signal", "noise"], frames)
    named = store.load_modalities(ids, ["signal", "noise"], frames, "uniform")
    apex = store.load_modalities(ids, ["signal", "noise"], frames, "apex")
    for m, name in enumerate(("signal", "noise")):
        assert np.array_equal(uniform.arrays[m], named.arrays[m])
        for i, clip in enumerate(ids):
            (features,) = store.load(name, [clip])
            assert np.array_equal(uniform.arrays[m][i], resample(features, frames))
            assert np.array_equal(apex.arrays[m][i][frames // 2], features[apexes[clip]])
            assert np.array_equal(apex.arrays[m][i][0], features[0])
            assert np.array_equal(apex.arrays[m][i][-1], features[-1])
    with pytest.raises(DataError, match="unknown sampling 'middle'"):
        store.load_modalities(ids, ["signal"], frames, "middle")

    from mefuse.api import load_store  # the Python door samples the same way

    loaded = load_store(store.root, ["signal"], frames=frames, sampling="apex")
    assert np.array_equal(loaded.arrays[0], apex.arrays[0])
    with pytest.raises(ConfigError, match="sampling"):
        load_store(store.root, ["signal"], frames=frames, sampling="middle")


def test_sampling_is_a_validated_model_setting_that_a_trained_model_keeps(tmp_path):
    from mefuse.train.fit import fit_on_store, predict_store

    assert CVConfig(modalities=["a"]).model.sampling == "uniform"
    with pytest.raises(ValueError, match="'uniform' or 'apex'"):
        TrainConfig(modalities=["a"], model={"sampling": "middle"})
    store, _ = _apex_store(tmp_path / "store")
    config = TrainConfig(modalities=["signal"], strategy="single", optim={"epochs": 1},
                         model={"sampling": "apex", "dim": 8, "hidden": 8, "frames": 6})
    model = fit_on_store(store, store.clips(), config)
    model.save(tmp_path / "m.pt")
    clips, _ = predict_store(tmp_path / "m.pt", store)
    assert len(clips) == len(store.clips())
    (store.root / "quality.csv").unlink()  # predict samples as the model was trained: apex
    with pytest.raises(DataError, match="no apex_row"):
        predict_store(tmp_path / "m.pt", store)


# ---------------------------------------------------------------------------- the CLI
def test_cv_with_apex_sampling_records_it_and_a_missing_apex_is_one_clear_error(tmp_path):
    _apex_store(tmp_path / "store")
    common = ["cv", "--store", "store", "-m", "signal", "--strategy", "single", "--epochs", "1",
              "--folds", "2", "--frames", "6", "-q"]
    done = _mefuse([*common, "--sampling", "apex", "--out", "run"], tmp_path)
    assert done.returncode == 0, done.stderr
    config = json.loads((tmp_path / "run" / "results.json").read_text())["config"]
    assert config["model"]["sampling"] == "apex"

    (tmp_path / "store" / "quality.csv").unlink()
    line = _one_error(_mefuse([*common, "--sampling", "apex", "--out", "run2"], tmp_path),
                      "--sampling apex needs each clip's apex", "s000_left", "apex_index",
                      "Extract them again")
    assert "and 19 more" in line
    _one_error(_mefuse([*common, "--sampling", "foo", "--out", "run3"], tmp_path),
               "model.sampling", "'uniform' or 'apex'")


def test_every_training_verb_has_the_sampling_flag():
    import inspect

    from mefuse.cli.bench_verbs import bench
    from mefuse.cli.shared_options import CONFIG_FLAGS
    from mefuse.cli.submit_verbs import submit
    from mefuse.cli.train_verbs import cv, train

    assert CONFIG_FLAGS["sampling"] == "model.sampling"
    for verb in (cv, train, bench, submit):
        assert "sampling" in inspect.signature(verb).parameters, verb.__name__


# ---------------------------------------------------------------------------- the demo
def test_demo_amplitude_scales_the_movement_and_leaves_the_rest(tmp_path):
    from mefuse.data.adapters import clip_table, load_dataset
    from mefuse.data.frames import open_frames
    from mefuse.demo.faces import DemoFacesSpec, make_demo_faces

    def make(scale: float) -> tuple[Path, list[np.ndarray], list[np.ndarray], pd.DataFrame]:
        root = tmp_path / f"demo{scale}"
        labels = make_demo_faces(root, DemoFacesSpec(sequences_per_subject=1, min_frames=6,
                                                     max_frames=6, amplitude_scale=scale))
        sheet = pd.read_csv(labels)
        firsts, apexes = [], []
        for sequence, apex in zip(sheet["Id"], sheet["apex"], strict=True):
            with open_frames(root / "train" / f"{sequence:03d}") as frames:
                firsts.append(frames.read(0).astype(np.float64))
                apexes.append(frames.read(int(apex)).astype(np.float64))
        return root, firsts, apexes, sheet

    root, first_1, apex_1, sheet_1 = make(1.0)
    _, first_h, apex_h, sheet_h = make(0.5)
    _, first_0, apex_0, sheet_0 = make(0.0)
    # the same draws: timing, classes and the frames before the movement are unchanged
    assert sheet_1[["onset", "apex", "offset"]].equals(sheet_h[["onset", "apex", "offset"]])
    assert np.allclose(sheet_h["amplitude_px_at_256"], sheet_1["amplitude_px_at_256"] / 2,
                       atol=0.01)
    assert (sheet_0["amplitude_px_at_256"] == 0).all()
    for first in (first_h, first_0):
        assert all(np.array_equal(a, b) for a, b in zip(first_1, first, strict=True))
    # the movement at the apex (against the unmoved frame with the same noise) halves
    moved_1 = np.mean([np.abs(a - z).mean() for a, z in zip(apex_1, apex_0, strict=True)])
    moved_h = np.mean([np.abs(a - z).mean() for a, z in zip(apex_h, apex_0, strict=True)])
    assert moved_1 > 0.05 and 0.4 < moved_h / moved_1 < 0.6, (moved_1, moved_h)

    # the labels' apex reaches the clip table as apex_index (position in the frame order)
    table = clip_table(load_dataset("4dmr", root, labels=root / "train_labels.csv"),
                       ("left", "right"))
    assert (table.frame["apex_index"] == table.frame["apex"]).all()

    # a finished demo is not reused for another amplitude; a bad value is one error line
    with pytest.raises(ConfigError, match="amplitude_scale 1.0 \\(asked: 0.5\\)"):
        make_demo_faces(root, DemoFacesSpec(sequences_per_subject=1, min_frames=6,
                                            max_frames=6, amplitude_scale=0.5))
    _one_error(_mefuse(["demo", "--out", "d", "--amplitude", "11"], tmp_path), "--amplitude")
    assert DemoFacesSpec().amplitude_scale == 1.0


def test_bench_cells_of_apex_sampling_are_other_cells_and_uniform_ids_are_as_before(tmp_path):
    """Uniform sampling was the only one before the setting: its cell ids leave it out, so a
    bench folder computed then is still complete; apex cells are new cells."""
    from mefuse.bench.runner import plan_bench

    store, _ = _apex_store(tmp_path / "store")

    def ids(**model):
        plan = plan_bench(store, store.clips(), {"model": model} if model else {},
                          variants=["gated"])
        return [cell.cell_id for cell in plan.cells]

    assert ids() == ids(sampling="uniform")
    assert set(ids()).isdisjoint(ids(sampling="apex"))
    assert [i.split("__")[0] for i in ids(sampling="apex")] == [i.split("__")[0] for i in ids()]


def test_apex_sampling_leaves_a_clip_level_modality_uniform(tmp_path):
    """``apexflow`` stores two phase rows per clip (``params.per_frame: false``): apex sampling
    centres the per-frame streams beside it and resamples its rows uniformly, instead of
    refusing a clip whose apex row lies past its two rows."""
    store, apexes = _apex_store(tmp_path / "store")
    ids = list(apexes)
    phases = {clip: np.stack([np.full(4, i, np.float32), np.full(4, -i, np.float32)])
              for i, clip in enumerate(ids)}
    with store.writer("apexflow", {"extractor": "apexflow",
                                   "params": {"per_frame": False}}) as writer:
        for clip, array in phases.items():
            writer.write(clip, array)
    loaded = store.load_modalities(ids, ["signal", "apexflow"], 6, "apex")
    for i, clip in enumerate(ids):
        assert np.array_equal(loaded.arrays[1][i], resample(phases[clip], 6))
        (signal,) = store.load("signal", [clip])
        assert np.array_equal(loaded.arrays[0][i][3], signal[apexes[clip]])
