"""The three encoders load checkpoints written in the official layouts, strictly, and say clearly
what is wrong with a missing, foreign or mismatched file.

The writers below build each official layout from timm / torchvision directly (not from
mefuse's networks), with random weights: same key names, shapes, prefix and wrapper as
``SMIRK_em1.pt`` (flat, with the pose/shape encoders and the generator beside the expression
encoder), ``faceverse_resnet50.pth`` (bare) and ``net_recon.pth`` (under ``net_recon``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from mefuse.errors import ConfigError, MefuseError, WeightsNotFound

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")

from mefuse.features.geometry.encoders import ENCODERS  # noqa: E402

FACEVERSE_HEADS = (156, 177, 251, 27, 3, 2, 1, 4)
TDDFA_HEADS = (80, 64, 80, 3, 27, 2, 1)
FILES = {"smirk": "SMIRK_em1.pt", "faceverse": "faceverse_resnet50.pth",
         "3ddfa": "net_recon.pth"}


def _heads(sizes, generator):
    state = {}
    for index, size in enumerate(sizes):
        state[f"final_layers.{index}.weight"] = torch.randn(size, 2048, 1, 1,
                                                            generator=generator) * 0.02
        state[f"final_layers.{index}.bias"] = torch.randn(size, generator=generator) * 0.1
    return state


def _trunk():
    net = torchvision.models.resnet50(weights=None)
    return {f"backbone.{k}": v for k, v in net.state_dict().items() if not k.startswith("fc.")}


def write_faceverse(path: Path, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    state = {**_trunk(), **_heads(FACEVERSE_HEADS, torch.Generator().manual_seed(seed))}
    torch.save(state, path)
    return state


def write_tddfa(path: Path, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    state = {**_trunk(), **_heads(TDDFA_HEADS, torch.Generator().manual_seed(seed))}
    torch.save({"net_recon": state}, path)
    return state


def write_smirk(path: Path, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    expression = timm.create_model("tf_mobilenetv3_large_minimal_100", pretrained=False,
                                   features_only=True)
    pose = timm.create_model("tf_mobilenetv3_small_minimal_100", pretrained=False,
                             features_only=True)
    state = {f"smirk_encoder.expression_encoder.encoder.{k}": v
             for k, v in expression.state_dict().items()}
    head = torch.nn.Linear(960, 55)
    state["smirk_encoder.expression_encoder.expression_layers.0.weight"] = head.weight.data
    state["smirk_encoder.expression_encoder.expression_layers.0.bias"] = head.bias.data
    # what else the official file holds: pose and shape encoders, and the generator
    state.update({f"smirk_encoder.pose_encoder.encoder.{k}": v
                  for k, v in pose.state_dict().items()})
    state["smirk_encoder.pose_encoder.pose_cam_layers.0.weight"] = torch.zeros(6, 576)
    state["smirk_encoder.pose_encoder.pose_cam_layers.0.bias"] = torch.zeros(6)
    state["smirk_encoder.shape_encoder.shape_layers.0.weight"] = torch.zeros(300, 960)
    state["smirk_encoder.shape_encoder.shape_layers.0.bias"] = torch.zeros(300)
    state["smirk_generator.encoder1.enc1conv1.weight"] = torch.zeros(32, 6, 3, 3)
    torch.save(state, path)
    return state


WRITERS = {"smirk": write_smirk, "faceverse": write_faceverse, "3ddfa": write_tddfa}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """Official-layout checkpoints with random weights, by encoder name, and their states."""
    folder = tmp_path_factory.mktemp("weights")
    states = {name: WRITERS[name](folder / FILES[name]) for name in ENCODERS}
    return folder, states


def _frames_and_landmarks(n=2):
    """Synthetic frames and landmarks: a bright disc framed by a ring of 478 points."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(n, 200, 200, 3), dtype=np.uint8)
    angles = np.linspace(0, 2 * np.pi, 478)
    ring = np.stack([100 + 60 * np.cos(angles), 100 + 70 * np.sin(angles), np.zeros(478)], 1)
    ring[[33, 133], :2] = [[75, 80], [90, 80]]
    ring[[362, 263], :2] = [[110, 80], [125, 80]]
    ring[1, :2] = [100, 105]
    ring[[61, 291], :2] = [[82, 130], [118, 130]]
    return frames, np.stack([ring + i for i in range(n)])


