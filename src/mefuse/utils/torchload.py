"""``torch.load`` of untrusted files, quietly: weights only, and no warning of torch's own.

torch's weights-only unpickler warns ("Detected pickle protocol 4 in the checkpoint ...") for any
pickle protocol other than 2, before it reads a single entry. When the file then loads, the
warning is noise; when it fails (protocol 4 frames are an opcode it does not know), mefuse's own
one-line error says why, and the warning is a stray paragraph beside it. :func:`load_weights_only`
drops that warning, within the call only, and :func:`pickle_protocol` lets an error name the
protocol.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

PROTOCOL_WARNING = r"Detected pickle protocol \d+ in the checkpoint"


def load_weights_only(path: str | Path, map_location: Any = "cpu", *, loader: Any = None
                      ) -> Any:
    """``torch.load(path, map_location, weights_only=True)`` without torch's pickle-protocol
    warning (every other warning passes). ``loader``: the real ``torch.load`` where a caller
    has replaced ``torch.load`` for a while (RADIO's loading does)."""
    import torch

    load = loader or torch.load
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=PROTOCOL_WARNING, category=UserWarning)
        return load(path, map_location=map_location, weights_only=True)


def pickle_protocol(path: str | Path) -> int | None:
    """The pickle protocol of a ``torch.save`` file (zip or legacy), or None if unknown."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
                if name is None:
                    return None
                with archive.open(name) as member:
                    head = member.read(2)
        else:
            with open(path, "rb") as handle:
                head = handle.read(2)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return None
    return head[1] if len(head) == 2 and head[0] == 0x80 else None  # PROTO opcode, version
