"""Content hashes, defined once: of a file (weights, checkpoints) and of text (fingerprints).

Why one place: manifests record weights by sha256 and the bench identifies its cells by digests
of their configuration and data; two spellings of "hash this" drift apart (chunk sizes, text
encodings, digest lengths) and then equal inputs stop giving equal ids.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks (weights are often gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def text_digest(text: str, length: int = 16) -> str:
    """The first ``length`` hex digits of the sha256 of ``text`` (UTF-8): a short stable id."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