@pytest.mark.parametrize(("name", "width"), [("smirk", 50), ("faceverse", 171), ("3ddfa", 64)])
def test_official_layout_loads_strictly_and_gives_the_expression_width(checkpoints, name, width):
    folder, _ = checkpoints
    extractor = ENCODERS[name](checkpoint=str(folder / FILES[name]), device="cpu",
                               batch_size="2")
    frames, marks = _frames_and_landmarks(3)
    crops = extractor.crops(frames, marks)
    coefficients = extractor.encode(crops)
    assert coefficients.shape == (3, width) and coefficients.dtype == np.float32
    assert np.isfinite(coefficients).all()
    assert not np.allclose(coefficients[0], coefficients[1])  # the input matters
    assert extractor.weights()["file"] == FILES[name]
    assert len(extractor.weights()["sha256"]) == 64
    assert extractor.params()["crop_size"] == crops.shape[1]
    assert crops.shape[1] == {"smirk": 224, "faceverse": 256, "3ddfa": 224}[name]


@pytest.mark.parametrize("name", ["faceverse", "3ddfa"])
def test_resnet_encoders_return_the_expression_head(checkpoints, name):
    """The kept values equal an independent torchvision forward through the expression head."""
    folder, states = checkpoints
    extractor = ENCODERS[name](checkpoint=folder, device="cpu")
    trunk = torchvision.models.resnet50(weights=None)
    trunk.fc = torch.nn.Identity()
    trunk.load_state_dict({k[len("backbone."):]: v for k, v in states[name].items()
                           if k.startswith("backbone.")})
    frames, marks = _frames_and_landmarks(1)
    crops = extractor.crops(frames, marks)
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        pooled = trunk.eval()(images)
    weight = states[name]["final_layers.1.weight"][:, :, 0, 0]
    bias = states[name]["final_layers.1.bias"]
    expected = (pooled @ weight.T + bias)[:, :extractor.dim].numpy()
    assert np.allclose(extractor.encode(crops), expected, atol=1e-4)


def test_smirk_returns_the_first_50_of_its_55_outputs(checkpoints):
    folder, states = checkpoints
    extractor = ENCODERS["smirk"](checkpoint=folder / FILES["smirk"], device="cpu")
    backbone = timm.create_model("tf_mobilenetv3_large_minimal_100", pretrained=False,
                                 features_only=True)
    prefix = "smirk_encoder.expression_encoder.encoder."
    backbone.load_state_dict({k[len(prefix):]: v for k, v in states["smirk"].items()
                              if k.startswith(prefix)})
    frames, marks = _frames_and_landmarks(1)
    crops = extractor.crops(frames, marks)
    images = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        pooled = backbone.eval()(images)[-1].mean(dim=(2, 3))
    head = "smirk_encoder.expression_encoder.expression_layers.0."
    out = pooled @ states["smirk"][head + "weight"].T + states["smirk"][head + "bias"]
    assert np.allclose(extractor.encode(crops), out[:, :50].numpy(), atol=1e-4)


def test_registry_builds_the_encoders_by_name(checkpoints):
    others = ["mefuse.features.geometry.mesh3d", "mefuse.features.appearance.flow",
              "mefuse.features.appearance.foundation"]
    if any(importlib.util.find_spec(m) is None for m in others):
        pytest.skip("the registry's other built-in modules are not in this tree yet")
    from mefuse.features.base import create_extractor, list_extractors

    folder, _ = checkpoints
    assert {"smirk", "faceverse", "3ddfa"} <= set(list_extractors())
    extractor = create_extractor("3ddfa", checkpoint=str(folder), device="cpu")
    assert extractor.kind == "geometry" and extractor.dim == 64


