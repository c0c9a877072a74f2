"""Foundation-model extractors (SigLIP/SigLIP2, DINOv2, CLIP) on tiny random-weight models.

Each model is built from a config in the test, saved with ``save_pretrained`` and loaded back
through the registry, so the whole public path runs offline in seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from mefuse.errors import ConfigError, WeightsNotFound
from mefuse.features import base
from mefuse.features.appearance.pixels import PixelSpec, to_model_input
from mefuse.features.base import create_extractor
from mefuse.store import FeatureStore

torch.set_num_threads(1)

FOUNDATION = "mefuse.features.appearance.foundation"

SIGLIP_PROCESSOR = {
    "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2,
    "rescale_factor": 1 / 255, "size": {"height": 32, "width": 32},
    "image_processor_type": "SiglipImageProcessor",
}


@pytest.fixture(autouse=True)
def offline_and_isolated(tmp_path, monkeypatch):
    """No network, empty caches, and only this module's extractors in the registry (other
    engineers' extractor modules may be half-written while these tests run)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("MEFUSE_WEIGHTS", str(tmp_path / "mefuse-weights"))
    monkeypatch.setattr("mefuse.features.weights.DEFAULT_WEIGHTS_DIR", tmp_path / "no-weights")
    monkeypatch.setattr(base.EXTRACTORS, "modules", [FOUNDATION])


