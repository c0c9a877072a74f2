"""Every verb of the installed ``mefuse`` command answers a user error with one ``error:`` line
on stderr and exit status 2, never a traceback (run as a subprocess: an in-process runner would
bypass the entry point that does this)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MISSING = "/nonexistent/mefuse-test"

# verb -> (bad flag, missing required option, bad value); None where the verb has no such case.
CASES: dict[str, tuple[list[str], list[str] | None, list[str]]] = {
    "cv": (["cv", "-s", MISSING, "--bogus"], ["cv"], ["cv", "-s", MISSING, "--seeds", "abc"]),
    "train": (["train", "--bogus"], ["train", "-m", "x"],
              ["train", "-s", MISSING, "-m", "x", "--device", "gpu"]),
    "predict": (["predict", "--bogus"], ["predict", "-s", MISSING],
                ["predict", "--model", f"{MISSING}/m.pt", "-s", MISSING]),
    "demo-store": (["demo-store", "out", "--bogus"], ["demo-store"],
                   ["demo-store", "out", "--seed", "abc"]),
    "check-data": (["check-data", "--bogus"], ["check-data", "-r", MISSING],
                   ["check-data", "-d", "nosuch", "-r", MISSING]),
    "extract": (["extract", "--bogus"], ["extract", "-s", MISSING],
                ["extract", "-s", MISSING, "-e", "flow", "--option", "flow.x=[1"]),
    "demo": (["demo", "--bogus"], None, ["demo", "--seeds", "0,,1"]),
    "import-coeffs": (["import-coeffs", "--bogus"], ["import-coeffs", "-s", MISSING],
                      ["import-coeffs", MISSING, "-s", MISSING, "--layout", "bogus"]),
    "bench": (["bench", "--bogus"], ["bench"], ["bench", "-s", MISSING, "--seeds", "2-0"]),
    "report": (["report", MISSING, "--bogus"], ["report"], ["report", MISSING]),
    "submit": (["submit", "--bogus"], ["submit"], ["submit", "--validate", MISSING]),
    "config": (["config", "show", "--bogus"], None, ["config", "show", "nosuch"]),
    "top": (["--bogus"], None, ["frob"]),
}

PARAMS = [pytest.param(args, id=f"{verb}-{kind}")
          for verb, cases in CASES.items()
          for kind, args in zip(("bad-flag", "missing", "bad-value"), cases, strict=True)
          if args is not None]


def mefuse_command() -> list[str]:
    """The installed console script (the entry point users run)."""
    script = shutil.which("mefuse") or str(Path(sys.executable).with_name("mefuse"))
    return [script]


def run_mefuse(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run([*mefuse_command(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


@pytest.mark.parametrize("args", PARAMS)
def test_user_error_is_one_line_and_status_2(args: list[str], tmp_path: Path) -> None:
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_version_and_bare_command(tmp_path: Path) -> None:
    from mefuse import __version__

    result = run_mefuse(["--version"], tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"mefuse {__version__}"
    result = run_mefuse([], tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_extract_list_and_help_defaults(tmp_path: Path) -> None:
    result = run_mefuse(["extract", "--list"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert {"flow", "mesh3d"} <= {line.split()[0] for line in result.stdout.splitlines()}
    helptext = run_mefuse(["cv", "--help"], tmp_path).stdout
    for default in ("(default: mskf)", "(default: 60)", "(default: gated)", "(default: 0)"):
        assert default in helptext


def test_short_flags_have_one_meaning() -> None:
    """A short flag means the same long option in every verb (``-o`` is always ``--out``)."""
    import typer.main

    from mefuse.cli.main import app

    group = typer.main.get_command(app)
    meanings: dict[str, set[str]] = {}

    def walk(command) -> None:
        for sub in getattr(command, "commands", {}).values():
            walk(sub)
        for param in command.params:
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in (o for o in param.opts if not o.startswith("--")):
                meanings.setdefault(short, set()).update(longs[:1])

    walk(group)
    clashes = {short: names for short, names in meanings.items() if len(names) > 1}
    assert not clashes
    assert meanings["-o"] == {"--out"}


def test_seeds_and_devices_parse() -> None:
    from mefuse.errors import ConfigError
    from mefuse.utils.options import check_device, parse_seeds

    assert parse_seeds("0,1,2") == parse_seeds("0-2") == [0, 1, 2]
    assert parse_seeds("0-1, 5") == [0, 1, 5]
    for bad in ("abc", "0,,1", "2-0", "1,1", "", "-1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)
    assert check_device("CUDA:1") == "cuda:1"
    for bad in ("gpu", "cuda:", "cuda:x", "tpu"):
        with pytest.raises(ConfigError, match="unknown device"):
            check_device(bad)


# Configuration mistakes that once ended in a traceback, were silently accepted, or got the
# process killed for memory: each is now one error line naming the problem (issue 18).
CONFIG_CASES: dict[str, tuple[str | bytes | None, list[str], str]] = {
    # id: (content of c.yaml, or None; arguments after 'cv -s STORE'; expected in the message)
    "seed-too-large": (None, ["-m", "signal", "--seeds", "4294967296"], "largest seed"),
    "seeds-too-many": (None, ["-m", "signal", "--seeds", "0-100000"], "more than 1000 seeds"),
    "yaml-seed-too-large": ("modalities: [signal]\nseeds: [99999999999]\n", [], "seeds.0"),
    "modality-mapping": ("modalities: [signal, {a: 1}]\n", [], "extractor keys (text)"),
    "modality-list": ("modalities: [signal, [noise]]\n", [], "extractor keys (text)"),
    "not-utf8": (b"modalities: [signal]\n# caf\xe9\n", [], "not UTF-8"),
    "epochs-true": ("modalities: [signal]\noptim: {epochs: true}\n", [], "optim.epochs"),
    "duplicate-key": ("modalities: [signal]\nstrategy: single\nstrategy: gated\n", [],
                      "'strategy' appears twice (lines 2 and 3)"),
    "dim-huge": ("modalities: [signal]\nmodel: {dim: 100000000}\n", [], "model.dim"),
    "classes-empty": (None, ["-m", "signal", "--classes", ",,"], "names no class"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES), ids=list(CONFIG_CASES))
def test_configuration_mistakes_are_one_error_line(case: str, demo_store, tmp_path: Path
                                                   ) -> None:
    content, extra, expected = CONFIG_CASES[case]
    args = ["cv", "-s", str(demo_store[0]), "-q", "-o", str(tmp_path / "out"), *extra]
    if content is not None:
        path = tmp_path / "c.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        args += ["-c", str(path)]
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["cv", "-s", MISSING, "-c", "."], "is a folder, not a YAML file"),
    (["predict", "--model", ".", "-s", MISSING], "is a folder, not a file"),
    (["extract", "-s", MISSING, "-e", "flow", "--clips", f"{MISSING}.csv", "--face-search", "-1"],
     "--face-search"),
    (["train", "-s", MISSING, "-m", "x", "--seed", "4294967296"], "--seed"),
], ids=["config-folder", "model-folder", "face-search-negative", "train-seed-too-large"])
def test_folders_and_out_of_range_options_are_named(args: list[str], expected: str,
                                                    tmp_path: Path) -> None:
    result = run_mefuse(args, tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expected in lines[0], lines[0]


def test_a_run_too_large_for_memory_is_refused_with_its_figure(tmp_path: Path) -> None:
    """Widths, batch and stack within their bounds but far beyond any machine's memory: refused
    before the first step with the estimate, instead of the process being killed (exit 137)."""
    from mefuse.demo.features import DemoSpec, make_demo_store

    store = tmp_path / "wide"
    make_demo_store(store, DemoSpec(subjects=6, sequences_per_subject=2, signal_dim=2048,
                                    noise_dim=2048, min_frames=4, max_frames=6))
    config = tmp_path / "c.yaml"
    config.write_text("modalities: [signal, noise]\nmodel: {dim: 4096, hidden: 4096}\n"
                      "optim: {batch_size: 65536}\n", encoding="utf-8")
    result = run_mefuse(["cv", "-s", str(store), "-c", str(config), "--seeds", "0-9",
                         "--frames", "512", "-q", "-o", str(tmp_path / "out")], tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: this run needs about "), result.stderr
    assert "GiB" in lines[0] and "free now" in lines[0] and "--max-stack" in lines[0]
    assert not (tmp_path / "out").exists()


def test_submit_refuses_training_settings_without_a_training_store(tmp_path: Path) -> None:
    """``--preset``/``--config`` and the training flags shape a model trained by submit; with a
    ready ``--model`` they would be silently ignored."""
    result = run_mefuse(["submit", "--model", f"{MISSING}/m.pt", "-s", MISSING, "--preset",
                         "paper"], tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--preset sets how a model is trained" in lines[0], result.stderr


# --------------------------------------------------------------------------- damaged inputs
# Runs that once ended in a traceback or printed stray lines beside the error (issue 18, items
# 5, 9, 10, 13 and 23): each must end in exactly one ``error:`` line and exit status 2.
def assert_one_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single ``error:`` line of a failed run, after checking it is all there is."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def small_model(demo_store, tmp_path_factory) -> Path:
    """A model file trained for one epoch on the demo store."""
    from mefuse.train.config import ModelConfig, OptimConfig, TrainConfig
    from mefuse.train.fit import fit_on_store

    root, table = demo_store
    config = TrainConfig(modalities=["signal"], strategy="single", optim=OptimConfig(epochs=1),
                         model=ModelConfig(dim=8, hidden=8))
    path = tmp_path_factory.mktemp("model") / "model.pt"
    fit_on_store(root, table, config).save(path)
    return path


def _tampered(model: Path, out: Path, change) -> Path:
    import torch

    state = torch.load(model, weights_only=True)
    change(state)
    torch.save(state, out)
    return out


def _drop_key(name: str):
    return lambda state: state["state_dict"].pop(name)


@pytest.mark.parametrize(("change", "needle"), [
    (lambda s: s.update(classes=s["classes"][:3]), "3 class names and 5 thresholds"),
    (lambda s: s.update(classes=s["classes"][:3], thresholds=s["thresholds"][:3]),
     "size mismatch for head.out.weight"),
    (_drop_key("head.out.bias"), 'Missing key(s) in state_dict: "head.out.bias"'),
    (lambda s: s.pop("mean"), "no 'mean' entry"),
    (lambda s: s.update(seed="abc"), "ValueError"),
    (lambda s: s["config"].update(optim={"lr": -1}), "optim.lr"),
    (lambda s: s.update(input_dims=[1, 2]), "'input_dims', 'mean' and 'std' entries have 2"),
], ids=["short-classes", "short-classes-and-thresholds", "missing-key", "missing-entry",
        "bad-seed", "bad-config", "extra-dims"])
def test_a_damaged_model_file_is_one_error(small_model, demo_store, tmp_path, change, needle):
    bad = _tampered(small_model, tmp_path / "bad.pt", change)
    result = run_mefuse(["predict", "--model", str(bad), "-s", str(demo_store[0]), "-q",
                         "-o", str(tmp_path / "p.csv")], tmp_path)
    assert_one_error(result, "is a damaged mefuse model file", needle)
    assert not (tmp_path / "p.csv").exists()


def test_a_model_pickled_with_protocol_4_is_one_error_without_torch_warning(small_model,
                                                                               demo_store,
                                                                               tmp_path):
    import torch

    state = torch.load(small_model, weights_only=True)
    torch.save(state, tmp_path / "p4.pt", pickle_protocol=4)
    result = run_mefuse(["predict", "--model", str(tmp_path / "p4.pt"), "-s",
                         str(demo_store[0]), "-q", "-o", str(tmp_path / "p.csv")], tmp_path)
    assert_one_error(result, "pickled with protocol 4")


RESULTS_STUB = ('{"config": {}, "classes": [], "folds": [], "pooled": [], "summary": {}, '
                '"runtime_s": 0, "provenance": {}}')


@pytest.mark.parametrize(("files", "needle"), [
    ({"results.json": b"{not json"}, "is not valid JSON (line 1, column 2"),
    ({"results.json": b""}, "is empty"),
    ({"results.json": b"\xff\xfe{}"}, "byte 0xff at offset 0 is not UTF-8"),
    ({"results.json": b"[1, 2]"}, "holds a JSON array"),
    ({"results.json": b'{"config": {}}'}, "it has no 'classes', 'folds'"),
    ({"results.json": RESULTS_STUB.replace('"folds": []', '"folds": 3').encode()},
     "entry 'folds' is a int"),
    ({"results.json": RESULTS_STUB.encode(), "predictions.csv": b"\xff\xfe\x00"},
     "predictions.csv cannot be read"),
    ({"results.json": RESULTS_STUB.encode(), "attention.npz": b"PK\x03\x04garbage"},
     "attention.npz cannot be read"),
    ({"bench.json": b"{}"}, "is not a bench plan"),
], ids=["not-json", "empty", "not-utf8", "array", "missing-entries", "wrong-type",
        "bad-predictions", "bad-attention", "bad-plan"])
def test_a_damaged_run_folder_is_one_error(tmp_path, files, needle):
    run = tmp_path / "run"
    run.mkdir()
    for name, content in files.items():
        (run / name).write_bytes(content)
    result = run_mefuse(["report", str(run)], tmp_path)
    assert_one_error(result, needle)
    assert not (run / "report").exists()


def test_report_on_a_folder_where_results_json_should_be(tmp_path):
    (tmp_path / "run" / "results.json").mkdir(parents=True)
    assert_one_error(run_mefuse(["report", "run"], tmp_path), "is a folder")
    (tmp_path / "file").write_text("x")
    assert_one_error(run_mefuse(["report", "file"], tmp_path), "is a file")


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00clip_id\x80", b"clip_id\n\"a"],
                         ids=["empty", "not-utf8", "unterminated-quote"])
def test_predict_with_a_damaged_clip_table_is_one_error(small_model, demo_store, tmp_path,
                                                        content):
    (tmp_path / "clips.csv").write_bytes(content)
    result = run_mefuse(["predict", "--model", str(small_model), "-s", str(demo_store[0]),
                         "--clips", "clips.csv", "-q", "-o", "p.csv"], tmp_path)
    assert_one_error(result, "clip table clips.csv")


def test_a_clip_table_that_is_a_folder_says_so(demo_store, tmp_path):
    (tmp_path / "clips").mkdir()
    result = run_mefuse(["cv", "-s", str(demo_store[0]), "-m", "signal", "--clips", "clips",
                         "-o", "out"], tmp_path)
    assert_one_error(result, "clip table clips is a folder")


@pytest.mark.parametrize("engine", ["batched", "loop"])
def test_a_diverging_loss_stops_cv_naming_fold_and_epoch(demo_store, tmp_path, engine):
    result = run_mefuse(["cv", "-s", str(demo_store[0]), "-m", "signal", "--epochs", "3",
                         "--lr", "1e30", "--engine", engine, "-q", "-o", "out"], tmp_path)
    assert_one_error(result, "training diverged", "seed 0, fold 0", "at epoch 1 of 3")
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("flag", [["--lr", "inf"], ["--lr", "nan"]])
def test_non_finite_settings_are_refused_before_training(demo_store, tmp_path, flag):
    result = run_mefuse(["train", "-s", str(demo_store[0]), "-m", "signal", *flag, "-q",
                         "-o", "m.pt"], tmp_path)
    assert_one_error(result, "optim.lr")
    (tmp_path / "c.yaml").write_text("optim:\n  weight_decay: .inf\n")
    result = run_mefuse(["train", "-s", str(demo_store[0]), "-m", "signal", "-c", "c.yaml",
                         "-q", "-o", "m.pt"], tmp_path)
    assert_one_error(result, "optim.weight_decay: Input should be a finite number")


def test_a_float64_value_beyond_float32_is_out_of_range_not_nan(demo_store, tmp_path):
    import numpy as np

    store = tmp_path / "store"
    shutil.copytree(demo_store[0], store)
    path = store / "signal" / f"{demo_store[1].clip_ids[0]}.npy"
    array = np.load(path).astype(np.float64)
    array[1, 2] = 1e300
    np.save(path, array)
    result = run_mefuse(["cv", "-s", str(store), "-m", "signal", "-q", "-o", "out"], tmp_path)
    line = assert_one_error(result, "out of float32 range", "frame 1, feature 2", "1e+300")
    assert "NaN" not in line and "overflow" not in result.stderr


def test_a_corrupt_video_leaves_no_ffmpeg_line(tmp_path):
    """check-data on a clip list with an mp4 that has no moov atom: the failure is in the
    report, and FFmpeg's own "moov atom not found" is not printed beside it."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (root / "empty.mp4").write_bytes(b"")
    (root / "clips.csv").write_text("path,subject\nbroken.mp4,s1\nempty.mp4,s1\n")
    result = run_mefuse(["check-data", "-d", "folder", "-r", str(root)], tmp_path)
    assert result.returncode == 1, result.stderr
    assert "2 of 2 sources failed" in result.stdout
    assert "Traceback" not in result.stderr
    assert not result.stderr.strip(), result.stderr  # no "moov atom not found"


