"""The one device resolver: ``--device`` and config ``device`` strings to a checked torch device.

Why here, at the bottom of the layers: extraction (foundation models, 3D encoders) and training
both take a device, and must accept and refuse the same strings with the same messages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mefuse.errors import ConfigError

if TYPE_CHECKING:
    import torch


def resolve_device(device: str | None) -> torch.device:
    """``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    import torch

    text = (device or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(text)
    except RuntimeError as exc:
        raise ConfigError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} was asked for but CUDA is not available")
        index = resolved.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible"
            )
        resolved = torch.device("cuda", index)
    elif resolved.type != "cpu":
        raise ConfigError(f"device {device!r} is not supported (use cpu, cuda or cuda:N)")
    return resolved
