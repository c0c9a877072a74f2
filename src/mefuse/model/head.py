"""The classification head of the paper: ``Linear(Dropout(LayerNorm(GELU(Linear(z)))))``."""

from __future__ import annotations

from torch import nn


def classification_head(dim: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    """Two linear layers with GELU, LayerNorm and dropout between them, in the paper's order."""
    return nn.Sequential(
        nn.Linear(dim, hidden),
        nn.GELU(),
        nn.LayerNorm(hidden),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )
