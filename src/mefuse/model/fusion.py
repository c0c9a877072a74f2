"""Fusion of several modalities' frame sequences into class logits.

Strategies (the paper's ablation, for any number of modalities):

- ``single``: one modality, one pool;
- ``concat``: the per-frame features of all modalities concatenated into one pool (the paper's
  naive baseline: one temporal encoder must serve very different feature scales);
- ``sum``: one pool per modality, summaries averaged with equal weights;
- ``gated``: one pool per modality, summaries weighted by ``softmax(g)`` with a learned ``g``
  (the paper's model). The gate is global, not per clip: it learns how far to trust each stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from mefuse.model.head import classification_head
from mefuse.model.pool import MultiQueryAttentionPool

Strategy = Literal["single", "concat", "sum", "gated"]
STRATEGIES: tuple[str, ...] = ("single", "concat", "sum", "gated")


class ChannelDropout(nn.Module):
    """Drop whole feature channels of a ``(B, T, d)`` sequence: one mask per clip and channel,
    shared by all frames; survivors are scaled by ``1 / (1 - p)`` as in ordinary dropout."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], 1, x.shape[2], device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)


class FusionClassifier(nn.Module):
    """Per-modality attention pools, a fusion rule and the paper's head.

    Args:
        input_dims: width of each modality's frame features, in a fixed order.
        num_classes: number of output logits.
        strategy: one of :data:`STRATEGIES`.
        dim: width of each pool's keys, values and output.
        num_queries: learnable queries per pool.
        hidden: width of the head's hidden layer.
        dropout: dropout in the head.
        feature_dropout: the paper's "feature-level dropout", as channel dropout: each feature
            dimension of a clip is dropped for all its frames at once. A mask per frame would
            let the pool recover a dropped value from the neighbouring frames (features change
            little within a micro-expression), and would cost 18 times the random numbers.
        position: learned temporal position embedding in each pool (beyond the paper).
        motion: feed each frame minus the clip's first frame instead of the frame itself
            (beyond the paper; micro-expressions are changes, not states).
        max_frames: longest sequence the position embedding covers.
    """

    def __init__(
        self,
        input_dims: Sequence[int],
        num_classes: int,
        *,
        strategy: Strategy = "gated",
        dim: int = 128,
        num_queries: int = 4,
        hidden: int = 128,
        dropout: float = 0.3,
        feature_dropout: float = 0.1,
        position: bool = False,
        motion: bool = False,
        max_frames: int = 64,
    ) -> None:
        super().__init__()
        input_dims = [int(d) for d in input_dims]
        if not input_dims:
            raise ValueError("at least one modality is needed")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        if strategy == "single" and len(input_dims) != 1:
            raise ValueError(f"strategy 'single' takes one modality, got {len(input_dims)}")
        self.strategy = strategy
        self.motion = motion
        self.input_dims = input_dims
        self.feature_dropout = ChannelDropout(feature_dropout)
        pool_dims = [sum(input_dims)] if strategy == "concat" else input_dims
        self.pools = nn.ModuleList(
            MultiQueryAttentionPool(d, dim, num_queries, max_frames=max_frames, position=position)
            for d in pool_dims
        )
        self.gate = nn.Parameter(torch.zeros(len(pool_dims))) if strategy == "gated" else None
        self.head = classification_head(dim, hidden, num_classes, dropout)

    def gate_weights(self) -> torch.Tensor:
        """Weights given to each pool's summary: ``softmax(g)`` when gated, else equal."""
        if self.gate is not None:
            return self.gate.softmax(dim=0)
        return torch.full((len(self.pools),), 1.0 / len(self.pools))

    def forward(
        self, modalities: Sequence[torch.Tensor], *, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits ``(B, classes)`` for a list of ``(B, T, d_m)`` tensors (one per modality).

        With ``return_attention``, also each pool's attention ``(B, n, T)``.
        """
        if len(modalities) != len(self.input_dims):
            raise ValueError(f"expected {len(self.input_dims)} modalities, got {len(modalities)}")
        inputs = []
        for tensor, width in zip(modalities, self.input_dims, strict=True):
            if tensor.ndim != 3 or tensor.shape[-1] != width:
                raise ValueError(f"expected (B, T, {width}) features, got {tuple(tensor.shape)}")
            if self.motion:
                tensor = tensor - tensor[:, :1]
            inputs.append(self.feature_dropout(tensor))
        if self.strategy == "concat":
            inputs = [torch.cat(inputs, dim=-1)]
        summaries, attentions = [], []
        for pool, tensor in zip(self.pools, inputs, strict=True):
            pooled, attention = pool(tensor)
            summaries.append(pooled)
            attentions.append(attention)
        weights = self.gate_weights().to(summaries[0].dtype)
        fused = torch.einsum("m,mbd->bd", weights, torch.stack(summaries))
        logits = self.head(fused)
        return (logits, attentions) if return_attention else logits
