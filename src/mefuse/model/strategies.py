"""The fusion strategies, named once.

Kept apart from :mod:`mefuse.model.fusion` (and free of torch) because the configuration, the
command line's help and the bench's grid all need the names without building a model: one
list here means a new strategy cannot be accepted by the model and refused by the config.
"""

from __future__ import annotations

from typing import Literal, get_args

Strategy = Literal["single", "concat", "sum", "gated"]
"""One modality alone; per-frame features concatenated into one pool; separate pools summed
with equal weights; separate pools weighted by the learned softmax gate (the paper's model)."""

STRATEGIES: tuple[str, ...] = get_args(Strategy)
"""The strategies in table order."""
