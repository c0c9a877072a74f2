"""The field's apex-image baselines, as model choices beside the paper's fusion network.

Both read one clip's onset -> apex motion image: the ``apeximage`` extractor's (1, 3*28*28)
row, the C-order flattening of (3, 28, 28) = horizontal flow u, vertical flow v and optical
strain on the face crop resized to 28x28 (the input of STSTNet and HTNet). They follow the
contract the trainer uses for :class:`~mefuse.model.fusion.FusionNetwork` (``sample_noise``,
``training_loss``, ``forward_with_attention``, ``gate_weights``), so one training loop,
one standardiser, one checkpoint format and one set of metrics serve every architecture.

- :class:`STSTNet` (Liong et al., 2019): three shallow streams of 3, 5 and 8 filters of 3x3
  over the same (u, v, strain) image, each ReLU, batch norm, max pool 3/3 and dropout 0.5,
  concatenated (16 maps of 10x10), average pool 2/2, one linear layer. 1,683 parameters for
  three classes, as in the authors' PyTorch code.
- :class:`HTNet` (Wang et al., 2023), kept small: the image is cut into four facial regions
  (the quadrants of the face crop: left and right eye, left and right half of the mouth), each
  region's 2x2 patches embedded and mixed by local transformer blocks within the region (one
  set of weights shared by the regions, as HTNet's blocks), then aggregated (3x3 convolution,
  channel layer norm, max pool 3/2) into one map whose tokens attend across regions, then
  layer norm, mean over tokens and a linear layer.

The published recipes (Adam at 5e-5, batch 256, 800 epochs, and in the public scripts the epoch
chosen on each test subject) are not used: mefuse trains every architecture with its own fixed
recipe; see docs/guide/baselines.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from mefuse.errors import DataError
from mefuse.model.fusion import FusionNetwork
from mefuse.model.head import clip_loss, dropout_with_noise

ARCHITECTURES: tuple[str, ...] = ("fusion", "ststnet", "htnet")
"""Model choices of the training configuration (``model.architecture``): the paper's fusion
network, then the baselines of this module."""
APEX_IMAGE_SHAPE: tuple[int, int, int] = (3, 28, 28)
"""Channels (u, v, strain), height and width of the apex image the baselines read."""
APEX_IMAGE_WIDTH = 3 * 28 * 28
APEX_IMAGE_EXTRACTOR = "apeximage"


def require_apex_image(architecture: str, names: Sequence[str], dims: Sequence[int]) -> None:
    """Refuse features that are not one (3*28*28)-wide apex image per clip, naming the
    extractor that writes one (a wrong width would otherwise surface as a reshape error)."""
    if len(names) == 1 and list(dims) == [APEX_IMAGE_WIDTH]:
        return
    given = ", ".join(f"{n!r} (width {d})" for n, d in zip(names, dims, strict=False))
    raise DataError(
        f"architecture {architecture!r} reads one onset->apex image per clip, a (1, "
        f"{APEX_IMAGE_WIDTH}) row (u, v and strain at 28x28); the modalities given are "
        f"{given or 'none'}: run 'mefuse extract --extractor {APEX_IMAGE_EXTRACTOR}' on the "
        f"store and train with --modality {APEX_IMAGE_EXTRACTOR}")


class ApexImageNetwork(nn.Module):
    """What the baselines share: the image from the trainer's (B, T, 2352) tensor, the loss
    and the parts of the fusion network's contract that do not apply (no gate, no attention).

    Dropout, where a baseline has it, is driven by the ``noise`` of :meth:`sample_noise` (as in
    the fusion network), so a fit draws the same numbers whatever runs beside it."""

    def __init__(self, num_classes: int,
                 task: Literal["multilabel", "singlelabel"] = "multilabel") -> None:
        super().__init__()
        if task not in ("multilabel", "singlelabel"):
            raise ValueError(f"unknown task {task!r}")
        self.task = task
        self.num_classes = int(num_classes)
        self.input_dims = [APEX_IMAGE_WIDTH]

    def noise_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the uniform draws of one training forward (none by default)."""
        return {}

    def sample_noise(self, batch: int, generator: torch.Generator | None = None,
                     out: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One training step's noise, drawn in a fixed order from ``generator``."""
        return {name: torch.rand(shape, generator=generator)
                for name, shape in self.noise_shapes(batch).items()}

    def image(self, modalities: Sequence[torch.Tensor]) -> torch.Tensor:
        """(B, 3, 28, 28) from one (B, T, 2352) tensor. A one-row modality loaded at T frames
        is that row repeated, so the mean over T is the image itself."""
        if len(modalities) != 1:
            raise ValueError(f"expected one modality (the apex image), got {len(modalities)}")
        x = modalities[0]
        if x.ndim != 3 or x.shape[-1] != APEX_IMAGE_WIDTH:
            raise ValueError(f"expected (B, T, {APEX_IMAGE_WIDTH}) features, got "
                             f"{tuple(x.shape)}")
        return x.mean(dim=1).reshape(x.shape[0], *APEX_IMAGE_SHAPE)

    def logits(self, image: torch.Tensor, noise: dict[str, torch.Tensor] | None
               ) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, modalities: Sequence[torch.Tensor],
                noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits ``(B, classes)``; dropout acts only when ``noise`` is given (training)."""
        return self.logits(self.image(modalities), noise)

    def forward_with_attention(self, modalities: Sequence[torch.Tensor]
                               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and no temporal attention (a baseline sees one image, not a sequence)."""
        return self.forward(modalities), []

    def gate_weights(self) -> torch.Tensor:
        """One stream, weight 1 (the trainer reports gates for every architecture)."""
        return torch.ones(1)

    def training_loss(self, modalities: Sequence[torch.Tensor], target: torch.Tensor,
                      noise: dict[str, torch.Tensor] | None,
                      sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """The fusion network's objective: binary or plain cross-entropy, clip-weighted."""
        return self.loss_from_logits(self.forward(modalities, noise), target, sample_weight)

    def loss_from_logits(self, logits: torch.Tensor, target: torch.Tensor,
                         sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        return clip_loss(logits, target, self.task, sample_weight)


class STSTNet(ApexImageNetwork):
    """Shallow triple-stream three-dimensional CNN (Liong, Gan, See, Khor and Huang, FG 2019).

    Each stream: 3x3 convolution with padding 2 (28 -> 30), ReLU, batch norm, max pool 3 with
    stride 3 and padding 1 (30 -> 10), dropout 0.5 on each value; the 3 + 5 + 8 maps are
    concatenated, average-pooled 2/2 (10 -> 5) and flattened (400) into one linear layer.
    Batch norm uses batch statistics in ``train()`` and its running ones in ``eval()``.
    """

    FILTERS = (3, 5, 8)
    DROPOUT = 0.5

    def __init__(self, num_classes: int,
                 task: Literal["multilabel", "singlelabel"] = "multilabel") -> None:
        super().__init__(num_classes, task)
        channels = APEX_IMAGE_SHAPE[0]
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, f, kernel_size=3, padding=2), nn.ReLU(),
                          nn.BatchNorm2d(f), nn.MaxPool2d(kernel_size=3, stride=3, padding=1))
            for f in self.FILTERS)
        self.fc = nn.Linear(sum(self.FILTERS) * 5 * 5, num_classes)

    def noise_shapes(self, batch: int) -> dict[str, tuple[int, ...]]:
        return {"maps": (batch, sum(self.FILTERS), 10, 10)}

    def logits(self, image: torch.Tensor, noise: dict[str, torch.Tensor] | None
               ) -> torch.Tensor:
        maps = torch.cat([stream(image) for stream in self.streams], dim=1)
        maps = dropout_with_noise(maps, None if noise is None else noise["maps"], self.DROPOUT)
        return self.fc(F.avg_pool2d(maps, kernel_size=2, stride=2).flatten(1))


