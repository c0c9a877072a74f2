"""Fusion of several modalities' frame sequences into class logits.

Strategies (the paper's ablation, for any number of modalities):

- ``single``: one modality, one pool;
- ``concat``: the per-frame features of all modalities concatenated into one pool (the paper's
  naive baseline: one temporal encoder must serve very different feature scales);
- ``sum``: one pool per modality, summaries averaged with equal weights;
- ``gated``: one pool per modality, summaries weighted by ``softmax(g)`` with a learned ``g``
  (the paper's model). The gate is global, not per clip: it learns how far to trust each stream.

Fusion options beyond the paper (all off by default, each vmap-safe: no Python branch on tensor
values, every random draw declared in :meth:`FusionNetwork.noise_shapes`, every extra loss
term inside :meth:`FusionNetwork.training_loss`); see :mod:`mefuse.model.fusion_checks`:

- ``modality_dropout``: drop whole streams per clip during training and renormalise the
  surviving streams' weights, so the head cannot lean on one stream's presence;
- ``aux_weight``: a head per modality with its own loss, so each pool must stand on its own
  (the per-modality losses of "gradient blending", fixed weights);
- ``aux_detach``: those heads read detached summaries (probes): they learn what each pool
  alone predicts without shaping the pools, so the fused output stays the plain model's;
- ``gate_entropy``: an entropy penalty that lets the gate become decisive;
- ``late``: late fusion, the gate-weighted sum of the per-modality heads' logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

import torch
from pydantic import BaseModel
from torch import nn

from mefuse.model.fusion_checks import stream_keep_mask
from mefuse.model.head import ClassificationHead, clip_loss, dropout_scale
from mefuse.model.pool import MultiQueryAttentionPool
from mefuse.model.strategies import STRATEGIES, Strategy

NOT_NETWORK_FIELDS: frozenset[str] = frozenset({"select", "select_holdout", "select_margin",
                                                 "select_confidence"})
NOT_NETWORK_MODEL_FIELDS: frozenset[str] = frozenset({"sampling", "architecture"})
""":class:`~mefuse.train.config.ModelConfig` fields that decide which frames are loaded
(:meth:`mefuse.store.FeatureStore.load_modalities`) or which network is built
(``architecture``: :mod:`mefuse.model.baselines`), not how this network is built."""
""":class:`~mefuse.train.config.FusionConfig` fields that choose between trained outputs
(:mod:`mefuse.train.select`) instead of shaping the network."""


class FusionNetwork(nn.Module):
    """Per-modality attention pools, a fusion rule and the paper's head.

    Args:
        input_dims: width of each modality's frame features, in a fixed order.
        num_classes: number of output logits.
        strategy: one of :data:`STRATEGIES`.
        dim: width of each pool's keys, values and output.
        queries: learnable queries per pool.
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
        modality_dropout: probability of dropping a whole stream of a clip in training (at least
            one stream always survives); ``sum``, ``gated`` and ``concat`` only.
        aux_weight: weight of the mean per-modality head loss added to the fused loss.
        gate_entropy: weight of the gate's entropy added to the loss (``gated`` only).
        late: fuse the per-modality heads' logits instead of the summaries (``sum``/``gated``).
        aux_detach: the per-modality heads learn from detached summaries (probes that leave the
            pools and the fused output as without them); needs ``aux_weight > 0``, not ``late``.
    """

    def __init__(
        self,
        input_dims: Sequence[int],
        num_classes: int,
        *,
        strategy: Strategy = "gated",
        dim: int = 128,
        queries: int = 4,
        hidden: int = 128,
        dropout: float = 0.3,
        feature_dropout: float = 0.1,
        position: bool = False,
        motion: bool = False,
        max_frames: int = 64,
        task: Literal["multilabel", "singlelabel"] = "multilabel",
        modality_dropout: float = 0.0,
        aux_weight: float = 0.0,
        gate_entropy: float = 0.0,
        late: bool = False,
        aux_detach: bool = False,
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
        self.aux_detach = bool(aux_detach)
        self.modality_dropout = float(modality_dropout)
        self.aux_weight = float(aux_weight)
        self.gate_entropy = float(gate_entropy)
        self.late = bool(late)
        self.strategy = strategy
        self.motion = motion
        self.task = task
        self.input_dims = input_dims
        self.feature_dropout = feature_dropout
        pool_dims = [sum(input_dims)] if strategy == "concat" else input_dims
        self.pools = nn.ModuleList(
            MultiQueryAttentionPool(d, dim, queries, max_frames=max_frames, position=position)
            for d in pool_dims
        )
        self.gate = nn.Parameter(torch.zeros(len(pool_dims))) if strategy == "gated" else None
        # late fusion needs no fused head: its output is the mix of the per-modality heads
        self.head = None if late else ClassificationHead(dim, hidden, num_classes, dropout)
        self.modality_heads = (
            nn.ModuleList(ClassificationHead(dim, hidden, num_classes, dropout)
                          for _ in pool_dims) if (late or aux_weight > 0) else None)

    @classmethod
    def from_config(cls, model_config: BaseModel, fusion_config: BaseModel,
                    input_dims: Sequence[int], num_classes: int, *,
                    strategy: Strategy = "gated",
                    task: Literal["multilabel", "singlelabel"] = "multilabel",
                    ) -> FusionNetwork:
        """The network that validated configuration sections describe (a
        :class:`~mefuse.train.config.ModelConfig` and a
        :class:`~mefuse.train.config.FusionConfig`; typed as pydantic models because the
        model layer sits below the training layer that defines them).

        Every field of ``model_config`` and ``fusion_config`` that shapes the network is a
        constructor keyword of the same name (``frames`` sets ``max_frames``, the length the
        position embedding covers; ``architecture`` chose this network), so a new fusion option
        needs no mapping here: add the keyword and the :class:`~mefuse.train.config.FusionConfig`
        field. Fields that decide how a model is trained or chosen rather than built
        (``select*``) are left out. The combinations of fusion options were checked when the
        sections were validated (:class:`~mefuse.train.config.TrainConfig` runs
        :func:`~mefuse.model.fusion_checks.check_fusion_options`).
        """
        model = {name: value for name, value in model_config.model_dump().items()
                 if name not in NOT_NETWORK_MODEL_FIELDS}
        keywords = {name: value for name, value in fusion_config.model_dump().items()
                    if name not in NOT_NETWORK_FIELDS}
        return cls(input_dims, num_classes, strategy=strategy, task=task,
                   max_frames=model.pop("frames"), **model, **keywords)

    def gate_weights(self) -> torch.Tensor:
        """Weights given to each pool's summary: ``softmax(g)`` when gated, else equal."""
        if self.gate is not None:
            return self.gate.softmax(dim=0)
        return torch.full((len(self.pools),), 1.0 / len(self.pools))

    # ------------------------------------------------------------------ randomness
    def noise_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the uniform [0, 1) tensors one training forward consumes.

        All randomness of training enters through ``noise`` (see :meth:`sample_noise`), never
        through the global generator: a fit then draws the same numbers whether it is trained
        alone or stacked with other folds and seeds under ``torch.func.vmap``. Channel masks
        are shared by all frames of a clip, so no shape depends on the clip's length.
        """
        shapes: dict[str, tuple[int, ...]] = {}
        for index, width in enumerate(self.input_dims):
            shapes[f"channels.{index}"] = (batch, 1, width)
        if self.modality_dropout > 0:
            shapes["modality"] = (batch, len(self.input_dims))
        if self.head is not None:
            shapes["head"] = (batch, self.head.hidden_width)
        for index, head in enumerate(self.modality_heads or ()):
            shapes[f"modality_head.{index}"] = (batch, cast(ClassificationHead, head).hidden_width)
        return shapes

    def sample_noise(self, batch: int,
                     generator: torch.Generator | None = None,
                     out: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Draw the noise of one training step, in a fixed order, from ``generator``.

        With ``out`` (name -> a tensor with at least ``batch`` rows), the draws go into the
        first ``batch`` rows of those tensors instead of new ones, and ``out`` is returned: the
        same numbers, without allocating (the batched engine gives each fit its slice of one
        stacked buffer).
        """
        shapes = self.noise_shapes(batch)
        if out is None:
            return {name: torch.rand(shape, generator=generator) for name, shape in shapes.items()}
        for name, shape in shapes.items():
            rows = out[name][:batch]
            if tuple(rows.shape) != shape or not rows.is_contiguous():
                raise ValueError(f"noise {name!r} needs a contiguous {shape} block, got "
                                 f"{tuple(rows.shape)}")
            torch.rand(shape, generator=generator, out=rows)
        return out

    # ------------------------------------------------------------------ forward
    def _check(self, modalities: Sequence[torch.Tensor]) -> None:
        if len(modalities) != len(self.input_dims):
            raise ValueError(f"expected {len(self.input_dims)} modalities, got {len(modalities)}")
        for tensor, width in zip(modalities, self.input_dims, strict=True):
            if tensor.ndim != 3 or tensor.shape[-1] != width:
                raise ValueError(f"expected (B, T, {width}) features, got {tuple(tensor.shape)}")

    def _pool_inputs(self, modalities: Sequence[torch.Tensor],
                     noise: dict[str, torch.Tensor] | None
                     ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Each pool's frames and its per-clip channel scale ``(B, width)``: feature dropout
        (and, for concat, stream dropout), which the pool applies without scaling the frames
        themselves; ``None`` when nothing is dropped."""
        self._check(modalities)
        frames, scales = [], []
        for index, tensor in enumerate(modalities):
            if self.motion:
                tensor = tensor - tensor[:, :1]
            frames.append(tensor)
            channel_noise = None if noise is None else noise[f"channels.{index}"][:, 0]
            scale = dropout_scale(channel_noise, self.feature_dropout)
            scales.append(None if scale is None else scale.to(tensor.dtype))
        if self.strategy != "concat":
            return list(zip(frames, scales, strict=True))
        keep = self._stream_mask(noise, frames[0])
        if keep is None and all(scale is None for scale in scales):
            return [(torch.cat(frames, dim=-1), None)]
        parts = []
        for index, (tensor, scale) in enumerate(zip(frames, scales, strict=True)):
            part = scale if scale is not None else tensor.new_ones(tensor.shape[0],
                                                                   tensor.shape[-1])
            if keep is not None:
                # concat has one pool: drop a stream's features, rescale the survivors
                part = part * (keep[:, index] * (keep.shape[1] / keep.sum(dim=1)))[:, None]
            parts.append(part)
        return [(torch.cat(frames, dim=-1), torch.cat(parts, dim=-1))]

    def _stream_mask(self, noise: dict[str, torch.Tensor] | None,
                     like: torch.Tensor) -> torch.Tensor | None:
        """(B, M) 0/1 mask of the streams kept for each clip, or ``None`` outside training."""
        if noise is None or self.modality_dropout == 0.0:
            return None
        return stream_keep_mask(noise["modality"], self.modality_dropout).to(like.dtype)

    def _mix(self, noise: dict[str, torch.Tensor] | None, like: torch.Tensor) -> torch.Tensor:
        """(B, M) weight of each pool for each clip: the gate, renormalised over kept streams."""
        weights = self.gate_weights().to(like)[None, :].expand(like.shape[0], -1)
        keep = self._stream_mask(noise, like) if self.strategy != "concat" else None
        if keep is None:
            return weights
        weights = weights * keep
        return weights / weights.sum(dim=1, keepdim=True)

    def _run(self, modalities: Sequence[torch.Tensor], noise: dict[str, torch.Tensor] | None
             ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Fused logits, each pool's attention and each modality head's logits (may be [])."""
        summaries, attentions = [], []
        for pool, (frames, scale) in zip(self.pools, self._pool_inputs(modalities, noise),
                                         strict=True):
            pooled, attention = pool(frames, channel_scale=scale)
            summaries.append(pooled)
            attentions.append(attention)
        stacked = torch.stack(summaries, dim=1)  # (B, M, d)
        mix = self._mix(noise, stacked)
        per_modality = [
            head(z.detach() if self.aux_detach else z,
                 None if noise is None else noise[f"modality_head.{i}"])
            for i, (head, z) in enumerate(zip(self.modality_heads or (), summaries, strict=False))
        ]
        if self.head is None:  # late fusion: mix the per-modality logits
            logits = torch.einsum("bm,bmc->bc", mix, torch.stack(per_modality, dim=1))
        else:
            fused = torch.einsum("bm,bmd->bd", mix, stacked)
            logits = self.head(fused, None if noise is None else noise["head"])
        return logits, attentions, per_modality

    def _fuse(self, modalities: Sequence[torch.Tensor], noise: dict[str, torch.Tensor] | None
              ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, attentions, _ = self._run(modalities, noise)
        return logits, attentions

    def modality_logits(self, modalities: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each modality head's logits on its own pool (evaluation; [] without such heads).

        These are the single-modality candidates an inner choice compares with the fused output.
        """
        return self._run(modalities, None)[2]

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
        logits, _, per_modality = self._run(modalities, noise)
        loss = self.loss_from_logits(logits, target, sample_weight)
        if self.aux_weight > 0:
            aux = torch.stack([self.loss_from_logits(m, target, sample_weight)
                               for m in per_modality]).mean()
            loss = loss + self.aux_weight * aux
        if self.gate_entropy > 0:
            weights = self.gate_weights()
            entropy = -(weights * torch.log(weights.clamp_min(1e-12))).sum()
            loss = loss + self.gate_entropy * entropy
        return loss

    def loss_from_logits(self, logits: torch.Tensor, target: torch.Tensor,
                         sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Per-clip loss averaged with ``sample_weight`` (see :meth:`training_loss`)."""
        return clip_loss(logits, target, self.task, sample_weight)


_RENAMED = {"FusionClassifier": "FusionNetwork"}  # rename-classes: keep
"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""


def __getattr__(name: str) -> object:
    """The old class names (see ``_RENAMED``)."""
    from mefuse.utils.deprecation import renamed

    return renamed(__name__, name, _RENAMED)
