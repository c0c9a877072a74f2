"""Spotting benchmark (issue 23): F1 and STRS of both spotters under leave-one-subject-out on
generated long videos, the weight-free signal's speed, and its memory on a 10-minute video.

One command: ``python benchmarks/bench_spot.py`` (``--quick`` for a smoke run) writes
``benchmarks/results/spot.json`` and ``spot.md``.

1. **Accuracy.** Long videos are generated from the demo's real photographs
   (:mod:`mefuse.demo.long_videos`) for several demo subjects (photo x identity transform), at
   the default movement amplitude and at half of it. Each video's motion signal is computed
   **once** and reused by both spotters and every fold: the weight-free :class:`Spotter`
   (threshold and merge gap fitted on the training subjects' videos) and the
   :class:`LearnedSpotter` (on the per-region values of the same signal), both under
   :func:`evaluate_loso` (MEGC scoring, counts summed over videos).
   **STRS** (ME track, ``str_score(..., types="ME")``): every planted ME moves the demo's
   movement field of one demo class, so its emotion is known (the truth's ``movement``). A
   small model (``flow``, the paper's configuration, ``single`` strategy) is trained on the
   demo clips and classifies the spotted MEs with :func:`recognise_intervals`; an oracle
   recogniser (the true emotion) gives the upper bound, i.e. the ME spotting F1.
2. **Speed.** The weight-free signal on a 1-minute video (1800 frames at 30 fps) at the
   generated frame size and at 320 px: frames per wall-clock second and per process
   CPU-second (the second reads a measurement on a shared machine), with the load average.
3. **Memory.** Peak RSS of a child process that streams a 1-minute and a 10-minute video
   (18000 frames) through the spotter's signal, frames made on the fly (a 10-second generated
   clip repeated), so only the signal grows with the length.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, write_result

SUBJECTS: tuple[tuple[str, str], ...] = (
    ("astronaut", "original"), ("hopper", "original"), ("astronaut", "mirror"),
    ("hopper", "mirror"), ("astronaut", "narrow-warm"), ("hopper", "wide-cool"))
AMPLITUDES: tuple[float, ...] = (1.0, 0.5)


@dataclass(frozen=True)
class Plan:
    subjects: int
    videos_per_subject: int
    seconds: float
    micro: int
    macro: int
    head: int
    speed_frames: int
    memory_frames: tuple[int, int]
    demo_sequences: int
    epochs: int


FULL = Plan(6, 2, 30.0, 6, 3, 2, 1800, (1800, 18000), 6, 40)
QUICK = Plan(4, 1, 12.0, 3, 1, 1, 300, (300, 1500), 2, 5)


def load() -> dict[str, float]:
    one, five, _ = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2)}


def rss_mib(field: str = "VmRSS") -> float:
    """The current resident set size (``VmRSS``) or its peak since the last reset (``VmHWM``),
    MiB (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset the kernel's peak RSS (``VmHWM``) to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------- signals
def video_signals(frames: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The weight-free signal ``(T,)``, the per-region signal ``(T, R)`` and ``k``."""
    from mefuse.spotting.signal import MotionTracker

    tracker = MotionTracker(fps)
    values, regions = [], []
    try:
        for frame in frames:
            tracker.regions = None
            values.append(tracker.push(frame))
            regions.append(tracker.regions)
    finally:
        tracker.close()
    width = next((len(r) for r in regions if r is not None), 1)
    table = np.stack([r if r is not None else np.zeros(width) for r in regions])
    return np.asarray(values, dtype=np.float32), table.astype(np.float32), tracker.k


class WeightFree:
    """The weight-free :class:`Spotter` under the spotter protocol of :func:`evaluate_loso`
    (its signal is already computed: ``fit`` chooses ``p`` and the merge gap on the training
    videos' signals, ``spot`` applies them)."""

    def __init__(self) -> None:
        from mefuse.spotting.spotter import Spotter

        self.spotter = Spotter()
        self.chosen: dict[str, float] = {}

    def _signal(self, values: np.ndarray, fps: float) -> Any:
        from mefuse.spotting.signal import MotionSignal, frame_lag

        k = frame_lag(fps, self.spotter.signal_config.lag_seconds)
        return MotionSignal(np.asarray(values, dtype=np.float32).reshape(-1), fps, k)

    def fit(self, signals: Any, fps: Any, truth: pd.DataFrame) -> WeightFree:
        result = self.spotter.fit({v: self._signal(s, fps[v]) for v, s in signals.items()},
                                  truth)
        self.chosen.update({"p": result.p, "merge_seconds": result.merge_seconds,
                            "train_f1": round(result.f1, 4)})
        return self

    def spot(self, signal: np.ndarray, fps: float, video: str) -> pd.DataFrame:
        return self.spotter.intervals(self._signal(signal, fps), video)


# --------------------------------------------------------------------------- accuracy
def generate(plan: Plan, scratch: Path) -> dict[str, Any]:
    """Every video's signals (computed once) and truth; frames kept on disk for recognition."""
    from mefuse.demo.long_videos import LongVideoSpec, make_long_video

    spec = LongVideoSpec(seconds=plan.seconds, micro=plan.micro, macro=plan.macro,
                         head=plan.head)
    data: dict[str, Any] = {}
    for amplitude in AMPLITUDES:
        signals, regions, rates, subjects, truths = {}, {}, {}, {}, []
        generate_s = signal_s = frames_n = 0.0
        for photo, transform in SUBJECTS[:plan.subjects]:
            for index in range(plan.videos_per_subject):
                name = f"{photo}-{transform}-{index}"
                started = time.perf_counter()
                video = make_long_video(replace(spec, amplitude=amplitude), seed=100 + index,
                                        name=name, photo=photo, transform=transform)
                generate_s += time.perf_counter() - started
                started = time.perf_counter()
                values, table, _ = video_signals(video.frames, video.fps)
                signal_s += time.perf_counter() - started
                frames_n += len(video.frames)
                np.save(scratch / f"{name}_{amplitude:g}.npy", video.frames)
                signals[name], regions[name], rates[name] = values, table, video.fps
                subjects[name] = f"{photo}-{transform}"
                truths.append(video.truth.assign(emotion=video.truth["movement"]))
                print(f"amplitude {amplitude:g}: {name} ({len(video.frames)} frames)",
                      flush=True)
        data[f"{amplitude:g}"] = {
            "signals": signals, "regions": regions, "fps": rates, "subjects": subjects,
            "truth": pd.concat(truths, ignore_index=True),
            "generate_s": round(generate_s, 1), "signal_s": round(signal_s, 1),
            "frames": int(frames_n)}
    return data


def train_recogniser(plan: Plan, scratch: Path) -> tuple[Any, dict[str, Any]]:
    """A ``flow`` model (paper configuration, ``single`` strategy) trained on demo clips."""
    import torch

    from mefuse.demo.pipeline import build_demo_store
    from mefuse.store import FeatureStore
    from mefuse.train.config import TrainConfig, build_config
    from mefuse.train.fit import fit_on_store
    from mefuse.train.presets import load_preset

    torch.set_num_threads(2)
    started = time.perf_counter()
    store = build_demo_store(scratch / "demo", sequences_per_subject=plan.demo_sequences,
                             extractors=("flow",), progress=False)
    build_s = time.perf_counter() - started
    preset = load_preset("paper")
    settings = {k: v for k, v in preset.items() if k in TrainConfig.model_fields}
    config = build_config(TrainConfig, {**settings, "modalities": ["flow"], "strategy": "single",
                                        "optim": {**preset["optim"], "epochs": plan.epochs}},
                          "bench_spot")
    feature_store = FeatureStore.open(store)
    table = feature_store.clips(hint=False)
    started = time.perf_counter()
    model = fit_on_store(feature_store, table, config, seed=0)
    return model, {"demo_clips": len(table), "epochs": plan.epochs,
                   "build_store_s": round(build_s, 1),
                   "train_s": round(time.perf_counter() - started, 1)}


def me_matches(pred: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The matched ME pairs, ``pred``/``truth`` as row positions of the two tables (both with
    a fresh index). Matching is per video and type, so scoring all types gives the same ME
    pairs as ``types="ME"``, whose positions would count ME rows only."""
    from mefuse.spotting.evaluation import evaluate_spotting

    matches = evaluate_spotting(pred, truth.reset_index(drop=True)).matches
    return matches[matches["type"] == "ME"]


def recognise(model: Any, predictions: pd.DataFrame, truth: pd.DataFrame, scratch: Path,
              amplitude: str, cache: dict[tuple[str, str, int, int], str]) -> pd.DataFrame:
    """``predictions`` with an ``emotion`` column: the model's most probable class for every
    spotted ME that matches a true ME (IoU >= 0.5). The others keep an empty emotion: STRS's
    analysis part looks only at matched pairs, so their emotion cannot change the score (and
    classifying them would only cost time). ``cache`` holds intervals already classified."""
    from mefuse.spot_recognise import recognise_intervals

    pred = predictions.reset_index(drop=True).copy()
    pred["emotion"] = ""
    matched = me_matches(pred, truth)
    rows = pred.loc[list(matched["pred"])] if len(matched) else pred.iloc[:0]
    for video, group in rows.groupby("video"):
        todo = group[[(amplitude, str(video), int(r.onset), int(r.offset)) not in cache
                      for r in group.itertuples()]]
        if len(todo):
            frames = np.load(scratch / f"{video}_{amplitude}.npy", mmap_mode="r")
            scored = recognise_intervals(frames, todo, model, views="none")
            columns = [f"p_{c}" for c in model.classes]
            for row, probabilities in zip(todo.itertuples(), scored[columns].to_numpy(),
                                          strict=True):
                label = ("" if np.isnan(probabilities).all()
                         else model.classes[int(np.nanargmax(probabilities))])
                cache[(amplitude, str(video), int(row.onset), int(row.offset))] = label
        for index, row in group.iterrows():
            pred.loc[index, "emotion"] = cache[(amplitude, str(video), int(row["onset"]),
                                                int(row["offset"]))]
    return pred


def oracle(predictions: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Every matched ME gets its true emotion: the recogniser's upper bound."""
    pred = predictions.reset_index(drop=True).copy()
    pred["emotion"] = ""
    truth = truth.reset_index(drop=True)
    matched = me_matches(pred, truth)
    for p, t in zip(matched["pred"], matched["truth"], strict=True):
        pred.loc[p, "emotion"] = truth.loc[t, "emotion"]
    return pred


def accuracy(plan: Plan, scratch: Path) -> dict[str, Any]:
    from mefuse.spotting import LearnedSpotter, evaluate_loso, str_score

    data = generate(plan, scratch)
    model, recogniser = train_recogniser(plan, scratch)
    print(f"recogniser: {recogniser}", flush=True)
    cache: dict[tuple[str, str, int, int], str] = {}
    out: dict[str, Any] = {"recogniser": recogniser, "by_amplitude": {}}
    for amplitude, item in data.items():
        truth = item["truth"]
        rows: dict[str, Any] = {}
        chosen: list[dict[str, float]] = []

        def weight_free(chosen: list[dict[str, float]] = chosen) -> WeightFree:
            spotter = WeightFree()
            chosen.append(spotter.chosen)  # filled by fit
            return spotter

        for name, features, factory in (("weight-free", item["signals"], weight_free),
                                        ("learned", item["regions"], LearnedSpotter)):
            started = time.perf_counter()
            result = evaluate_loso(features, item["fps"], truth, item["subjects"], factory)
            loso_s = time.perf_counter() - started
            pred = result.predictions
            model_pred = recognise(model, pred, truth, scratch, amplitude, cache)
            real = str_score(model_pred, truth, types="ME")
            upper = str_score(oracle(pred, truth), truth, types="ME")
            scores = result.scores
            rows[name] = {
                "f1": {"ME": round(scores.by_type["ME"].f1, 4),
                       "MaE": round(scores.by_type["MaE"].f1, 4),
                       "overall": round(scores.f1, 4)},
                "counts": scores.to_dict(),
                "strs_model": round(real.strs, 4),
                "strs_model_analysis_f1": round(real.analysis_f1, 4),
                "strs_oracle": round(upper.strs, 4),
                "folds": result.folds.to_dict(orient="records"),
                "loso_s": round(loso_s, 1),
            }
            if name == "weight-free":
                rows[name]["fitted"] = [dict(c) for c in chosen]
            print(f"amplitude {amplitude}, {name}: F1 {rows[name]['f1']}, STRS model "
                  f"{real.strs:.3f}, oracle {upper.strs:.3f}", flush=True)
        out["by_amplitude"][amplitude] = {
            "videos": len(item["signals"]), "subjects": len(set(item["subjects"].values())),
            "truth": {"ME": int((truth["type"] == "ME").sum()),
                      "MaE": int((truth["type"] == "MaE").sum())},
            "generate_s": item["generate_s"], "signal_s": item["signal_s"],
            "signal_frames": item["frames"],
            "signal_frames_per_s": round(item["frames"] / max(item["signal_s"], 1e-9), 1),
            "spotters": rows}
    return out


# --------------------------------------------------------------------------- speed, memory
def clip_frames(size: int, seconds: float = 10.0) -> np.ndarray:
    """A 10-second generated clip at ``size`` px (repeated to make longer videos)."""
    from mefuse.demo.long_videos import LongVideoSpec, make_long_video

    spec = LongVideoSpec(seconds=seconds, size=size, micro=2, macro=1, head=1)
    return make_long_video(spec, seed=7).frames


def repeated(frames: np.ndarray, count: int) -> Any:
    """``count`` frames made on the fly by repeating ``frames`` (nothing else is held)."""
    for index in range(count):
        yield frames[index % len(frames)]


def speed(plan: Plan) -> list[dict[str, Any]]:
    from mefuse.spotting.signal import motion_signal

    rows = []
    for size in (160, 320):
        frames = clip_frames(size)
        before = load()
        cpu, wall = time.process_time(), time.perf_counter()
        signal = motion_signal(repeated(frames, plan.speed_frames), 30.0)
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        rows.append({"frame_px": size, "frames": len(signal.values), "wall_s": round(wall, 2),
                     "cpu_s": round(cpu, 2),
                     "frames_per_s": round(len(signal.values) / wall, 1),
                     "frames_per_cpu_s": round(len(signal.values) / cpu, 1),
                     "load_before": before, "load_after": load()})
        print(f"speed {size} px: {rows[-1]}", flush=True)
    return rows


def memory_child(frames_n: int) -> None:
    """Run in a fresh process: stream ``frames_n`` frames, print RSS figures as JSON."""
    from mefuse.spotting.signal import MotionTracker, motion_signal

    frames = clip_frames(160)
    tracker = MotionTracker(30.0)
    tracker.push(frames[0])  # MediaPipe loaded, face box found: the fixed part
    tracker.ring.clear()
    setup = rss_mib()
    reset = reset_peak()
    signal = motion_signal(repeated(frames, frames_n), 30.0, tracker=tracker)
    streaming_peak = rss_mib("VmHWM")
    state = tracker.state_size()
    tracker.close()
    print(json.dumps({"frames": len(signal.values), "rss_after_setup_mib": round(setup, 1),
                      "peak_rss_streaming_mib": round(streaming_peak, 1) if reset else None,
                      "peak_rss_process_mib": round(peak_rss_mib(), 1),
                      "rss_end_mib": round(rss_mib(), 1),
                      "signal_bytes": int(signal.values.nbytes),
                      "held_crops": state, "clip_frames_held": len(frames)}))


def memory(plan: Plan) -> list[dict[str, Any]]:
    rows = []
    for frames_n in plan.memory_frames:
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--memory-child", str(frames_n)],
                              check=True, capture_output=True, text=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        row["wall_s"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        print(f"memory: {row}", flush=True)
    return rows


# --------------------------------------------------------------------------- report
def markdown(result: dict[str, Any]) -> str:
    lines = ["Spotting on generated long videos (real photographs, synthetic movements), "
             "leave-one-subject-out, MEGC scoring (IoU >= 0.5, counts summed over videos).",
             "STRS: ME track; `model` = a `flow` model trained on the demo clips classifies the "
             "spotted MEs, `oracle` = true emotion (upper bound = ME spotting F1).", "",
             "| amplitude | spotter | F1 ME | F1 MaE | F1 overall | STRS model | STRS oracle |",
             "|---|---|---|---|---|---|---|"]
    for amplitude, item in result["accuracy"]["by_amplitude"].items():
        for name, row in item["spotters"].items():
            f1 = row["f1"]
            lines.append(f"| {amplitude} | {name} | {f1['ME']:.3f} | {f1['MaE']:.3f} | "
                         f"{f1['overall']:.3f} | {row['strs_model']:.3f} | "
                         f"{row['strs_oracle']:.3f} |")
    first = next(iter(result["accuracy"]["by_amplitude"].values()))
    lines += ["", f"{first['videos']} videos of {result['plan']['seconds']:g} s at 30 fps, "
              f"{first['subjects']} subjects, {first['truth']['ME']} MEs and "
              f"{first['truth']['MaE']} MaEs per amplitude.", "",
              "| weight-free signal | frames | wall s | CPU s | frames/s | frames/CPU-s | "
              "load (1 min) |", "|---|---|---|---|---|---|---|"]
    for row in result["speed"]:
        lines.append(f"| {row['frame_px']} px | {row['frames']} | {row['wall_s']} | "
                     f"{row['cpu_s']} | {row['frames_per_s']} | {row['frames_per_cpu_s']} | "
                     f"{row['load_before']['load_1min']} |")
    lines += ["", "| memory (160 px, streamed) | frames | RSS after set-up MiB | peak RSS "
              "while streaming MiB | peak RSS of the process MiB | signal bytes |",
              "|---|---|---|---|---|---|"]
    for row in result["memory"]:
        lines.append(f"| {row['frames'] / 1800:g} min | {row['frames']} | "
                     f"{row['rss_after_setup_mib']} | {row['peak_rss_streaming_mib']} | "
                     f"{row['peak_rss_process_mib']} | {row['signal_bytes']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="folder for frames and the demo store (default: a temporary one)")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    import torch

    torch.set_num_threads(2)
    plan = QUICK if args.quick else FULL
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="bench_spot_"))
    scratch.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        result: dict[str, Any] = {
            "benchmark": "spotting F1 and STRS (both spotters, LOSO), signal speed and memory",
            "quick": args.quick, "plan": plan.__dict__, "load_start": load(),
            "cores": os.cpu_count()}
        result["speed"] = speed(plan)
        result["memory"] = memory(plan)
        result["accuracy"] = accuracy(plan, scratch)
        result["load_end"] = load()
        result["total_s"] = round(time.perf_counter() - started, 1)
    finally:
        if args.scratch is None:
            shutil.rmtree(scratch, ignore_errors=True)
    name = "spot_quick" if args.quick else "spot"
    path = write_result(name, result)
    (RESULTS / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    print(f"wrote {path} in {result['total_s']} s")


if __name__ == "__main__":
    main()
