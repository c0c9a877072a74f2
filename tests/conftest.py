"""Shared test setup: offline, single-threaded, with a session-wide demo feature store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GLOG_minloglevel", "2")
# CLI tests run the installed `mefuse` command, as users do: the one installed beside the Python
# that runs the tests, whether or not its environment is activated (`make test` does not).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                      os.environ.get("PATH", "")])

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory):
    """The feature-level demo store (modalities 'signal' and 'noise') and its clip table."""
    from mefuse.demo.features import make_demo_store

    root = tmp_path_factory.mktemp("demo_store")
    table = make_demo_store(root)
    return root, table