def test_a_folder_given_as_a_file_is_named_as_a_folder(demo_store, tmp_path):
    (tmp_path / "dir").mkdir()
    assert_one_error(run_mefuse(["predict", "--model", "dir", "-s", str(demo_store[0])],
                                tmp_path), "model file dir is a folder")
    assert_one_error(run_mefuse(["submit", "--validate", "dir"], tmp_path),
                     "submission file dir is a folder")


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "afile").write_text("mine\n")
    assert_one_error(run_mefuse(["demo", "--out", "afile"], tmp_path),
                     "demo output folder afile is a file, not a folder")
    assert_one_error(run_mefuse(["demo", "--out", "afile/sub"], tmp_path),
                     "afile/sub cannot be made: afile is a file")
    assert_one_error(run_mefuse(["demo-store", "afile"], tmp_path),
                     "demo store folder afile is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "mine\n"


@pytest.mark.parametrize(("verb", "damage", "needle"), [
    ("cv", "folder", "manifest.json is a folder, not a feature-store manifest file"),
    ("train", b"\xff\xfe{}", "manifest.json is not a feature-store manifest file: byte 0xff"),
    ("cv", b"", "manifest.json is empty"),
], ids=["folder", "not-utf8", "empty"])
def test_a_damaged_manifest_is_named_not_skipped(demo_store, tmp_path, verb, damage, needle):
    store = tmp_path / "store"
    shutil.copytree(demo_store[0], store)
    manifest = store / "signal" / "manifest.json"
    manifest.unlink()
    if damage == "folder":
        manifest.mkdir()
    else:
        manifest.write_bytes(damage)
    out = ["-o", "m.pt"] if verb == "train" else ["-o", "out"]
    result = run_mefuse([verb, "-s", str(store), "-m", "signal", "-q", "--epochs", "1", *out],
                        tmp_path)
    assert_one_error(result, str(manifest), needle)


@pytest.mark.parametrize(("text", "needle"), [
    ("", "configuration file c.yaml is empty"),
    ("# settings to come\n", "configuration file c.yaml is empty"),
    ("[]\n", "c.yaml must hold a mapping of settings, not list"),
    ("0\n", "c.yaml must hold a mapping of settings, not int"),
], ids=["empty", "comment-only", "empty-list", "zero"])
def test_an_empty_or_non_mapping_config_is_refused(demo_store, tmp_path, text, needle):
    (tmp_path / "c.yaml").write_text(text)
    result = run_mefuse(["cv", "-s", str(demo_store[0]), "-m", "signal", "-c", "c.yaml", "-q",
                         "-o", "out"], tmp_path)
    assert_one_error(result, needle)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["demo", "--out", "d", "--workers", "-1"], "'--workers'"),
    (["extract", "-s", "st", "-e", "flow", "--workers", "-1"], "'--workers'"),
    (["extract", "-s", "st", "-e", "flow", "--batch-clips", "0"], "'--batch-clips'"),
    (["extract", "-s", "st", "-e", "flow", "--jobs", "0"], "--jobs must be at least 1"),
], ids=["demo-workers", "extract-workers", "batch-clips", "jobs"])
def test_worker_counts_below_their_range_are_refused(tmp_path, args, needle):
    assert_one_error(run_mefuse(args, tmp_path), needle)
    assert not (tmp_path / "d").exists() and not (tmp_path / "st").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["cv", "-s", "{store}", "-m", "signal", "-q", "-o", "afile"],
     "afile/results.json cannot be written: afile is a file, not a folder"),
    (["train", "-s", "{store}", "-m", "signal", "-q", "-o", "afile/m.pt"],
     "model file -o afile/m.pt cannot be written: afile is a file, not a folder"),
    (["bench", "-s", "{store}", "-o", "afile", "--dry-run"],
     "bench folder -o afile is a file, not a folder"),
], ids=["cv", "train", "bench"])
def test_an_output_under_a_file_is_refused_before_the_work(demo_store, tmp_path, args, needle):
    """Before: cv trained to the end and then failed to write (or train ended in a
    FileExistsError traceback); bench --dry-run accepted it."""
    (tmp_path / "afile").write_text("mine\n")
    args = [a.replace("{store}", str(demo_store[0])) for a in args]
    assert_one_error(run_mefuse(args, tmp_path), needle)
    assert (tmp_path / "afile").read_text() == "mine\n"


