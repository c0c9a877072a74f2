"""Multi-query attention pooling over the frames of one modality (paper, section 3.1.3).

For frames ``F`` (T x d_in): ``K = F W_K`` and ``V = F W_V`` are computed once and shared by all
queries; ``Q`` is an (n x d) learnable matrix; ``A = softmax(Q K^T / sqrt(d))`` gives each query
a distribution over frames; the n rows of ``A V`` are averaged into one d-vector. Several queries
let the pool attend to several moments (onset, apex ...) at once, while sharing K and V keeps the
parameter count of a single linear layer pair, which matters on datasets of a few hundred clips.

Attention is written out rather than calling a fused kernel because T is tiny (about 18) and the
attention map itself is a result: the report shows which moments of a clip each query looks at.

The forward never forms K and V. Two identities of the equations above make it cheaper without
changing what it computes (only the order of float additions):

- ``Q K^T = F (W_K^T Q^T) + Q b_K``: the frames are projected onto the n query directions
  ``Q W_K`` (n x d_in) instead of onto all d key columns;
- each query's attention sums to one over the frames, so ``mean_q(A V) = (a F) W_V^T + b_V``
  with ``a = mean_q A``: the frames are averaged first and the value projection is applied once
  per clip instead of once per frame.

With n = 4 queries, d = 128 and 1536-d RADIO frames this is about a twentieth of the arithmetic
of projecting every frame to K and V, which was most of a training step.

Feature dropout is folded in the same way: a per-clip channel scale ``s`` (the dropout mask over
``1 - p``) multiplies the query directions and the averaged frames instead of every frame, so a
training step makes no scaled copy of its largest tensor. K and V are two linear layers rather
than one joint one, so that each gets its gradient directly (slicing a joint weight costs a
zero-filled full-size gradient per slice); checkpoints with the joint ``key_value`` layer of
earlier releases still load.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class MultiQueryAttentionPool(nn.Module):
    """Pool ``(B, T, in_dim)`` frame features into ``(B, dim)``.

    Args:
        in_dim: width of the frame features.
        dim: width of keys, values and queries.
        queries: number of learnable queries ``n`` (the configuration's ``model.queries``).
        max_frames: length of the learned temporal position embedding, when ``position``.
        position: add a learned embedding of the frame index to the keys, so attention can
            depend on *when* a frame is, not only on what it shows (beyond the paper, which is
            order-blind).
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        queries: int = 4,
        *,
        max_frames: int = 64,
        position: bool = False,
    ) -> None:
        super().__init__()
        if in_dim < 1 or dim < 1 or queries < 1:
            raise ValueError("in_dim, dim and queries must be positive")
        self.dim = dim
        # Drawn as one (2 dim x in_dim) layer, K rows first, so that a seed gives the initial
        # weights it gave when K and V were one layer.
        joint = nn.Linear(in_dim, 2 * dim)
        self.key = nn.utils.skip_init(nn.Linear, in_dim, dim)
        self.value = nn.utils.skip_init(nn.Linear, in_dim, dim)
        with torch.no_grad():
            for part, rows in ((self.key, slice(0, dim)), (self.value, slice(dim, 2 * dim))):
                part.weight.copy_(joint.weight[rows])
                part.bias.copy_(joint.bias[rows])
        self.queries = nn.Parameter(torch.randn(queries, dim) * dim**-0.5)
        self.position = nn.Parameter(torch.zeros(max_frames, dim)) if position else None
        if self.position is not None:
            nn.init.normal_(self.position, std=0.02)

    def forward(
        self,
        frames: torch.Tensor,
        mask: torch.Tensor | None = None,
        channel_scale: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the pooled ``(B, dim)`` vector and the attention ``(B, n, T)``.

        ``mask`` (B, T), true for real frames, hides padding when clips differ in length.
        ``channel_scale`` (B, in_dim) pools ``frames * channel_scale[:, None, :]`` (one scale
        per clip and channel, shared by its frames: feature dropout) without forming it.
        """
        # Q K^T without K: frames onto the query directions Q W_K (see the module docstring).
        # Products are ordered so that each weight's gradient comes out as a dense (dim, in_dim)
        # matrix, not a transposed view that the stacked optimiser would have to copy.
        directions = self.queries @ self.key.weight  # (n, in_dim)
        # (n, 1); a product and a sum rather than a matrix-vector product, whose kernel (and
        # so its rounding) torch picks by the number of stacked fits
        offset = (self.queries * self.key.bias).sum(dim=-1, keepdim=True)
        if channel_scale is None:
            scores = (frames @ directions.t()).transpose(1, 2) + offset  # (B, n, T)
        else:
            # (B, n, in_dim) @ (B, in_dim, T): the gradient of the scaled directions is then a
            # product with the frames as stored, not with their transpose (3x faster on a CPU)
            scaled = channel_scale[:, None, :] * directions
            scores = torch.bmm(scaled, frames.transpose(1, 2)) + offset
        if self.position is not None:
            length = frames.shape[1]
            if length > self.position.shape[0]:
                raise ValueError(
                    f"{length} frames, but the position embedding covers {self.position.shape[0]}"
                )
            scores = scores + self.queries @ self.position[:length].t()
        scores = scores / math.sqrt(self.dim)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        attention = scores.softmax(dim=-1)
        # mean_q(A V) without V: average the frames, then project once per clip
        summary = torch.bmm(attention.mean(dim=1)[:, None, :], frames)[:, 0]  # (B, in_dim)
        if channel_scale is not None:
            summary = summary * channel_scale
        pooled = (self.value.weight @ summary.t()).t() + self.value.bias
        return pooled, attention

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any,
                              **kwargs: Any) -> None:
        """Accept the joint ``key_value`` layer of checkpoints from earlier releases."""
        for name in ("weight", "bias"):
            joint = state_dict.pop(f"{prefix}key_value.{name}", None)
            if joint is not None:
                state_dict[f"{prefix}key.{name}"], state_dict[f"{prefix}value.{name}"] = (
                    joint[: self.dim], joint[self.dim:])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
