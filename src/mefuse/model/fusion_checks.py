"""Fusion options beyond the paper: their validity rules and the stream-dropout mask.

Why these four (all off in the ``paper`` preset):

- **modality dropout** (whole streams dropped per clip in training, survivors reweighted; as in
  ModDrop, Neverova et al. 2016, and multimodal transformers since): a fused model otherwise
  learns to need every stream, and the weaker stream's pool co-adapts with the strong one;
- **per-modality auxiliary heads** (each pool gets its own head and loss, as the per-modality
  losses of gradient blending, Wang et al. 2020, and OGM-GE's diagnosis, Peng et al. 2022: the
  dominant stream starves the other of gradient): each pool must stand on its own, and the
  heads give single-modality predictions from the same network for free;
- **a decisive gate** (an entropy penalty on ``softmax(g)``): the paper's gate stays near
  0.65-0.78 on the informative stream; the penalty lets it commit when one stream is noise;
- **late fusion** (the gate mixes the per-modality heads' logits): a stream that helps for some
  classes only can then do so without re-learning a joint head.

Everything here is vmap-safe: masks are computed from declared uniform noise with tensor ops
only, never with Python branches on values.
"""

from __future__ import annotations

import torch

FUSED_STRATEGIES: tuple[str, ...] = ("sum", "gated")
"""Strategies with one pool per modality, which per-modality heads and late fusion need."""


def check_fusion_options(strategy: str, modalities: int, *, modality_dropout: float = 0.0,
                         aux_weight: float = 0.0, gate_entropy: float = 0.0,
                         late: bool = False, aux_detach: bool = False) -> None:
    """Raise ``ValueError`` for an option that the strategy cannot honour (never ignore it).

    Run once, where a configuration is validated (:class:`~mefuse.train.config.TrainConfig`,
    also for configurations derived with :func:`~mefuse.train.config.derive`); the network
    itself trusts its validated sections (:meth:`FusionNetwork.from_config
    <mefuse.model.fusion.FusionNetwork.from_config>`).
    """
    if aux_detach and (aux_weight <= 0 or late):
        raise ValueError("aux_detach makes the per-modality heads probes: it needs "
                         "aux_weight > 0 and no late fusion (late fusion's heads are the output)")
    if not 0.0 <= modality_dropout < 1.0:
        raise ValueError(f"modality_dropout must be in [0, 1), got {modality_dropout}")
    if aux_weight < 0 or gate_entropy < 0:
        raise ValueError("aux_weight and gate_entropy must be >= 0")
    wanted = [name for name, on in (("modality_dropout", modality_dropout > 0),
                                     ("aux_weight", aux_weight > 0),
                                     ("gate_entropy", gate_entropy > 0), ("late", late)) if on]
    if not wanted:
        return
    if modalities < 2 or strategy == "single":
        raise ValueError(f"fusion option(s) {', '.join(wanted)} need two or more modalities "
                         f"fused (strategy sum or gated), not {strategy!r} with {modalities}; "
                         "for one modality use --preset paper")
    separate = [w for w in wanted if w != "modality_dropout"]
    if strategy not in FUSED_STRATEGIES and separate:
        raise ValueError(f"fusion option(s) {', '.join(separate)} need one pool per modality "
                         f"(strategy sum or gated), not {strategy!r}")
    if gate_entropy > 0 and strategy != "gated":
        raise ValueError("gate_entropy needs the learned gate (strategy gated)")


def stream_keep_mask(uniform: torch.Tensor, p: float) -> torch.Tensor:
    """(B, M) bool mask of kept streams from uniform draws ``(B, M)``; never drops them all.

    Each stream is kept when its draw is at least ``p``; a clip that would lose every stream
    keeps the one with the largest draw instead (a uniformly random stream), so no clip is
    trained on nothing.
    """
    keep = uniform >= p
    fallback = uniform == uniform.amax(dim=1, keepdim=True)
    none_kept = ~keep.any(dim=1, keepdim=True)
    return torch.where(none_kept, fallback, keep)
