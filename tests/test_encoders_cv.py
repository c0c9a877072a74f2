"""Features written by each 3D encoder into a store run through gated cross-validation beside an
appearance stream (the paper's fusion), end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("timm")
pytest.importorskip("mediapipe")
skimage_data = pytest.importorskip("skimage.data")

from mefuse.data.clips import ClipTable  # noqa: E402
from mefuse.features.geometry.encoders import ENCODERS  # noqa: E402
from mefuse.store import FeatureStore  # noqa: E402
from mefuse.train.config import CVConfig, ModelConfig, OptimConfig  # noqa: E402
from mefuse.train.cv import run_cv  # noqa: E402
from test_encoders_checkpoints import checkpoints  # noqa: E402, F401
from test_encoders_extract import face_clip  # noqa: E402

CLASSES = ("Negative", "Positive", "Repression", "Surprise", "Others")
N_CLIPS = 12


@pytest.fixture(scope="module")
def store(checkpoints, tmp_path_factory):  # noqa: F811
    folder, _ = checkpoints
    root = tmp_path_factory.mktemp("encoder_store")
    clips = [face_clip(2, seed=i) for i in range(N_CLIPS)]
    ids = [f"seq{i:02d}_full" for i in range(N_CLIPS)]
    feature_store = FeatureStore(root)
    for cls in ENCODERS.values():
        extractor = cls(checkpoint=folder, device="cpu", batch_size=8)
        config = {"params": extractor.params(), "weights": extractor.weights(),
                  "preprocess": {"synthetic": "astronaut jitter"}}
        with feature_store.writer(extractor.key, config) as writer:
            for clip_id, features in zip(ids, extractor.extract_clips(clips), strict=True):
                writer.write(clip_id, features)
        extractor.close()
    rng = np.random.default_rng(0)
    with feature_store.writer("appearance", {"extractor": "synthetic-appearance"}) as writer:
        for clip_id in ids:
            writer.write(clip_id, rng.normal(size=(2, 32)).astype(np.float32))
    labels = np.eye(len(CLASSES), dtype=int)[np.arange(N_CLIPS) % len(CLASSES)]
    labels[::3, 4] = 1  # some clips carry two labels
    frame = pd.DataFrame({"clip_id": ids, "sequence_id": [i[:5] for i in ids], "view": "full",
                          "subject": [f"sub{i % 4}" for i in range(N_CLIPS)]})
    for index, name in enumerate(CLASSES):
        frame[name] = labels[:, index]
    return root, ClipTable.from_frame(frame, CLASSES)


def test_store_holds_each_encoders_width(store):
    root, table = store
    feature_store = FeatureStore(root)
    widths = {key: feature_store.load(key, table.clip_ids[:1])[0].shape
              for key in ("smirk", "faceverse", "3ddfa")}
    assert widths == {"smirk": (2, 50), "faceverse": (2, 171), "3ddfa": (2, 64)}
    assert feature_store.info("faceverse").manifest["weights"]["file"] == "faceverse_resnet50.pth"


@pytest.mark.parametrize("encoder", ["smirk", "faceverse", "3ddfa"])
def test_gated_cv_runs_on_each_3d_encoder_with_appearance(store, encoder):
    root, table = store
    config = CVConfig(modalities=[encoder, "appearance"], strategy="gated", protocol="mskf",
                      folds=3, model=ModelConfig(frames=4, dim=16, hidden=16),
                      optim=OptimConfig(epochs=2, batch_size=4), device="cpu")
    result = run_cv(root, table, config)
    assert len(result.folds) == 3
    assert all(set(fold["gate"]) == {encoder, "appearance"} for fold in result.folds)
    assert 0.0 <= result.summary["macro_f1_mean"] <= 1.0
    assert result.provenance["extractors"][encoder]["weights"]["file"] == \
        ENCODERS[encoder].spec.file_name
