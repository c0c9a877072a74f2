"""Ray as the engine: a real two-node cluster on 127.0.0.1, a worker killed mid-run, and the
results equal to a local run (extraction: byte for byte; bench: every cell's predictions)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'mefuse[ray]')")

from mefuse.bench.runner import CELLS, plan_bench, run_bench  # noqa: E402
from mefuse.data.clips import ClipTable  # noqa: E402
from mefuse.demo.features import DemoSpec, make_demo_store  # noqa: E402
from mefuse.errors import StoreConfigMismatch  # noqa: E402
from mefuse.extraction.job import ExtractionJob  # noqa: E402
from mefuse.extraction.parallel import extract_parallel  # noqa: E402
from mefuse.extraction.specs import ExtractorSpec  # noqa: E402
from mefuse.preprocess.config import PreprocessConfig  # noqa: E402
from mefuse.scale.ray_extract import extract_with_ray  # noqa: E402

pytestmark = pytest.mark.slow
RAY = str(Path(sys.executable).with_name("ray"))
PRE = PreprocessConfig(views="both", crop_size=128)
JOB = ExtractionJob(PRE, progress=False)
SPECS = [ExtractorSpec("mesh3d"), ExtractorSpec("flow", {"size": 64})]
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--object-store-memory=100000000",
        "--disable-usage-stats"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray(*args: str, timeout: float = 120) -> None:
    subprocess.run([RAY, *args], check=True, timeout=timeout, capture_output=True)


@pytest.fixture(scope="module")
def cluster():
    """A head and a second worker node on 127.0.0.1, one CPU each; always stopped."""
    if not Path(RAY).exists():
        pytest.skip(f"the ray command is not installed beside {sys.executable}")
    address = f"127.0.0.1:{_free_port()}"
    try:
        _ray("start", "--head", f"--port={address.split(':')[1]}", "--include-dashboard=false",
             *NODE)
        _ray("start", f"--address={address}", *NODE)
        ray.init(address=address, _node_ip_address="127.0.0.1", log_to_driver=False)
        deadline = time.time() + 60
        while ray.cluster_resources().get("CPU", 0) < 2 and time.time() < deadline:
            time.sleep(0.5)
        assert ray.cluster_resources().get("CPU", 0) == 2, "the second node did not join"
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], timeout=120, capture_output=True)


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and p.name != "extract.json" and not p.name.startswith(".")}


def _worker_pid(title: str) -> int | None:
    """A Ray worker process whose title (Ray sets ``ray::<function or actor>``) starts with
    ``title``; read from /proc, so the test needs no dashboard."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if command.startswith(title):
                return int(entry.name)
    return None


def _kill_when(title: str, ready, deadline: float) -> None:
    """SIGKILL a worker titled ``title`` as soon as ``ready()`` holds."""
    while time.time() < deadline:
        pid = _worker_pid(title)
        if pid and ready():
            os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.05)
    raise AssertionError(f"no {title} worker to kill before the deadline")


