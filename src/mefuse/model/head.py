"""The classification head of the paper: ``Linear(Dropout(LayerNorm(GELU(Linear(z)))))``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def dropout_scale(noise: torch.Tensor | None, p: float) -> torch.Tensor | None:
    """The factor inverted dropout multiplies by: ``(noise >= p) / (1 - p)``, from uniform
    [0, 1) draws ``noise``; ``None`` when nothing is dropped (``noise`` is None or ``p`` is 0).

    Why explicit: a fit's random numbers must not depend on how many fits run beside it, so
    that training many folds as one stacked model (``torch.func.vmap``) gives the same result as
    training them one at a time. Returned apart from the tensor it scales so that a pool can
    apply a per-clip channel scale without forming the scaled frames.
    """
    if noise is None or p == 0.0:
        return None
    return (noise >= p).to(noise.dtype) / (1.0 - p)


def dropout_with_noise(x: torch.Tensor, noise: torch.Tensor | None, p: float) -> torch.Tensor:
    """Inverted dropout driven by ``noise`` (see :func:`dropout_scale`); ``noise=None``
    (evaluation) leaves ``x`` untouched."""
    scale = dropout_scale(noise, p)
    return x if scale is None else x * scale.to(x.dtype)


class ClassificationHead(nn.Module):
    """Two linear layers with GELU, LayerNorm and dropout between them, in the paper's order."""

    def __init__(self, dim: int, hidden: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {dropout}")
        self.hidden = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.LayerNorm(hidden))
        self.dropout = dropout
        self.out = nn.Linear(hidden, num_classes)

    @property
    def hidden_width(self) -> int:
        return self.out.in_features

    def forward(self, z: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for pooled summaries ``z``; ``noise`` (B, hidden) drives the dropout."""
        return self.out(dropout_with_noise(self.hidden(z), noise, self.dropout))


def clip_loss(logits: torch.Tensor, target: torch.Tensor, task: str,
              sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """The per-clip training loss averaged with ``sample_weight``: binary cross-entropy
    averaged over classes (multi-label) or cross-entropy (single-label). One definition for
    the paper's network and the baselines, so that every model choice trains on the same
    objective."""
    if task == "multilabel":
        per_clip = F.binary_cross_entropy_with_logits(
            logits, target, reduction="none").mean(dim=-1)
    else:
        per_clip = F.cross_entropy(logits, target, reduction="none")
    if sample_weight is None:
        return per_clip.mean()
    return (per_clip * sample_weight).sum() / sample_weight.sum().clamp_min(1.0)
