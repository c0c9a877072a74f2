"""Multi-query attention pooling over the frames of one modality (paper, section 3.1.3).

For frames ``F`` (T x d_in): ``K = F W_K`` and ``V = F W_V`` are computed once and shared by all
queries; ``Q`` is an (n x d) learnable matrix; ``A = softmax(Q K^T / sqrt(d))`` gives each query
a distribution over frames; the n rows of ``A V`` are averaged into one d-vector. Several queries
let the pool attend to several moments (onset, apex ...) at once, while sharing K and V keeps the
parameter count of a single linear layer pair, which matters on datasets of a few hundred clips.

Attention is written out rather than calling a fused kernel because T is tiny (about 18) and the
attention map itself is a result: the report shows which moments of a clip each query looks at.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MultiQueryAttentionPool(nn.Module):
    """Pool ``(B, T, in_dim)`` frame features into ``(B, dim)``.

    Args:
        in_dim: width of the frame features.
        dim: width of keys, values and queries.
        num_queries: number of learnable queries ``n``.
        max_frames: length of the learned temporal position embedding, when ``position``.
        position: add a learned embedding of the frame index to the keys, so attention can
            depend on *when* a frame is, not only on what it shows (beyond the paper, which is
            order-blind).
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        num_queries: int = 4,
        *,
        max_frames: int = 64,
        position: bool = False,
    ) -> None:
        super().__init__()
        if in_dim < 1 or dim < 1 or num_queries < 1:
            raise ValueError("in_dim, dim and num_queries must be positive")
        self.dim = dim
        self.num_queries = num_queries
        # K and V in one matrix: one GEMM over the frames instead of two (on 1536-d RADIO
        # features the projection is most of the training time).
        self.key_value = nn.Linear(in_dim, 2 * dim)
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * dim**-0.5)
        self.position = nn.Parameter(torch.zeros(max_frames, dim)) if position else None
        if self.position is not None:
            nn.init.normal_(self.position, std=0.02)

    def forward(
        self, frames: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the pooled ``(B, dim)`` vector and the attention ``(B, n, T)``.

        ``mask`` (B, T), true for real frames, hides padding when clips differ in length.
        """
        keys, values = self.key_value(frames).chunk(2, dim=-1)
        if self.position is not None:
            length = frames.shape[1]
            if length > self.position.shape[0]:
                raise ValueError(
                    f"{length} frames, but the position embedding covers {self.position.shape[0]}"
                )
            keys = keys + self.position[:length]
        scores = torch.einsum("qd,btd->bqt", self.queries, keys) / math.sqrt(self.dim)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        attention = scores.softmax(dim=-1)
        pooled = torch.einsum("bqt,btd->bqd", attention, values).mean(dim=1)
        return pooled, attention