def test_extraction_on_two_nodes_with_a_killed_actor_equals_a_local_run(cluster, tmp_path):
    import cv2

    from faces import astronaut, similarity

    base = cv2.resize(astronaut()[0:300, 100:400], (192, 192))
    rows = []
    for s in range(8):
        folder = tmp_path / "data" / f"seq{s}"
        folder.mkdir(parents=True)
        for t in range(5):
            view = similarity(base, 0.3 * t, 1.0, ((0.4 + 0.1 * s) * t, 0))
            pair = cv2.hconcat([view, view[:, ::-1].copy()])
            cv2.imwrite(str(folder / f"{t + 1}.png"), pair[:, :, ::-1])
        rows += [{"clip_id": f"seq{s}_{v}", "sequence_id": f"seq{s}", "view": v,
                  "subject": f"p{s % 3}", "source": str(folder), "Negative": 1, "Positive": 0,
                  "Repression": 0, "Surprise": 0, "Others": 0} for v in ("left", "right")]
    table = ClipTable.from_frame(pd.DataFrame(rows))
    local, remote = tmp_path / "local", tmp_path / "remote"
    extract_parallel(table, local, SPECS, ExtractionJob(PRE, jobs=1, progress=False))

    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["summary"] = extract_with_ray(table, remote, SPECS, JOB)
        except BaseException as exc:  # reported by the main thread
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()

    def started() -> bool:
        return any((remote / "flow").glob("*.npy"))

    _kill_when("ray::ChunkExtractor.run", started, time.time() + 240)
    assert len(list((remote / "flow").glob("*.npy"))) < 16  # killed mid-run
    thread.join(timeout=400)
    assert not thread.is_alive(), "the Ray extraction did not finish"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"].written + outcome["summary"].skipped == 16
    # quality.csv has rows for the clips prepared by the run: the retried chunk skips the clips
    # its killed actor had finished, so only that file may lack rows; everything else is equal
    remote_files, local_files = _files(remote), _files(local)
    assert set(remote_files) == set(local_files)
    assert {k: v for k, v in remote_files.items() if k != "quality.csv"} == {
        k: v for k, v in local_files.items() if k != "quality.csv"}
    with pytest.raises(StoreConfigMismatch, match="size"):  # a user error, not a Ray trace
        extract_with_ray(table, remote, [ExtractorSpec("flow", {"size": 96})], JOB)


QUICK = {"protocol": "subject-kfold", "folds": 2, "seeds": [0],
         "optim": {"epochs": 2, "batch_size": 16, "warmup_epochs": 0},
         "model": {"frames": 8, "dim": 16, "hidden": 16, "queries": 2}}


def test_bench_cli_on_two_nodes_with_a_killed_worker_equals_a_local_run(cluster, tmp_path):
    store = tmp_path / "store"
    table = make_demo_store(store, DemoSpec(subjects=6, sequences_per_subject=4, signal_dim=8,
                                            noise_dim=8, min_frames=8, max_frames=10), seed=1)
    plan = plan_bench(store, table, QUICK, variants=["single", "gated"], sets=["alone", "all"],
                      kinds={"signal": "appearance", "noise": "geometry"})
    run_bench(plan, table, tmp_path / "local", jobs=1)
    config = tmp_path / "quick.yaml"
    config.write_text(json.dumps(QUICK))  # JSON is YAML
    out = tmp_path / "remote"
    command = [sys.executable, "-m", "mefuse.cli.main", "bench", "--store", str(store),
               "--config", str(config), "--variants", "single,gated", "--sets", "alone,all",
               "--appearance", "signal", "--geometry", "noise", "--executor", "ray",
               "--address", cluster, "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)

    try:
        _kill_when("ray::cell_task", lambda: True, time.time() + 240)
        assert len([p for p in (out / CELLS).glob("*") if not p.name.startswith(".")]) < 3
        output, _ = process.communicate(timeout=400)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "computed 3, reused 0, failed 0" in output, output  # the killed cell was retried
    cells = sorted(p.name for p in (tmp_path / "local" / CELLS).iterdir())
    assert cells == sorted(p.name for p in (out / CELLS).iterdir()) and len(cells) == 3
    for cell in cells:
        expected = (tmp_path / "local" / CELLS / cell / "predictions.csv").read_bytes()
        assert (out / CELLS / cell / "predictions.csv").read_bytes() == expected
        first, second = (json.loads((root / CELLS / cell / "results.json").read_text())
                         for root in (tmp_path / "local", out))
        assert first["summary"] == second["summary"] and first["folds"] == second["folds"]
    shutil.rmtree(out / CELLS / cells[0])  # a rerun computes only what is missing
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "computed 1, reused 2" in again.stdout, again.stdout


def test_address_without_ray_executor_is_a_user_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mefuse.cli.main", "bench", "--store",
                             str(tmp_path), "--address", "127.0.0.1:1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --address names a Ray cluster")
