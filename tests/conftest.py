"""Shared test setup: offline, single-threaded, with a session-wide demo feature store."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The feature-level demo store (modalities 'signal' and 'noise') and its clip table."""
    from mefuse.data.demo_features import make_demo_store

    root = tmp_path_factory.mktemp("demo_store")
    table = make_demo_store(root)
    return root, table