# ---------------------------------------------------------------------------------- errors
def test_missing_checkpoint_names_the_file_and_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("MEFUSE_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(WeightsNotFound, match=r"faceverse_resnet50\.pth.*LizhenWangT/FaceVerse_v4"):
        ENCODERS["faceverse"](device="cpu")
    with pytest.raises(WeightsNotFound, match=r"nowhere/SMIRK_em1\.pt does not exist.*smirk"):
        ENCODERS["smirk"](checkpoint=tmp_path / "nowhere" / "SMIRK_em1.pt", device="cpu")


def test_default_search_finds_the_file_in_mefuse_weights(checkpoints, monkeypatch):
    folder, _ = checkpoints
    monkeypatch.setenv("MEFUSE_WEIGHTS", str(folder))
    assert ENCODERS["smirk"](device="cpu").checkpoint == folder / "SMIRK_em1.pt"


@pytest.mark.parametrize(("encoder", "given", "looks_like"), [
    ("faceverse", "smirk", "a SMIRK checkpoint"),
    ("smirk", "3ddfa", "a 3DDFA-V3 checkpoint"),
    ("3ddfa", "faceverse", "a FaceVerse v4 checkpoint"),
])
def test_wrong_encoders_file_says_what_it_looks_like(checkpoints, encoder, given, looks_like):
    folder, _ = checkpoints
    with pytest.raises(ConfigError, match=rf"is not .*{FILES[encoder]}.*looks like {looks_like}"):
        ENCODERS[encoder](checkpoint=folder / FILES[given], device="cpu")


def test_mobilenet_3ddfa_file_is_refused_with_a_reason(tmp_path):
    path = tmp_path / "net_recon_mbnet.pth"
    torch.save({"net_recon": {"backbone.features.0.0.weight": torch.zeros(16, 3, 3, 3),
                              "final_layers.1.weight": torch.zeros(64, 960, 1, 1)}}, path)
    with pytest.raises(ConfigError, match=r"MobileNetV3.*not support"):
        ENCODERS["3ddfa"](checkpoint=path, device="cpu")


def test_key_mismatch_lists_the_first_missing_and_unexpected_keys(checkpoints, tmp_path):
    _, states = checkpoints
    state = dict(states["smirk"])
    old = "smirk_encoder.expression_encoder.encoder.conv_stem.weight"
    state[old.replace("conv_stem", "stem_conv")] = state.pop(old)
    path = tmp_path / "SMIRK_em1.pt"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"1 missing: encoder\.conv_stem\.weight; 1 unexpected: "
                                          r"encoder\.stem_conv\.weight"):
        ENCODERS["smirk"](checkpoint=path, device="cpu")


def test_wrong_shape_is_reported(checkpoints, tmp_path):
    _, states = checkpoints
    state = dict(states["smirk"])
    key = "smirk_encoder.expression_encoder.expression_layers.0.bias"
    state[key] = torch.zeros(60)
    path = tmp_path / "SMIRK_em1.pt"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"wrong shape: expression_layers\.0\.bias \(60,\)"):
        ENCODERS["smirk"](checkpoint=path, device="cpu")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "net_recon.pth"
    torch.save({"net_recon": {}, "opt": Path("x")}, path)
    with pytest.raises(ConfigError, match=r"weights_only=True"):
        ENCODERS["3ddfa"](checkpoint=path, device="cpu")


def test_not_a_checkpoint_at_all(tmp_path):
    path = tmp_path / "faceverse_resnet50.pth"
    path.write_text("hello")
    with pytest.raises(ConfigError, match=r"cannot be read as a PyTorch checkpoint"):
        ENCODERS["faceverse"](checkpoint=path, device="cpu")


@pytest.mark.parametrize("params", [{"batch_size": 0}, {"smoothing": "gauss"},
                                    {"smoothing": "mean", "smoothing_window": 4}])
def test_bad_parameters_are_config_errors(checkpoints, params):
    folder, _ = checkpoints
    with pytest.raises(ConfigError):
        ENCODERS["smirk"](checkpoint=folder, device="cpu", **params)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(checkpoints):
    folder, _ = checkpoints
    with pytest.raises(MefuseError, match="CUDA is not available"):
        ENCODERS["smirk"](checkpoint=folder, device="cuda:0")
