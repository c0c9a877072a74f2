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
import torch.nn.functional as F
from torch import nn

from mefuse.model.head import ClassificationHead, dropout_with_noise
from mefuse.model.pool import MultiQueryAttentionPool

Strategy = Literal["single", "concat", "sum", "gated"]
STRATEGIES: tuple[str, ...] = ("single", "concat", "sum", "gated")


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
            dimension of a clip is dropped for all its frames at once (survivors scaled by
            ``1 / (1 - p)``). A mask per frame would
            let the pool recover a dropped value from the neighbouring frames (features change
            little within a micro-expression), and would cost 18 times the random numbers.
        position: learned temporal position embedding in each pool (beyond the paper).
        motion: feed each frame minus the clip's first frame instead of the frame itself
            (beyond the paper; micro-expressions are changes, not states).
        max_frames: longest sequence the position embedding covers.
        task: ``multilabel`` (sigmoid, binary cross-entropy) or ``singlelabel`` (softmax,
            cross-entropy); decides :meth:`training_loss`.
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
        task: Literal["multilabel", "singlelabel"] = "multilabel",
    ) -> None:
        super().__init__()
        input_dims = [int(d) for d in input_dims]
        if not input_dims:
            raise ValueError("at least one modality is needed")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
        if strategy == "single" and len(input_dims) != 1:
            raise ValueError(f"strategy 'single' takes one modality, got {len(input_dims)}")
        if not 0.0 <= feature_dropout < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {feature_dropout}")
        if task not in ("multilabel", "singlelabel"):
            raise ValueError(f"unknown task {task!r}")
        self.strategy = strategy
        self.motion = motion
        self.task = task
        self.input_dims = input_dims
        self.feature_dropout = feature_dropout
        pool_dims = [sum(input_dims)] if strategy == "concat" else input_dims
        self.pools = nn.ModuleList(
            MultiQueryAttentionPool(d, dim, num_queries, max_frames=max_frames, position=position)
            for d in pool_dims
        )
        self.gate = nn.Parameter(torch.zeros(len(pool_dims))) if strategy == "gated" else None
        self.head = ClassificationHead(dim, hidden, num_classes, dropout)

    def gate_weights(self) -> torch.Tensor:
        """Weights given to each pool's summary: ``softmax(g)`` when gated, else equal."""
        if self.gate is not None:
            return self.gate.softmax(dim=0)
        return torch.full((len(self.pools),), 1.0 / len(self.pools))

    # ------------------------------------------------------------------ randomness
    def noise_shapes(self, batch: int, frames: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the uniform [0, 1) tensors one training forward consumes.

        All randomness of training enters through ``noise`` (see :meth:`sample_noise`), never
        through the global generator: a fit then draws the same numbers whether it is trained
        alone or stacked with other folds and seeds under ``torch.func.vmap``.
        """
        del frames  # channel masks are shared by all frames of a clip
        shapes: dict[str, tuple[int, ...]] = {}
        for index, width in enumerate(self.input_dims):
            shapes[f"channels.{index}"] = (batch, 1, width)
        shapes["head"] = (batch, self.head.hidden_width)
        return shapes

    def sample_noise(self, batch: int, frames: int,
                     generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw the noise of one training step, in a fixed order, from ``generator``."""
        return {name: torch.rand(shape, generator=generator)
                for name, shape in self.noise_shapes(batch, frames).items()}

    # ------------------------------------------------------------------ forward
    def _check(self, modalities: Sequence[torch.Tensor]) -> None:
        if len(modalities) != len(self.input_dims):
            raise ValueError(f"expected {len(self.input_dims)} modalities, got {len(modalities)}")
        for tensor, width in zip(modalities, self.input_dims, strict=True):
            if tensor.ndim != 3 or tensor.shape[-1] != width:
                raise ValueError(f"expected (B, T, {width}) features, got {tuple(tensor.shape)}")

    def _pool_inputs(self, modalities: Sequence[torch.Tensor],
                     noise: dict[str, torch.Tensor] | None) -> list[torch.Tensor]:
        self._check(modalities)
        inputs = []
        for index, tensor in enumerate(modalities):
            if self.motion:
                tensor = tensor - tensor[:, :1]
            channel_noise = None if noise is None else noise[f"channels.{index}"]
            inputs.append(dropout_with_noise(tensor, channel_noise, self.feature_dropout))
        if self.strategy == "concat":
            inputs = [torch.cat(inputs, dim=-1)]
        return inputs

    def _fuse(self, modalities: Sequence[torch.Tensor], noise: dict[str, torch.Tensor] | None
              ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        summaries, attentions = [], []
        for pool, tensor in zip(self.pools, self._pool_inputs(modalities, noise), strict=True):
            pooled, attention = pool(tensor)
            summaries.append(pooled)
            attentions.append(attention)
        weights = self.gate_weights().to(summaries[0].dtype)
        fused = torch.einsum("m,mbd->bd", weights, torch.stack(summaries))
        logits = self.head(fused, None if noise is None else noise["head"])
        return logits, attentions

    def forward(self, modalities: Sequence[torch.Tensor],
                noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits ``(B, classes)`` for a list of ``(B, T, d_m)`` tensors (one per modality).

        Dropout acts only when ``noise`` is given (training); without it the forward is
        deterministic whatever ``train()``/``eval()`` says.
        """
        return self._fuse(modalities, noise)[0]

    def forward_with_attention(self, modalities: Sequence[torch.Tensor]
                               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and each pool's attention ``(B, n, T)`` (one pool for ``concat``)."""
        return self._fuse(modalities, None)

    def training_loss(self, modalities: Sequence[torch.Tensor], target: torch.Tensor,
                      noise: dict[str, torch.Tensor] | None,
                      sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The training objective of one batch, a scalar.

        ``target`` is 0/1 ``(B, classes)`` floats (multi-label, binary cross-entropy) or class
        indices ``(B,)`` (single-label, cross-entropy). ``sample_weight`` (B,) weights clips; a
        weight of 0 marks padding, so that fits with batches of different sizes can be stacked;
        with all weights 1 the loss is the ordinary batch mean.
        """
        logits = self(modalities, noise)
        return self.loss_from_logits(logits, target, sample_weight)

    def loss_from_logits(self, logits: torch.Tensor, target: torch.Tensor,
                         sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Per-clip loss averaged with ``sample_weight`` (see :meth:`training_loss`)."""
        if self.task == "multilabel":
            per_clip = F.binary_cross_entropy_with_logits(
                logits, target, reduction="none").mean(dim=-1)
        else:
            per_clip = F.cross_entropy(logits, target, reduction="none")
        if sample_weight is None:
            return per_clip.mean()
        return (per_clip * sample_weight).sum() / sample_weight.sum().clamp_min(1.0)
