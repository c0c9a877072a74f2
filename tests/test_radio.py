"""The RADIO extractor against a local torch.hub folder that the test writes.

The folder's ``hubconf.py`` has RADIO's entry point and interface (``radio_model(version=...,
return_checkpoint=...)``; a module with ``patch_size``, ``preferred_resolution``,
``get_nearest_supported_resolution``, ``summary_idxs`` and an input conditioner, returning
``(summary, features)`` with the summary the concatenation of per-teacher CLS tokens), and it
fetches its checkpoint with ``torch.hub.load_state_dict_from_url`` as RADIO's does.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ["HF_HUB_OFFLINE"] = "1"

import numpy as np
import pytest
import torch

from mefuse.errors import ConfigError, WeightsNotFound
from mefuse.features import base
from mefuse.features.base import create_extractor
from mefuse.store import FeatureStore

torch.set_num_threads(1)

FOUNDATION = "mefuse.features.appearance.foundation"

WIDTH = 16
TEACHERS = ["clip", "siglip", "dino_v2"]
CHECKPOINT_NAME = "tiny-radio_v2.5-b.pth.tar"

HUBCONF = f'''
dependencies = ["torch"]

import os
from collections import namedtuple

import torch
from torch import nn
from torch.hub import load_state_dict_from_url

RadioOutput = namedtuple("RadioOutput", ["summary", "features"])
RESOURCES = {{
    "radio_v2.5-b": ("file:///nonexistent/nvidia/{CHECKPOINT_NAME}", 16,
                     (48, 48)),
}}


class Conditioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.dtype = torch.float32
        self.register_buffer("mean", torch.tensor([0.48, 0.46, 0.41]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.27, 0.26, 0.28]).view(1, 3, 1, 1))

    def forward(self, x):
        y = (x - self.mean) / self.std
        return y if self.dtype is None else y.to(self.dtype)


class TinyRADIO(nn.Module):
    def __init__(self, width, n_teachers, patch, preferred):
        super().__init__()
        self.input_conditioner = Conditioner()
        self.patch_embed = nn.Conv2d(3, width, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, n_teachers, width))
        self.block = nn.TransformerEncoderLayer(width, 2, 2 * width, batch_first=True,
                                                dropout=0.0)
        self.register_buffer("summary_idxs", torch.arange(n_teachers))
        self.embed_dim = width
        self._patch = patch
        self.preferred_resolution = preferred
        self.seen_sizes = []

    @property
    def patch_size(self):
        return self._patch

    def get_nearest_supported_resolution(self, height, width):
        step = self._patch
        return (max(step, round(height / step) * step), max(step, round(width / step) * step))

    def forward(self, x):
        if x.shape[-1] % self._patch or x.shape[-2] % self._patch:
            raise ValueError("input must be a multiple of the patch size")
        self.seen_sizes.append(tuple(x.shape[-2:]))
        tokens = self.patch_embed(self.input_conditioner(x)).flatten(2).transpose(1, 2)
        y = self.block(torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], dim=1))
        summary = y[:, self.summary_idxs].flatten(1)
        return RadioOutput(summary, y[:, self.summary_idxs.numel():])


def radio_model(version="", progress=True, adaptor_names=None, return_checkpoint=False,
                **kwargs):
    if os.path.isfile(version):
        chk = torch.load(version, map_location="cpu", weights_only=False)
        patch, preferred = 16, None
    else:
        url, patch, preferred = RESOURCES[version]
        chk = load_state_dict_from_url(url, progress=progress, map_location="cpu",
                                       weights_only=False)
    model = TinyRADIO(chk["width"], len(chk["args"].teachers), patch, preferred)
    model.load_state_dict(chk["state_dict"])
    return (model, chk) if return_checkpoint else model
'''


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """torch.hub's folder in the test's temporary directory; only this module's extractors."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(base.EXTRACTORS, "modules", [FOUNDATION])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """A RADIO-like hub folder and a checkpoint file for it (not yet in torch's cache)."""
    root = tmp_path_factory.mktemp("radio")
    (root / "RADIO").mkdir()
    (root / "RADIO" / "hubconf.py").write_text(HUBCONF)
    torch.manual_seed(0)
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_hubconf", root / "RADIO" / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TinyRADIO(WIDTH, len(TEACHERS), 16, (48, 48))
    checkpoint = root / CHECKPOINT_NAME
    torch.save({"state_dict": model.state_dict(), "width": WIDTH,
                "args": argparse.Namespace(teachers=[{"name": n} for n in TEACHERS])},
               checkpoint)
    return root / "RADIO", checkpoint


def _radio(hub, **options):
    repo, checkpoint = hub
    options = {"version": "radio_v2.5-b", "repo": str(repo), "checkpoint": str(checkpoint),
               "device": "cpu", "batch_size": 4, **options}
    return create_extractor("radio", **options)


def _clips(lengths=(3, 6), side=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8) for n in lengths]


def test_summary_concatenates_all_teachers_into_the_store(hub, tmp_path):
    extractor = _radio(hub)
    assert extractor.dim == 3 * WIDTH
    assert extractor.teacher_names == TEACHERS
    clips = _clips()
    features = extractor.extract_clips(clips)
    assert [f.shape for f in features] == [(3, 3 * WIDTH), (6, 3 * WIDTH)]
    store = FeatureStore(tmp_path / "store")
    config = {"params": extractor.params(), "weights": extractor.weights(), "preprocess": None}
    with store.writer(extractor.key, config) as writer:
        writer.write("a", features[0])
        writer.write("b", features[1])
    assert extractor.key == "radio_v2.5-b"
    loaded = store.load("radio_v2.5-b", ["a", "b"])
    np.testing.assert_array_equal(loaded[1], features[1])
    manifest = store.info("radio_v2.5-b").manifest
    assert manifest["weights"]["file"] == CHECKPOINT_NAME
    assert manifest["params"]["teacher"] == "all"


@pytest.mark.parametrize(("teacher", "index"), [("siglip", 1), ("2", 2), (0, 0)])
def test_one_teacher_token_is_one_width_and_the_right_slice(hub, teacher, index):
    clip = _clips(lengths=(4,))[0]
    every = _radio(hub).extract_clip(clip)
    one = _radio(hub, teacher=teacher)
    assert one.dim == WIDTH
    got = one.extract_clip(clip)
    assert got.shape == (4, WIDTH)
    np.testing.assert_allclose(got, every[:, index * WIDTH:(index + 1) * WIDTH],
                               rtol=1e-5, atol=1e-6)
    assert one.key == f"radio_v2.5-b-{TEACHERS[index]}"


def test_unknown_teacher_lists_the_known_ones(hub):
    with pytest.raises(ConfigError, match="0=clip, 1=siglip, 2=dino_v2"):
        _radio(hub, teacher="sam")
    with pytest.raises(ConfigError, match="out of range"):
        _radio(hub, teacher=3)


def test_resolution_input_preferred_and_number(hub):
    clip = _clips(lengths=(2,), side=64)[0]
    native = _radio(hub)
    native.extract_clip(clip)
    assert native.net.seen_sizes[-1] == (64, 64)  # 64 is a multiple of 16: no resize
    odd = _radio(hub)
    odd.extract_clip(_clips(lengths=(2,), side=70)[0])
    assert odd.net.seen_sizes[-1] == (64, 64)  # nearest supported side
    preferred = _radio(hub, resolution="preferred")
    preferred.extract_clip(clip)
    assert preferred.net.seen_sizes[-1] == (48, 48)
    assert preferred.params()["resolution"] == [48, 48]
    fixed = _radio(hub, resolution="44")
    fixed.extract_clip(clip)
    assert fixed.net.seen_sizes[-1] == (48, 48)


def test_batch_size_one_and_eight_agree(hub):
    clips = _clips(lengths=(5, 2, 7))
    one = _radio(hub, batch_size=1).extract_clips(clips)
    eight = _radio(hub, batch_size=8).extract_clips(clips)
    for a, b in zip(one, eight, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_checkpoint_in_torch_hub_cache_is_used_without_the_option(hub, tmp_path):
    repo, checkpoint = hub
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / CHECKPOINT_NAME).write_bytes(checkpoint.read_bytes())
    extractor = create_extractor("radio", version="radio_v2.5-b", repo=str(repo), device="cpu")
    assert extractor.weights()["file"] == CHECKPOINT_NAME


def test_missing_checkpoint_names_the_file_and_url_quickly(hub):
    repo, _ = hub
    start = time.monotonic()
    with pytest.raises(WeightsNotFound) as info:
        create_extractor("radio", version="radio_v2.5-b", repo=str(repo), device="cpu")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert CHECKPOINT_NAME in message
    assert "file:///nonexistent/nvidia/" in message
    assert "radio.checkpoint=" in message


def test_missing_code_folder_says_how_to_get_it(tmp_path):
    start = time.monotonic()
    with pytest.raises(WeightsNotFound, match=r"git clone \S*github\.com/NVlabs/RADIO"):
        create_extractor("radio", device="cpu")
    assert time.monotonic() - start < 10


def test_hugging_face_copy_needs_an_explicit_trust_flag(tmp_path):
    folder = tmp_path / "RADIO-B"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "radio"}')
    with pytest.raises(ConfigError, match="trust_remote_code=true"):
        create_extractor("radio", model=str(folder), device="cpu")


class Opaque:
    """A pickled object that weights_only loading must refuse."""


def test_checkpoint_with_arbitrary_objects_needs_trust(tmp_path):
    import torch

    from mefuse.errors import ConfigError
    from mefuse.features.appearance.radio_loading import load_checkpoint

    path = tmp_path / "odd.pth.tar"
    torch.save({"state_dict": {}, "obj": Opaque()}, path)
    with pytest.raises(ConfigError, match="trust_checkpoint=true"):
        load_checkpoint(path, "cpu", allow_pickle=False)
    assert isinstance(load_checkpoint(path, "cpu", allow_pickle=True)["obj"], Opaque)
    plain = tmp_path / "plain.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "args": argparse.Namespace(x=1)}, plain)
    assert load_checkpoint(plain, "cpu", allow_pickle=False)["args"].x == 1


class _Opens:
    """Unpickling this calls ``open(marker, 'w')``: code from the file running."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_checkpoint_file_given_as_version_goes_through_the_weights_only_loader(hub, tmp_path):
    """Issue 11 #1: RADIO's hubconf loads a version *file* with weights_only=False itself."""
    repo, _ = hub
    marker = tmp_path / "code-ran"
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "width": WIDTH, "args": _Opens(marker)}, evil)
    with pytest.raises(ConfigError, match=r"evil\.pt holds Python objects.*trust_checkpoint"):
        create_extractor("radio", version=str(evil), repo=str(repo), device="cpu")
    assert not marker.exists()
    assert torch.load is torch.serialization.load  # the guard is undone


