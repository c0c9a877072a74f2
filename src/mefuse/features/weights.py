"""Find a pretrained model's files offline, or say exactly how to supply them.

mefuse never downloads weights behind the user's back (the machines ME researchers extract on are
often offline, and a silent multi-gigabyte download in the middle of a sharded run is worse than
an error). A model is taken, in this order, from:

1. a local folder or file the user names;
2. ``$MEFUSE_WEIGHTS/<name>`` or ``~/.cache/mefuse/weights/<name>``, where ``<name>`` is the last
   part of a Hugging Face repository id (``google/siglip2-large-patch16-384`` ->
   ``siglip2-large-patch16-384``);
3. the Hugging Face hub cache (``HF_HOME`` / ``HF_HUB_CACHE``), read with ``local_files_only``.

Nothing here touches the network, so a missing model fails in milliseconds with one
:class:`~mefuse.errors.WeightsNotFound` that names the model, the file expected and the ways to
supply it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mefuse.errors import WeightsNotFound
from mefuse.utils.hashing import sha256_of, text_digest

WEIGHTS_ENV = "MEFUSE_WEIGHTS"
"""Environment variable naming a folder (or ``os.pathsep``-separated folders) of weights."""

DEFAULT_WEIGHTS_DIR = Path("~/.cache/mefuse/weights")

WEIGHT_FILE_PATTERNS: tuple[str, ...] = (
    "model.safetensors",
    "model-*-of-*.safetensors",
    "pytorch_model.bin",
    "pytorch_model-*-of-*.bin",
)
"""Weight files of a transformers model folder, in the order transformers prefers them."""

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model's files were found."""

    path: Path
    """The folder (or single file) to load from."""
    label: str
    """What to record in a manifest: the repository id, or the folder's name for local files
    (an absolute path would make two machines' manifests differ for the same weights)."""
    source: str
    """``"local"``, ``"weights-dir"`` or ``"hub-cache"``."""


def weights_dirs() -> list[Path]:
    """Folders searched for a model that was not given by path, in order."""
    dirs = [Path(p).expanduser() for p in os.environ.get(WEIGHTS_ENV, "").split(os.pathsep) if p]
    return [*dirs, DEFAULT_WEIGHTS_DIR.expanduser()]


def looks_like_repo_id(model: str) -> bool:
    """True for ``name`` or ``owner/name`` that is not spelled like a file-system path."""
    return bool(_REPO_ID.match(model)) and not model.startswith((".", "~"))


def resolve_pretrained(
    model: str | os.PathLike[str],
    *,
    title: str,
    expect: str = "config.json",
    cache_dir: str | os.PathLike[str] | None = None,
    option: str = "model",
) -> ResolvedModel:
    """The folder holding ``model``'s files, found without the network.

    ``title`` names the extractor in messages; ``expect`` is the file a usable folder must hold;
    ``option`` is the extractor option the user sets to give a path (for the message).
    Raises :class:`WeightsNotFound` listing every place looked at and how to fill one of them.
    """
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if path.is_dir() and not (path / expect).is_file():
            raise WeightsNotFound(
                f"{title}: folder {path} has no {expect}; it does not look like a saved "
                f"Hugging Face model (expected {expect} and model.safetensors)."
            )
        return ResolvedModel(path, path.name, "local")
    if not looks_like_repo_id(text):
        raise WeightsNotFound(
            f"{title}: {path} does not exist. Pass {option}=<folder with {expect} and "
            "model.safetensors> or a Hugging Face repository id present in the hub cache."
        )
    short = text.rsplit("/", 1)[-1]
    looked = [d / short for d in weights_dirs()]
    for candidate in looked:
        if (candidate / expect).is_file():
            return ResolvedModel(candidate, text, "weights-dir")
    snapshot = hub_snapshot(text, cache_dir=cache_dir)
    if snapshot is not None and (snapshot / expect).is_file():
        return ResolvedModel(snapshot, text, "hub-cache")
    raise WeightsNotFound(
        f"{title}: weights for {text!r} were not found ({expect} and model.safetensors "
        f"expected). Looked in: {', '.join(str(p) for p in looked)}, and the Hugging Face "
        f"cache {hub_cache_dir(cache_dir)}. mefuse does not download models; supply them in "
        f"one of these ways:\n"
        f"  - on a machine with network: `hf download {text}` (then copy the cache folder and "
        f"set HF_HOME), or\n"
        f"  - download the repository's files into a folder and pass {option}=/path/to/folder "
        f"(CLI: --option <extractor>.{option}=/path/to/folder), or\n"
        f"  - put that folder at {looked[0]}."
    )


def hub_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The Hugging Face hub cache folder in effect."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        home = os.environ.get("HF_HOME", "~/.cache/huggingface")
        return Path(home).expanduser() / "hub"


def hub_snapshot(repo_id: str, *, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` (never downloads), or ``None``."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError:
        return None
    try:
        folder = snapshot_download(
            repo_id, cache_dir=None if cache_dir is None else str(cache_dir),
            local_files_only=True,
        )
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return Path(str(folder))


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a transformers model folder (one file, or the shards of one kind)."""
    if folder.is_file():
        return [folder]
    for pattern in WEIGHT_FILE_PATTERNS:
        found = sorted(folder.glob(pattern))
        if found:
            return found
    return []


def file_sha256(path: Path) -> str:
    """Hex sha256 of one file.

    A file in the Hugging Face cache is a link to ``blobs/<sha256>`` for large (LFS) files, and
    the hub checked that hash when it downloaded the file; reading the name then saves hashing
    gigabytes on every run.
    """
    resolved = path.resolve()
    if resolved.parent.name == "blobs" and _SHA256.match(resolved.name):
        return resolved.name
    return sha256_of(resolved)


def weights_record(files: list[Path]) -> dict[str, Any] | None:
    """``{"file", "sha256"}`` for a manifest; several shards get one digest over their
    ``name:sha256`` lines so that any changed shard changes it."""
    if not files:
        return None
    if len(files) == 1:
        return {"file": files[0].name, "sha256": file_sha256(files[0])}
    lines = "".join(f"{f.name}:{file_sha256(f)}\n" for f in files)
    return {
        "file": f"{files[0].name} (+{len(files) - 1} shards)",
        "sha256": text_digest(lines, 64),
    }
