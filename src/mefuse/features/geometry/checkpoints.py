"""Finding, loading and checking the official checkpoints of the 3D encoders.

No package ships these weights, so the user supplies each file. This module turns every way that
can go wrong into one message that says what to do: a file that is not there (which file, where
it was looked for, where to download it), a file of another encoder (which encoder it looks
like), and a file whose tensors do not match the network (the first missing and unexpected keys).
Checkpoints are read with ``torch.load(weights_only=True)``, which cannot run code from the file.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mefuse.errors import ConfigError, WeightsNotFound
from mefuse.features.weights import DEFAULT_WEIGHTS_DIR, WEIGHTS_ENV, weights_dirs


@dataclass(frozen=True)
class CheckpointSpec:
    """What an encoder's official checkpoint is called and where a user gets it."""

    encoder: str
    title: str
    file_name: str
    source: str


KNOWN_LAYOUTS: dict[str, str] = {
    "smirk": "a SMIRK checkpoint (SMIRK_em1.pt; for encoder 'smirk')",
    "faceverse": "a FaceVerse v4 checkpoint (faceverse_resnet50.pth; for encoder 'faceverse')",
    "3ddfa": "a 3DDFA-V3 checkpoint (net_recon.pth; for encoder '3ddfa')",
    "3ddfa-mbnet": "3DDFA-V3's MobileNetV3 checkpoint (net_recon_mbnet.pth), which mefuse does "
                   "not support; use net_recon.pth (ResNet-50) with encoder '3ddfa'",
    "resnet": "a plain ResNet classifier (it has an 'fc' layer), not a face-reconstruction "
              "encoder",
}


def locate(spec: CheckpointSpec, checkpoint: str | os.PathLike[str] | None) -> Path:
    """The checkpoint file to use: ``checkpoint`` if given, else ``spec.file_name`` in
    :func:`weights_dirs`. Raises :class:`WeightsNotFound` saying where to get it."""
    how = (f"Download {spec.file_name} from {spec.source}, then pass checkpoint=/path/to/"
           f"{spec.file_name}, or put it in ${WEIGHTS_ENV} or {DEFAULT_WEIGHTS_DIR}.")
    if checkpoint is not None and str(checkpoint) != "":
        path = Path(checkpoint).expanduser()
        if path.is_dir():
            path = path / spec.file_name
        if path.is_file():
            return path
        raise WeightsNotFound(f"{spec.title} checkpoint {path} does not exist. {how}")
    looked = [d / spec.file_name for d in weights_dirs()]
    for path in looked:
        if path.is_file():
            return path
    raise WeightsNotFound(
        f"{spec.title} checkpoint {spec.file_name} was not found (looked in "
        f"{', '.join(str(p) for p in looked)}). {how}"
    )


def load_checkpoint(path: Path, spec: CheckpointSpec) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with errors that name the file."""
    from mefuse.utils.torchload import load_weights_only

    try:
        return load_weights_only(path)
    except pickle.UnpicklingError as exc:
        if "weights only" not in str(exc).lower():
            raise ConfigError(
                f"{path} cannot be read as a PyTorch checkpoint (expected {spec.title}'s "
                f"{spec.file_name}): {exc}"
            ) from exc
        raise ConfigError(
            f"{path} holds Python objects besides tensors, and mefuse only loads checkpoints with "
            f"weights_only=True; is it the official {spec.file_name}? ({exc})"
        ) from exc
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise ConfigError(
            f"{path} cannot be read as a PyTorch checkpoint (expected {spec.title}'s "
            f"{spec.file_name}): {exc}"
        ) from exc


def identify(obj: Any) -> str | None:
    """Which known checkpoint layout ``obj`` looks like (a :data:`KNOWN_LAYOUTS` key), or None.

    Decided by key prefixes and by the width of the expression head, which differs between
    FaceVerse (177) and 3DDFA (64) although both use ``backbone.*`` and ``final_layers.*``.
    """
    if not isinstance(obj, Mapping):
        return None
    keys = [k for k in obj if isinstance(k, str)]
    if any(k.startswith(("smirk_encoder.", "smirk_generator.")) for k in keys):
        return "smirk"
    if isinstance(obj.get("net_recon"), Mapping):
        inner = identify(obj["net_recon"])
        return inner if inner in ("3ddfa", "3ddfa-mbnet") else None
    if isinstance(obj.get("state_dict"), Mapping):
        return identify(obj["state_dict"])
    if any(k.startswith("backbone.features.") for k in keys) and "final_layers.1.weight" in obj:
        return "3ddfa-mbnet"
    exp_head = obj.get("final_layers.1.weight")
    if exp_head is not None and any(k.startswith("backbone.") for k in keys):
        width = int(exp_head.shape[0])
        if width == 177:
            return "faceverse"
        if width == 64:
            return "3ddfa"
    if "conv1.weight" in obj and "fc.weight" in obj:
        return "resnet"
    return None


def require_layout(obj: Any, expected: str, spec: CheckpointSpec, path: Path) -> None:
    """Raise :class:`ConfigError` when ``obj`` is recognisably another encoder's checkpoint."""
    found = identify(obj)
    if found is None or found == expected:
        return
    raise ConfigError(
        f"{path} is not {spec.title}'s {spec.file_name}: it looks like {KNOWN_LAYOUTS[found]}. "
        f"Give encoder {spec.encoder!r} its own checkpoint (from {spec.source})."
    )


def load_strict(module: Any, state: Mapping[str, Any], spec: CheckpointSpec, path: Path,
                *, show: int = 5) -> None:
    """``module.load_state_dict(state, strict=True)``, with missing, unexpected and mis-shaped
    keys listed (the first ``show`` of each) instead of PyTorch's wall of text."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (network: {tuple(own[k].shape)})"
        for k in own
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(own[k].shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", misshaped)):
            if items:
                more = f" and {len(items) - show} more" if len(items) > show else ""
                parts.append(f"{len(items)} {label}: {', '.join(items[:show])}{more}")
        raise ConfigError(
            f"{path} does not match the {spec.title} network ({'; '.join(parts)}). Is it the "
            f"official {spec.file_name} from {spec.source}?"
        )
    module.load_state_dict(dict(state), strict=True)
