"""``mefuse demo``: the whole pipeline on real faces with synthetic micro-movements.

1. write the demo dataset (:mod:`mefuse.demo.faces`) in the 4DMR layout;
2. read it back through the ``4dmr`` adapter, split the two views, crop the faces (256 px);
3. extract ``mesh3d`` (geometry) and ``flow`` (appearance) into a feature store;
4. cross-validate, subject-disjoint, each modality alone and their ``concat``, ``sum`` and
   ``gated`` fusions, and print one comparison table.

Every stage is cached: a second run reuses the dataset and the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from mefuse.demo.faces import DemoFacesSpec, make_demo_faces
from mefuse.model.strategies import Strategy
from mefuse.train.config import CVConfig
from mefuse.train.cv import run_cv
from mefuse.train.presets import load_preset
from mefuse.train.results import CVResult
from mefuse.utils.console import make_console, write_tables
from mefuse.utils.outputs import check_output_folder

DEMO_CROP = 256
DEMO_FOLDS = 5
DEMO_EXTRACTORS: tuple[str, ...] = ("mesh3d", "flow")
"""The weight-free extractors the demo runs."""
RUNS: dict[str, tuple[Strategy, list[str], str]] = {
    "mesh3d": ("single", ["mesh3d"], "paper"),
    "flow": ("single", ["flow"], "paper"),
    "concat": ("concat", ["mesh3d", "flow"], "paper"),
    "sum": ("sum", ["mesh3d", "flow"], "paper"),
    "gated": ("gated", ["mesh3d", "flow"], "paper"),
    "recommended": ("gated", ["mesh3d", "flow"], "recommended"),
}
"""Run name -> (strategy, modalities, preset): each modality alone, then the fusions (gated =
the paper's model; recommended = the preset that must not lose to its best input)."""


def build_demo_store(out: Path, *, sequences_per_subject: int = 10, workers: int = 1,
                     progress: bool = True, extractors: Sequence[str] = DEMO_EXTRACTORS,
                     amplitude: float = 1.0) -> Path:
    """Dataset + extraction of the demo (``extractors`` by registry name; ``amplitude``
    scales the movements, :attr:`DemoFacesSpec.amplitude_scale`); returns the feature store's
    path. Extractors already in the store are skipped clip by clip."""
    from mefuse.data.adapters import clip_table, load_dataset
    from mefuse.extraction.job import ExtractionJob
    from mefuse.extraction.local import extract_table
    from mefuse.features.base import create_extractor
    from mefuse.preprocess.config import PreprocessConfig

    dataset_root = out / "dataset"
    labels = make_demo_faces(dataset_root, DemoFacesSpec(
        sequences_per_subject=sequences_per_subject, amplitude_scale=amplitude))
    data = load_dataset("4dmr", dataset_root, labels=labels)
    table = clip_table(data, ("left", "right"))
    store = out / "store"
    preprocess = PreprocessConfig(views="both", crop_size=DEMO_CROP)  # 4DMR: two cameras
    job = ExtractionJob(preprocess, workers=workers, progress=progress)
    summary = extract_table(table, store, [create_extractor(name) for name in extractors], job)
    if summary.failures:
        details = "; ".join(f"{f.clip_id}: {f.stage}: {f.reason}" for f in summary.failures[:5])
        print(f"{len(summary.failures)} demo clip(s) failed: {details}")
    return store


def run_demo(out: str | Path, *, sequences_per_subject: int = 10, seeds: Sequence[int] = (0,),
             workers: int = 1, console: Console | None = None, progress: bool = True,
             amplitude: float = 1.0) -> dict[str, CVResult]:
    """Run the demo end to end (``amplitude``: factor on the movements); returns each
    strategy's cross-validation result."""
    from mefuse.store import FeatureStore
    from mefuse.train.report_table import comparison_table

    console = console or make_console()
    out = check_output_folder(out, "demo output folder")
    console.print("[bold]mefuse demo[/bold]: real photographs with [bold]synthetic[/bold] "
                  "micro-movements (not a micro-expression dataset)")
    console.print(f"stage 1/{1 + len(RUNS)}: dataset and features (mesh3d, flow)")
    store = build_demo_store(out, sequences_per_subject=sequences_per_subject, workers=workers,
                             progress=progress, amplitude=amplitude)
    feature_store = FeatureStore.open(store)
    table = feature_store.clips(hint=False)
    results: dict[str, CVResult] = {}
    for stage, (name, (strategy, modalities, preset)) in enumerate(RUNS.items(), start=2):
        console.print(f"stage {stage}/{1 + len(RUNS)}: cross-validate {name}")
        config = CVConfig(**{**load_preset(preset), "modalities": modalities,
                             "strategy": strategy, "protocol": "subject-kfold",
                             "folds": DEMO_FOLDS, "seeds": list(seeds)})
        result = run_cv(feature_store, table, config, progress=progress)
        result.write(out / "runs" / name)
        results[name] = result
        console.print(f"  {name}: macro-F1 {result.summary['macro_f1_mean']:.3f}")
    tables = [comparison_table(
        results, title=f"demo: subject-disjoint {DEMO_FOLDS}-fold CV, "
                       f"{table.frame['subject'].nunique()} subjects, {len(table)} clips "
                       "(gated = the paper's model)")]
    for comparison in tables:
        console.print(comparison)
    written = write_tables(out / "runs", tables)
    console.print(f"results in {out / 'runs'} (the table: {', '.join(p.name for p in written)}); "
                  f"features in {store}")
    return results
