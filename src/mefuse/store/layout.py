"""The names of a feature store's own files, defined here and nowhere else.

Why one module: every reader and writer of a store (extraction, training, prediction, the output
guard that keeps a verb from overwriting a store's files) must agree on these names; spelled in
one place, a renamed file cannot leave one of them behind. :class:`~mefuse.store.FeatureStore`
offers them as paths (``store.clips_path``...).
"""

from __future__ import annotations

CLIPS = "clips.csv"
"""The clip table of the clips every extractor has (written by extraction)."""
FAILURES = "failures.csv"
"""Clips that failed at extraction, with the stage and reason."""
QUALITY = "quality.csv"
"""Per-clip face-detection quality of the extraction."""
QUALITY_JOURNAL = ".quality.jsonl"
"""Quality rows appended by concurrent writers before they are merged into :data:`QUALITY`."""
TASK_RECORD = "task.json"
"""The task (multi- or single-label) and classes the extraction recorded."""
EXTRACT_RECORD = "extract.json"
"""The extractors, clip counts and last run of the extraction."""
LOCK = ".lock"
"""The lock file that concurrent writers of a folder share."""
MANIFEST = "manifest.json"
"""One per extractor folder: extractor, parameters, weights, preprocessing, dim, clips."""

OWN_FILES: tuple[str, ...] = (CLIPS, FAILURES, QUALITY, EXTRACT_RECORD, LOCK)
"""Files of a store's root that are the store's own: never the output of another verb."""