def test_version_file_that_is_not_a_radio_checkpoint_says_so(hub, tmp_path):
    repo, _ = hub
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}, "width": WIDTH}, plain)
    with pytest.raises(ConfigError) as info:
        create_extractor("radio", version=str(plain), repo=str(repo), device="cpu")
    message = str(info.value)
    assert "plain.pt has no 'args' entry" in message and "is unknown" not in message


def test_unknown_version_name_is_still_called_unknown(hub):
    repo, checkpoint = hub
    with pytest.raises(ConfigError, match="version 'radio_v9-x' is unknown"):
        create_extractor("radio", version="radio_v9-x", repo=str(repo),
                         checkpoint=str(checkpoint), device="cpu")


def test_radio_checkpoint_file_as_version_loads(hub):
    repo, checkpoint = hub
    extractor = create_extractor("radio", version=str(checkpoint), repo=str(repo), device="cpu")
    assert extractor.weights()["file"] == CHECKPOINT_NAME


def test_a_protocol_4_checkpoint_is_named_without_torch_warning(tmp_path):
    """The checkpoint loader goes through mefuse's weights-only loader: torch's "Detected
    pickle protocol 4" warning does not appear beside the error, which names the protocol."""
    import warnings

    from mefuse.features.appearance.radio_loading import load_checkpoint

    path = tmp_path / "p4.pth.tar"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, path, pickle_protocol=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match="pickled with protocol 4.*trust_checkpoint"):
            load_checkpoint(path, "cpu", allow_pickle=False)
        assert list(load_checkpoint(path, "cpu", allow_pickle=True)) == ["state_dict"]
    assert not [w for w in caught if "pickle protocol" in str(w.message)]
