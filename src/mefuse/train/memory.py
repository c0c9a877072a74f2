"""How much memory a training run needs, checked before it starts.

A configuration can ask for more memory than the machine has (a width typo, a stack of many
fits, a huge batch); the operating system then kills the process without a word (exit status
137), possibly after minutes of loading. The estimate here is arithmetic on the configuration
and the data's shape, done before the first step, so such a run is refused with the figure.

What is counted, in float32 (every tensor of training is float32):

- **parameters** of one network, from the same architecture :func:`~mefuse.train.trainer.
  build_network` builds (counted, not built: building a network of the wrong size is the very
  allocation to avoid);
- **per fit being trained**: its network, the stacked copy, gradients and AdamW's two
  moments: :data:`PARAMETER_COPIES` times the parameters;
- **per clip of a batch**: the gathered and standardised frames, their channel-dropout noise,
  and what the pools and heads keep for the backward pass (about :data:`QUERY_COPIES` scaled
  query directions per query and input channel, and a few copies of each summary);
- **fitted networks** kept until every fit is scored (and the inner networks of tuned
  thresholds or of a fusion choice);
- **standardised copies** of the features (a fit standardises its training rows).

The figure is compared with the memory the machine has free now (``MemAvailable`` of
``/proc/meminfo``, within a container's cgroup limit) or, on a CUDA device, with the device's
free memory. It counts the largest allocations, not every temporary: measured against the peak
resident memory of cross-validation runs (both engines, widths up to 2048, batches up to 512,
up to 30 stacked fits, tuned thresholds and the recommended preset), it came out between 35%
below and 9% above the measured figure. A run it refuses would not have fitted (or only just);
one it lets through may still fail near the limit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mefuse.errors import ConfigError
from mefuse.train.config import TrainConfig

FLOAT_BYTES = 4
PARAMETER_COPIES = 5
"""Per fit in training: network, stacked copy, gradient, AdamW's two moments."""
QUERY_COPIES = 2
"""Scaled query directions per clip and their gradient."""
DATA_COPIES = 2
"""The features beyond those already loaded: a fit's standardised rows and a temporary."""
GIB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs beyond what is already loaded, by where they go."""

    parameters: int
    """Parameters of one network (a count, not bytes)."""
    training: int
    """One stack of fits being trained: parameter copies and the activations of a batch."""
    kept: int
    """Fitted networks held until they are scored."""
    data: int
    """Standardised copies of the features."""
    features: int
    """The features as loaded (already in memory on the host; copied to a CUDA device)."""
    stack: int
    """Fits trained at once."""

    @property
    def total(self) -> int:
        return self.training + self.kept + self.data

    def describe(self) -> str:
        """The figure and its parts, for a message."""
        return (f"about {gib(self.total)} ({gib(self.training)} to train {self.stack} "
                f"network(s) of {self.parameters:,} parameters at once, {gib(self.kept)} for the "
                f"fitted networks, {gib(self.data)} for feature copies)")


def gib(size: float) -> str:
    """A byte count in MiB below a GiB, else in GiB, with enough digits to be read."""
    if size < GIB:
        return f"{size / 1024**2:.3g} MiB"
    value = size / GIB
    return f"{value:.3g} GiB" if value < 100 else f"{value:,.0f} GiB"


def parameter_count(config: TrainConfig, input_dims: Sequence[int], num_classes: int) -> int:
    """Parameters of the network :func:`~mefuse.train.trainer.build_network` builds for
    ``config`` on features of widths ``input_dims`` (tested equal to the built network's)."""
    m, fusion = config.model, config.fusion
    pool_dims = [sum(input_dims)] if config.strategy == "concat" else list(input_dims)
    pool = 0
    for width in pool_dims:
        pool += 2 * (width * m.dim + m.dim)  # key and value layers
        pool += m.queries * m.dim
        pool += m.frames * m.dim if m.position else 0
    head = m.dim * m.hidden + m.hidden + 2 * m.hidden + m.hidden * num_classes + num_classes
    heads = 0 if fusion.late else head
    if fusion.late or fusion.aux_weight > 0:
        heads += len(pool_dims) * head
    gate = len(pool_dims) if config.strategy == "gated" else 0
    return pool + heads + gate


def estimate_memory(config: TrainConfig, input_dims: Sequence[int], clips: int,
                    num_classes: int, *, fits: int = 1, stack: int = 1,
                    batch: int | None = None) -> MemoryEstimate:
    """Memory to train ``fits`` networks, ``stack`` at a time, on ``clips`` clips.

    ``batch`` is the clips of one step per fit (default: the configured batch size, capped by
    the clips there are; the batched engine allocates the full batch size whatever the data).
    """
    m = config.model
    parameters = parameter_count(config, input_dims, num_classes)
    width = sum(input_dims)
    pools = 1 if config.strategy == "concat" else len(input_dims)
    batch = batch if batch is not None else min(config.optim.batch_size, clips)
    frame_copies = 1 + (config.strategy == "concat") + m.motion
    per_clip = (m.frames * width * frame_copies  # gathered, standardised (and joined) frames
                + 2 * width  # channel-dropout noise, on the host and the device
                + QUERY_COPIES * m.queries * width  # scaled query directions and gradients
                + 4 * width  # frame averages, scaled, and their gradients
                + pools * 4 * m.queries * m.frames  # scores and attention, and gradients
                + (pools + 1) * 6 * (m.dim + m.hidden))  # summaries and head activations
    training = stack * FLOAT_BYTES * (PARAMETER_COPIES * parameters + batch * per_clip)
    inner = config.thresholds.mode == "tuned" or config.fusion.select != "none"
    kept = (2 if inner else 1) * fits * parameters * FLOAT_BYTES
    features = clips * m.frames * width * FLOAT_BYTES
    return MemoryEstimate(parameters, training, kept, DATA_COPIES * features, features, stack)


def available_memory() -> int | None:
    """Bytes of memory free for this process now: ``MemAvailable``, bounded by the headroom of
    the container's cgroup when it has a limit; ``None`` when the system does not say."""
    free = _meminfo_available()
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    headroom = _cgroup_headroom()
    if headroom is not None:
        free = headroom if free is None else min(free, headroom)
    return free


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


_CGROUPS = (  # (limit, usage, statistics, reclaimable page-cache field): v2, then v1
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current",
     "/sys/fs/cgroup/memory.stat", "inactive_file"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"),
)


def _cgroup_headroom() -> int | None:
    """Limit minus usage (page cache it can drop counted as free) of this container's memory
    cgroup; ``None`` without a limit. A container killed at its limit is the usual exit 137."""
    for limit_path, usage_path, stat_path, cache_field in _CGROUPS:
        try:
            text = Path(limit_path).read_text(encoding="ascii").strip()
            if text == "max" or int(text) >= 2**60:
                return None
            usage = int(Path(usage_path).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            continue
        cache = 0
        try:
            for line in Path(stat_path).read_text(encoding="ascii").splitlines():
                name, _, value = line.partition(" ")
                if name == cache_field:
                    cache = int(value)
        except (OSError, ValueError):
            cache = 0
        return max(int(text) - usage + cache, 0)
    return None


def device_memory(device: str) -> tuple[str, int | None]:
    """Where training runs (``"memory"`` or ``"CUDA memory"``) and the bytes free there."""
    from mefuse.utils.device import resolve_device

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(resolved)
        return "CUDA memory", int(free)
    return "memory", available_memory()


def check_memory(estimate: MemoryEstimate, device: str, *, free: int | None = None,
                 where: str | None = None, hint: str = "") -> None:
    """Refuse a run whose estimate exceeds the free memory, with both figures.

    On a CUDA device the training part must fit the device's free memory and the rest the
    host's; on a CPU all of it must fit the host's. ``free``/``where`` override the lookup
    (for tests and callers that know better); ``hint`` ends the message (see :func:`advice`).
    """
    if free is None:
        where, free = device_memory(device)
    where = where or "memory"
    on_device = where != "memory"
    needed = estimate.training + estimate.features if on_device else estimate.total
    if free is not None and needed > free:
        raise ConfigError(
            f"this run needs {estimate.describe()}, more than the {gib(free)} of {where} "
            f"free now{hint}")
    if on_device:
        host = available_memory()
        rest = estimate.kept + estimate.data
        if host is not None and rest > host:
            raise ConfigError(f"this run needs {gib(rest)} of memory beside the device (for "
                              "its fitted networks and feature copies), more than the "
                              f"{gib(host)} free now{hint}")


def advice(*knobs: str) -> str:
    """What to lower, as the end of a refusal message: the model's widths and the batch, and
    the caller's own ``knobs``."""
    names = ["model.dim", "model.hidden", "model.queries", "--frames", "--batch-size", *knobs]
    return f"; lower {', '.join(names[:-1])} or {names[-1]}"