@pytest.mark.parametrize(("args", "flag"), [
    (["demo-store", "out", "--seed", "-1"], "'--seed'"),
    (["bench", "-s", MISSING, "--jobs", "0", "--dry-run"], "'--jobs'"),
    (["report", MISSING, "--detail", "-1"], "'--detail'"),
], ids=["demo-store-seed", "bench-jobs", "report-detail"])
def test_negative_counts_and_seeds_are_refused_at_the_option(tmp_path, args, flag):
    """Before: a traceback (demo-store), a dry run that passed, a report that ignored it."""
    assert_one_error(run_mefuse(args, tmp_path), flag)
    assert not (tmp_path / "out").exists()


def test_a_label_sheet_that_is_a_folder_says_so(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "sheet.csv").mkdir()
    assert_one_error(run_mefuse(["check-data", "-d", "4dmr", "-r", "root", "--labels",
                                 "sheet.csv"], tmp_path), "label sheet sheet.csv is a folder")


@pytest.mark.parametrize("verb", ["cv", "train", "bench"])
def test_a_missing_store_is_named_as_a_store(verb: str, tmp_path: Path) -> None:
    """A stranger's first typo: the store's name, not its clips.csv, is what is missing."""
    result = run_mefuse([verb, "-s", "missing", "-m", "flow"], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines == ["error: feature store missing does not exist"], result.stderr