class _ChannelNorm(nn.Module):
    """Layer norm over the channels of a (B, C, H, W) map (HTNet's aggregation norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class _Block(nn.Module):
    """Pre-norm transformer block: multi-head self-attention, then a GELU MLP."""

    def __init__(self, dim: int, heads: int, mlp_mult: int = 2) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_mult * dim), nn.GELU(),
                                 nn.Linear(mlp_mult * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads)
                   .permute(2, 0, 3, 1, 4))
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + self.proj(attended)
        return x + self.mlp(self.norm2(x))


class HTNet(ApexImageNetwork):
    """A small hierarchical transformer over four facial regions (after HTNet: Wang, Zhang,
    Luo and Sankaranarayana, arXiv 2307.14637, 2023).

    Patches of 2x2 pixels are embedded (14x14 tokens); the token map is cut into its four 7x7
    quadrants, the facial regions of a centred face crop (eyes above, mouth halves below); the
    local blocks run within each region (49 tokens) with one set of weights; aggregation
    (3x3 convolution to twice the width, channel layer norm, max pool 3/2) gives a 7x7 map of
    the whole face whose blocks attend across regions; the head is layer norm, a mean over
    tokens and one linear layer. ``dim``, ``heads`` and ``depths`` are far below the published
    (256 wide, 2 + 2 + 8 blocks), to suit a few hundred clips; no dropout, as published.
    """

    PATCH = 2

    def __init__(self, num_classes: int,
                 task: Literal["multilabel", "singlelabel"] = "multilabel", *,
                 dim: int = 32, heads: int = 4, depths: tuple[int, int] = (2, 2)) -> None:
        super().__init__(num_classes, task)
        channels, size, _ = APEX_IMAGE_SHAPE
        self.grid = size // self.PATCH  # 14 tokens a side
        self.region = self.grid // 2    # 7 tokens a side per region
        self.embed = nn.Linear(channels * self.PATCH ** 2, dim)
        self.local_position = nn.Parameter(torch.zeros(self.region ** 2, dim))
        self.local = nn.ModuleList(_Block(dim, heads) for _ in range(depths[0]))
        self.aggregate = nn.Sequential(nn.Conv2d(dim, 2 * dim, 3, padding=1),
                                       _ChannelNorm(2 * dim),
                                       nn.MaxPool2d(3, stride=2, padding=1))
        self.global_position = nn.Parameter(torch.zeros(self.region ** 2, 2 * dim))
        self.across = nn.ModuleList(_Block(2 * dim, heads) for _ in range(depths[1]))
        self.norm = nn.LayerNorm(2 * dim)
        self.fc = nn.Linear(2 * dim, num_classes)
        nn.init.trunc_normal_(self.local_position, std=0.02)
        nn.init.trunc_normal_(self.global_position, std=0.02)

    def regions(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 14, 14, d) tokens -> (B * 4, 49, d): the four quadrants, each a sequence, in
        the order top-left, top-right, bottom-left, bottom-right."""
        b, _, _, d = tokens.shape
        r = self.region
        return (tokens.reshape(b, 2, r, 2, r, d).permute(0, 1, 3, 2, 4, 5)
                .reshape(b * 4, r * r, d))

    def unregions(self, regions: torch.Tensor, batch: int) -> torch.Tensor:
        """The inverse of :meth:`regions`, as a (B, d, 14, 14) map."""
        r, d = self.region, regions.shape[-1]
        return (regions.reshape(batch, 2, 2, r, r, d).permute(0, 5, 1, 3, 2, 4)
                .reshape(batch, d, 2 * r, 2 * r))

    def logits(self, image: torch.Tensor, noise: dict[str, torch.Tensor] | None
               ) -> torch.Tensor:
        b, c = image.shape[:2]
        p, g = self.PATCH, self.grid
        patches = image.reshape(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(
            b, g, g, c * p * p)
        x = self.regions(self.embed(patches)) + self.local_position
        for block in self.local:
            x = block(x)
        face = self.aggregate(self.unregions(x, b))  # (B, 2d, 7, 7)
        x = face.flatten(2).transpose(1, 2) + self.global_position
        for block in self.across:
            x = block(x)
        return self.fc(self.norm(x).mean(dim=1))


Network = FusionNetwork | ApexImageNetwork
"""Any network the trainer builds: the paper's fusion network or a baseline."""

BASELINES: dict[str, type[ApexImageNetwork]] = {"ststnet": STSTNet, "htnet": HTNet}
"""The baseline architectures by their ``model.architecture`` name."""


def build_baseline(architecture: str, input_dims: Sequence[int], num_classes: int, *,
                   task: Literal["multilabel", "singlelabel"] = "multilabel"
                   ) -> ApexImageNetwork:
    """The baseline called ``architecture`` for ``num_classes`` (``input_dims`` must be the
    apex image's one width; the trainer has refused other data with a clear message)."""
    if architecture not in BASELINES:
        raise ValueError(f"unknown baseline {architecture!r}; choose from "
                         f"{', '.join(BASELINES)}")
    if list(input_dims) != [APEX_IMAGE_WIDTH]:
        raise ValueError(f"{architecture} reads one {APEX_IMAGE_WIDTH}-wide apex image, got "
                         f"widths {list(input_dims)}")
    return BASELINES[architecture](num_classes, task)