def _save(model, folder, processor=None):
    model.save_pretrained(folder)
    if processor is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Folders of tiny random-weight SigLIP (full model), SigLIP2 NaFlex, DINOv2 and CLIP."""
    import transformers as tf

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("tiny-models")
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4}
    siglip = tf.SiglipModel(tf.SiglipConfig(
        vision_config={**small, "image_size": 32, "patch_size": 8},
        text_config={**small, "vocab_size": 99, "max_position_embeddings": 16},
    ))
    naflex = tf.Siglip2VisionModel(tf.Siglip2VisionConfig(**small, num_patches=16, patch_size=8))
    dinov2 = tf.Dinov2Model(tf.Dinov2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, mlp_ratio=2, image_size=28,
        patch_size=14,
    ))
    clip = tf.CLIPVisionModelWithProjection(tf.CLIPVisionConfig(
        **small, image_size=32, patch_size=8, projection_dim=16,
    ))
    return {
        "siglip2": _save(siglip, root / "siglip", SIGLIP_PROCESSOR),
        "naflex": _save(naflex, root / "naflex", {
            "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2,
            "max_num_patches": 16, "patch_size": 8,
        }),
        "dinov2": _save(dinov2, root / "dinov2", {
            "crop_size": {"height": 28, "width": 28}, "do_center_crop": True,
            "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
            "resample": 3, "size": {"shortest_edge": 32},
        }),
        "clip": _save(clip, root / "clip"),
    }


def _clips(lengths=(3, 5, 7), side=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8) for n in lengths]


@pytest.mark.parametrize(
    ("name", "folder", "options", "dim"),
    [
        ("siglip2", "siglip2", {}, 32),
        ("siglip2", "naflex", {}, 32),
        ("dinov2", "dinov2", {}, 32),
        ("clip", "clip", {}, 16),
        ("clip", "clip", {"output": "pooler"}, 32),
    ],
)
def test_tiny_models_into_the_store(models, tmp_path, name, folder, options, dim):
    extractor = create_extractor(name, model=str(models[folder]), device="cpu", batch_size=4,
                                 **options)
    clips = _clips()
    features = extractor.extract_clips(clips)
    assert [f.shape for f in features] == [(len(c), dim) for c in clips]
    assert extractor.dim == dim
    store = FeatureStore(tmp_path / "store")
    config = {"params": extractor.params(), "weights": extractor.weights(), "preprocess": None}
    with store.writer(extractor.key, config) as writer:
        for i, array in enumerate(features):
            writer.write(f"clip{i}", array)
    loaded = store.load(extractor.key, ["clip0", "clip1", "clip2"])
    for got, want in zip(loaded, features, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)
    assert store.info(extractor.key).dim == dim
    assert len(extractor.weights()["sha256"]) == 64
    assert extractor.weights()["file"] == "model.safetensors"


def test_batch_size_one_and_eight_agree(models):
    clips = _clips(lengths=(2, 9, 4))
    one = create_extractor("siglip2", model=str(models["siglip2"]), device="cpu", batch_size=1)
    eight = create_extractor("siglip2", model=str(models["siglip2"]), device="cpu", batch_size=8)
    for a, b in zip(one.extract_clips(clips), eight.extract_clips(clips), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    single = eight.extract_clip(clips[1])
    np.testing.assert_allclose(single, one.extract_clips(clips)[1], rtol=1e-4, atol=1e-5)


def test_siglip_features_match_the_model_on_its_own_normalisation(models):
    """Crops already at the model's size are not resized; pixels are (x/255 - 0.5) / 0.5."""
    from transformers import SiglipVisionModel

    clip = _clips(lengths=(4,), side=32)[0]
    extractor = create_extractor("siglip2", model=str(models["siglip2"]), device="cpu")
    net = SiglipVisionModel.from_pretrained(str(models["siglip2"]), local_files_only=True)
    pixels = (torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        expected = net(pixel_values=pixels).pooler_output.numpy()
    np.testing.assert_allclose(extractor.extract_clip(clip), expected, rtol=1e-4, atol=1e-5)


def test_one_resize_matches_the_official_image_processor():
    """1024 px crops resized straight to 384 px agree with SiglipImageProcessor's output."""
    from transformers import SiglipImageProcessor

    rng = np.random.default_rng(1)
    # A smooth image (faces are smooth): per-pixel noise would exaggerate filter differences.
    small = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    frames = np.repeat(np.repeat(small, 64, axis=1), 64, axis=2)
    processor = SiglipImageProcessor(**{k: v for k, v in SIGLIP_PROCESSOR.items()
                                        if k != "image_processor_type"} | {
                                         "size": {"height": 384, "width": 384}})
    official = processor(images=list(frames), return_tensors="pt")["pixel_values"]
    ours = to_model_input(frames, PixelSpec((384, 384), (0.5,) * 3, (0.5,) * 3, "bilinear"),
                          torch.device("cpu"))
    assert ours.shape == official.shape == (2, 3, 384, 384)
    assert (ours - official).abs().mean() < 0.01
    assert (ours - official).abs().max() < 0.1


def test_grey_clip_equals_its_rgb_copy(models):
    extractor = create_extractor("dinov2", model=str(models["dinov2"]), device="cpu")
    grey = np.random.default_rng(2).integers(0, 256, (3, 40, 40), dtype=np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    np.testing.assert_allclose(extractor.extract_clip(grey), extractor.extract_clip(rgb),
                               rtol=1e-5, atol=1e-6)


def test_dinov2_image_size_is_rounded_to_the_patch(models):
    extractor = create_extractor("dinov2", model=str(models["dinov2"]), device="cpu",
                                 image_size="40")
    assert extractor.params()["image_size"] == [42, 42]
    assert extractor.extract_clip(_clips(lengths=(2,))[0]).shape == (2, 32)


def test_key_and_params_name_the_model(models):
    extractor = create_extractor("clip", model=str(models["clip"]), device="cpu",
                                 output="pooler")
    assert extractor.key == "clip-pooler"
    params = extractor.params()
    assert params["model"] == "clip"
    assert params["image_size"] == [32, 32]
    # CLIP's own normalisation, since this folder has no preprocessor_config.json
    assert params["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073], abs=1e-6)
    assert params["precision"] == "fp32"


def test_a_model_from_the_hub_cache_loads_offline(models, tmp_path):
    """A repository id resolves to its cached snapshot without any network call."""
    import shutil

    from huggingface_hub import constants

    repo = tmp_path / "hf-cache" / "models--google--siglip2-tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(models["siglip2"], snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    assert str(tmp_path / "hf-cache") == constants.HF_HUB_CACHE
    extractor = create_extractor("siglip2", model="google/siglip2-tiny", device="cpu")
    assert extractor.resolved.source == "hub-cache"
    assert extractor.params()["model"] == "google/siglip2-tiny"
    assert extractor.key == "siglip2-tiny"


def test_missing_weights_offline_fail_fast_with_one_clear_error():
    start = time.monotonic()
    with pytest.raises(WeightsNotFound) as info:
        create_extractor("siglip2", device="cpu")
    elapsed = time.monotonic() - start
    assert elapsed < 10
    message = str(info.value)
    assert "google/siglip2-large-patch16-384" in message
    assert "config.json" in message and "model.safetensors" in message
    assert "hf download" in message and "model=/path/to/folder" in message


def test_missing_local_folder_and_folder_without_weights(tmp_path):
    with pytest.raises(WeightsNotFound, match="does not exist"):
        create_extractor("dinov2", model=str(tmp_path / "nowhere"), device="cpu")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFound, match="no weight file"):
        create_extractor("dinov2", model=str(tmp_path / "empty"), device="cpu")


def test_without_transformers_the_error_says_what_to_install(models, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'mefuse\[hf\]'"):
        create_extractor("siglip2", model=str(models["siglip2"]), device="cpu")


def test_bad_options_are_config_errors(models):
    with pytest.raises(ConfigError, match="device"):
        create_extractor("clip", model=str(models["clip"]), device="tpu")
    with pytest.raises(ConfigError, match="precision"):
        create_extractor("clip", model=str(models["clip"]), device="cpu", precision="fp8")
    with pytest.raises(ConfigError, match="image_size"):
        create_extractor("siglip2", model=str(models["siglip2"]), device="cpu", image_size=64)
    with pytest.raises(ConfigError, match="SigLIP"):
        create_extractor("siglip2", model=str(models["clip"]), device="cpu")


class _Opens:
    """Unpickling this calls ``open(marker, 'w')``: code from the file running."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pytorch_model_bin_is_refused_naming_the_file(models, tmp_path):
    """Issue 11 #13: refused (good), but as one error naming the file, not a traceback."""
    import shutil

    folder = tmp_path / "evil-dinov2"
    folder.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(models["dinov2"] / name, folder / name)
    marker = tmp_path / "code-ran"
    torch.save({"embeddings.cls_token": torch.zeros(1, 1, 32), "x": _Opens(marker)},
               folder / "pytorch_model.bin")
    with pytest.raises(ConfigError) as info:
        create_extractor("dinov2", model=str(folder), device="cpu")
    message = str(info.value)
    assert str(folder / "pytorch_model.bin") in message
    assert "Python objects" in message
    assert not marker.exists()
