"""Fold-batched training: many fits of one configuration trained as one stacked model.

The folds and seeds of a cross-validation run differ only in their data and initialisation, and
each fit is small (a few hundred clips, steps of 16 clips): one at a time, the machine spends
most of its time in per-step overhead. Here the networks of all fits are stacked
(``torch.func.stack_module_state``) and one ``torch.func.vmap`` over the model's own
``training_loss`` computes every fit's loss per step; the gradients, gradient clipping and AdamW
(:mod:`mefuse.train.stacked_adamw`) are per fit.

Each fit keeps everything it has when trained alone (``TrainedModel.fit``), so that the
results equal the one-at-a-time loop:

- its network is built after ``torch.manual_seed(seed)`` and its ``torch.Generator`` draws the
  epoch permutations and each step's noise in the same order as ``TrainedModel._train``;
- its standardiser is fitted on its own training clips and applied per batch to the shared raw
  arrays (memory does not grow with the number of fits);
- its warm-up/cosine schedule runs over its own number of steps; fits with fewer steps per epoch
  (smaller training sets) sit out the extra steps of an epoch (padding clips weigh 0, and the
  optimiser skips them);
- tuned thresholds come from inner fits, stacked and trained first;
- a nested fusion choice (``fusion.select: inner``, fixed thresholds) stacks every fit's inner
  network first, chooses per fit exactly as :func:`mefuse.train.trainer.choose_output` does, then
  stacks the final fits that chose the same network (the fused one, or one stream alone).

The model is used only through its contract (``sample_noise``, ``training_loss``), so any fusion
option that follows it is batched without special cases.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from mefuse.errors import DataError
from mefuse.model.baselines import Network
from mefuse.train.config import TrainConfig, derive
from mefuse.train.data import ModalityData, Standardiser
from mefuse.train.stacked_adamw import StackedAdamW, clip_grad_norms_
from mefuse.train.trainer import (
    EmptyClassWarning,
    TrainedModel,
    build_network,
    check_finite_loss,
    check_finite_weights,
    choose_thresholds,
    inner_config,
    inner_split,
    parameter_groups,
    probe_network,
    resolve_device,
    schedule_lengths,
    training_target,
    warmup_cosine,
)


@dataclass(frozen=True)
class FitSpec:
    """One fit of a batch: which clips of the shared data it trains on, and its seed."""

    index: np.ndarray
    """Rows of the shared data (and labels) that form this fit's training set."""
    seed: int
    context: str = "training set"
    """Names the data in warnings, as ``TrainedModel.fit``'s ``context``."""


def fit_batched(
    config: TrainConfig,
    data: ModalityData,
    labels: np.ndarray,
    fits: Sequence[FitSpec],
    *,
    classes: Sequence[str] | None = None,
    sequence_ids: Sequence[str] | None = None,
    max_stack: int = 64,
    on_fitted: Callable[[int], None] | None = None,
    groups: Sequence[str] | None = None,
    on_epoch: Callable[[int], None] | None = None,
    epoch_probe: EpochProbe | None = None,
) -> list[TrainedModel]:
    """Train every fit of ``fits`` on its rows of ``data``; one fitted estimator per fit.

    Each estimator equals ``TrainedModel(config, fit.seed).fit(data.take(fit.index),
    labels[fit.index], ...)`` up to float rounding (same decisions), and predicts, saves and
    reports as one. ``sequence_ids`` (one per row of ``data``) keeps views together in the
    inner split of tuned thresholds. ``groups`` (the subject of each row) keeps people apart
    in the split of a nested fusion choice. At most ``max_stack`` fits are stacked at once.
    ``on_fitted(n)`` reports progress as groups of fits finish; ``on_epoch(n)`` as a stack of
    ``n`` fits finishes an epoch (the final networks only; inner fits are not reported).
    ``epoch_probe(i, epoch, view)`` looks at fit ``i``'s final network after each epoch, as
    ``TrainedModel.epoch_probe`` does (``view`` is valid during the call only).
    """
    if max_stack < 1:
        raise ValueError(f"max_stack must be at least 1, got {max_stack}")
    if config.model.architecture != "fusion":
        raise ValueError(f"the batched engine stacks fusion networks only, not "
                         f"{config.model.architecture!r}: fit it with TrainedModel.fit (the "
                         "loop engine; mefuse.train.cv does so by itself)")
    if config.fusion.select != "none":
        if config.thresholds.mode == "tuned":
            raise ValueError("fusion.select with tuned thresholds nests two inner fits per "
                             "fit; train it with the loop")
        return _fit_with_choice(config, data, labels, fits, classes=classes,
                                sequence_ids=sequence_ids, groups=groups,
                                max_stack=max_stack, on_fitted=on_fitted, on_epoch=on_epoch,
                                epoch_probe=epoch_probe)
    labels = np.asarray(labels, dtype=np.int64)
    if data.names != list(config.modalities):
        raise DataError(f"data holds {data.names}, the configuration asks for "
                        f"{config.modalities}")
    estimators = []
    for fit in fits:
        estimator = TrainedModel(config, fit.seed)
        estimator.classes = list(classes) if classes is not None else (
            list(config.classes or []) or [f"class{i}" for i in range(labels.shape[1])])
        estimator._check_labels(labels[fit.index], fit.context,
                                [data.clip_ids[i] for i in fit.index])
        estimators.append(estimator)
    sequences = np.asarray(sequence_ids) if sequence_ids is not None else None

    if config.thresholds.mode == "tuned":
        splits = [inner_split([data.clip_ids[i] for i in fit.index], labels[fit.index],
                              None if sequences is None else sequences[fit.index],
                              config.thresholds.inner_fraction, fit.seed) for fit in fits]
        inner_fits = [FitSpec(fit.index[mask], fit.seed, f"inner split of the {fit.context}")
                      for fit, mask in zip(fits, splits, strict=True)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptyClassWarning)
            inners = fit_batched(inner_config(config), data, labels, inner_fits,
                                 classes=estimators[0].classes, max_stack=max_stack)
        for estimator, inner, fit, mask in zip(estimators, inners, fits, splits, strict=True):
            estimator.thresholds = choose_thresholds(
                inner, data.take(fit.index), labels[fit.index],
                None if sequences is None else sequences[fit.index], mask)
    else:
        for estimator in estimators:
            estimator.thresholds = np.full(labels.shape[1], config.thresholds.value)

    for estimator, fit in zip(estimators, fits, strict=True):
        estimator.input_dims = data.dims
        estimator.standardiser.fit([a[fit.index] for a in data.arrays])
    for start in range(0, len(fits), max_stack):
        chunk = range(start, min(start + max_stack, len(fits)))
        networks = _train_stack(config, data.arrays, labels, [fits[i] for i in chunk],
                                [estimators[i].standardiser for i in chunk], on_epoch,
                                _stack_probe(epoch_probe, list(chunk), estimators))
        for i, network in zip(chunk, networks, strict=True):
            estimators[i].network = network
        if on_fitted is not None:
            on_fitted(len(chunk))
    return estimators


def _fit_with_choice(
    config: TrainConfig,
    data: ModalityData,
    labels: np.ndarray,
    fits: Sequence[FitSpec],
    *,
    classes: Sequence[str] | None,
    sequence_ids: Sequence[str] | None,
    groups: Sequence[str] | None,
    max_stack: int,
    on_fitted: Callable[[int], None] | None,
    on_epoch: Callable[[int], None] | None = None,
    epoch_probe: EpochProbe | None = None,
) -> list[TrainedModel]:
    """``fusion.select: inner`` batched: inner networks stacked, a choice per fit, then the
    final fits stacked by the network they chose (see :mod:`mefuse.train.select`)."""
    from mefuse.train.select import FUSED, choice_config, choice_split, decide_choice, single_config

    labels = np.asarray(labels, dtype=np.int64)
    units = np.asarray(sequence_ids if sequence_ids is not None else data.clip_ids)
    people = np.asarray(groups) if groups is not None else units
    splits = [choice_split(config, fit.seed, units[fit.index].tolist(),
                           people[fit.index].tolist()) for fit in fits]
    inner_fits = [FitSpec(fit.index[train], fit.seed,
                          f"inner split for the fusion choice of the {fit.context}")
                  for fit, (train, _) in zip(fits, splits, strict=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyClassWarning)
        inners = fit_batched(choice_config(config), data, labels, inner_fits, classes=classes,
                             max_stack=max_stack)
    choices = []
    for fit, inner, (_, val) in zip(fits, inners, splits, strict=True):
        rows = fit.index[val]
        choices.append(decide_choice(config, inner, data.take(rows), labels[rows],
                                     units[rows].tolist(), people[rows].tolist()))

    estimators = []
    for i, fit in enumerate(fits):
        estimator = TrainedModel(config, fit.seed)
        estimator.classes = list(inners[i].classes)
        estimator.thresholds = np.full(labels.shape[1], config.thresholds.value)
        estimator.input_dims = data.dims
        estimator.standardiser.fit([a[fit.index] for a in data.arrays])
        estimator.choice, estimator.choice_scores = choices[i]
        estimators.append(estimator)

    final = derive(config, fusion={"select": "none"})
    networks: dict[int, Network] = {}
    for chosen in dict.fromkeys(choice for choice, _ in choices):
        members = [i for i, (choice, _) in enumerate(choices) if choice == chosen]
        if chosen == FUSED:
            group_config, group_data = final, data
        else:
            position = config.modalities.index(chosen)
            group_config = single_config(config, chosen)
            group_data = ModalityData([chosen], [data.arrays[position]], data.clip_ids)
        trained = fit_batched(group_config, group_data, labels, [fits[i] for i in members],
                              classes=classes, max_stack=max_stack, on_fitted=on_fitted,
                              on_epoch=on_epoch,
                              epoch_probe=_member_probe(epoch_probe, members, estimators))
        networks.update(zip(members, (e._require_fitted() for e in trained), strict=True))

    for i, estimator in enumerate(estimators):
        estimator.network = networks[i]
    return estimators


EpochProbe = Callable[[int, int, TrainedModel], None]
"""``(fit position, epoch, estimator view)``: see ``fit_batched``'s ``epoch_probe``."""


def _stack_probe(probe: EpochProbe | None, positions: list[int],
                 estimators: Sequence[TrainedModel]
                 ) -> Callable[[int, int, Network], None] | None:
    """The probe of one stack: the stack's ``g``-th network seen through its estimator."""
    if probe is None:
        return None

    def look(g: int, epoch: int, network: Network) -> None:
        probe(positions[g], epoch, estimators[positions[g]].with_network(network))

    return look


def _member_probe(probe: EpochProbe | None, members: list[int],
                  estimators: Sequence[TrainedModel]) -> EpochProbe | None:
    """The probe of a group of fits that chose the same network: the group's ``j``-th fit is
    fit ``members[j]``, seen through its final estimator (all modalities, its choice)."""
    if probe is None:
        return None

    def look(j: int, epoch: int, view: TrainedModel) -> None:
        probe(members[j], epoch, estimators[members[j]].with_network(view._require_fitted()))

    return look


class _Loss(nn.Module):
    """Exposes a network's ``training_loss`` as ``forward``, for ``functional_call``."""

    def __init__(self, network: Network) -> None:
        super().__init__()
        self.network = network

    def forward(self, modalities: list[torch.Tensor], target: torch.Tensor,
                noise: dict[str, torch.Tensor], weight: torch.Tensor) -> torch.Tensor:
        return self.network.training_loss(modalities, target, noise, weight)


def _train_stack(config: TrainConfig, arrays: Sequence[np.ndarray], labels: np.ndarray,
                 fits: Sequence[FitSpec], standardisers: Sequence[Standardiser],
                 on_epoch: Callable[[int], None] | None = None,
                 probe: Callable[[int, int, Network], None] | None = None
                 ) -> list[Network]:
    """Train the fits of one stack together; return each fit's network (eval mode, CPU).
    ``on_epoch(len(fits))`` follows each epoch; then ``probe(g, epoch, network)`` for each
    fit ``g`` (a copy of its current weights, read-only: :func:`_probe_stack`)."""
    optim = config.optim
    device = resolve_device(config.device)
    dims = [a.shape[-1] for a in arrays]
    networks, generators = [], []
    for fit in fits:
        torch.manual_seed(fit.seed)  # as TrainedModel._train: same initial weights
        generators.append(torch.Generator().manual_seed(fit.seed))
        networks.append(build_network(config, dims, labels.shape[1]))
    template = networks[0]
    params, buffers = stack_module_state([_Loss(n).to(device) for n in networks])
    base = copy.deepcopy(_Loss(template)).to("meta")

    def loss(p: dict, b: dict, inputs: list, target: torch.Tensor, noise: dict,
             weight: torch.Tensor) -> torch.Tensor:
        return functional_call(base, (p, b), (inputs, target, noise, weight))

    stacked_loss = vmap(loss)
    names = list(params)
    groups = parameter_groups(template, 1.0, optim.weight_decay, optim.gate_lr_scale)
    group_of = {id(p): g for g in groups for p in g["params"]}
    by_name = dict(template.named_parameters())
    optimiser = StackedAdamW(
        [params[n] for n in names],
        [group_of[id(by_name[n.removeprefix("network.")])]["lr"] for n in names],
        [group_of[id(by_name[n.removeprefix("network.")])]["weight_decay"] for n in names],
    )

    inputs = [torch.from_numpy(a).to(device) for a in arrays]
    means = [torch.from_numpy(np.stack([s.mean[m] for s in standardisers])).to(device)
             for m in range(len(arrays))]
    stds = [torch.from_numpy(np.stack([s.std[m] for s in standardisers])).to(device)
            for m in range(len(arrays))]
    target_all = training_target(labels, config.task).to(device)
    buffers_in = [x.new_empty((len(fits) * optim.batch_size, *x.shape[1:])) for x in inputs]
    # every fit's noise of a step, in one stacked buffer per name (drawn on the CPU, as alone)
    noise_cpu = {name: torch.zeros((len(fits), *shape))
                 for name, shape in template.noise_shapes(optim.batch_size).items()}
    schedules = [schedule_lengths(len(fit.index), optim) for fit in fits]
    batch_size = optim.batch_size
    count = len(fits)
    steps_done = [0] * count
    spare = copy.deepcopy(template)  # receives each fit's weights for the probe
    for _epoch in range(optim.epochs):
        orders = [torch.randperm(len(fit.index), generator=generator)
                  for fit, generator in zip(fits, generators, strict=True)]
        for step in range(max(s[0] for s in schedules)):
            rows = np.zeros((count, batch_size), dtype=np.int64)
            weight = torch.zeros(count, batch_size)
            active = torch.zeros(count, dtype=torch.bool)
            lr = torch.zeros(count, dtype=torch.float64)
            for g, (fit, order) in enumerate(zip(fits, orders, strict=True)):
                batch = order[step * batch_size: (step + 1) * batch_size]
                real = len(batch)
                if real == 0:  # a fit sitting this step out draws nothing, as it would alone
                    continue
                # the fit's noise for its real clips, drawn exactly as alone; the rows of
                # padding clips keep old draws, which their zero weight makes irrelevant
                template.sample_noise(real, generators[g],
                                      out={name: t[g] for name, t in noise_cpu.items()})
                rows[g, :real] = fit.index[batch.numpy()]
                weight[g, :real] = 1.0
                active[g] = True
                _, total, warmup = schedules[g]
                lr[g] = optim.lr * warmup_cosine(steps_done[g], warmup, total)
                steps_done[g] += 1
            index = torch.from_numpy(rows).to(device)
            # Each fit's standardiser on the shared raw rows, in place on the gathered copy (the
            # same arithmetic as the fit's own transform). The copy goes into one buffer per
            # modality, reused every step: ``index_select`` into it is 3-4x faster on a CPU than
            # advanced indexing into a fresh tensor. (The previous step's graph, which saved
            # these inputs, is gone once its gradients are taken.)
            flat = index.reshape(-1)
            batch_inputs = [
                torch.index_select(x, 0, flat, out=buffer).view(count, batch_size, *x.shape[1:])
                .sub_(m[:, None, None, :]).div_(s[:, None, None, :])
                for x, m, s, buffer in zip(inputs, means, stds, buffers_in, strict=True)]
            noise = {name: t.to(device) for name, t in noise_cpu.items()}
            losses = stacked_loss(params, buffers, batch_inputs, target_all[index], noise,
                                  weight.to(device))
            # vmap's gradients can be strided views: one dense copy here serves both the
            # per-fit norms (which would copy again to flatten) and the fused update (the
            # pools order their products so that their large gradients are dense already).
            grads = [g.contiguous() for g in torch.autograd.grad(
                losses.sum(), [params[n] for n in names])]
            if optim.grad_clip > 0:
                clip_grad_norms_(grads, optim.grad_clip)
            optimiser.step(grads, lr, active)
        _check_losses(losses.detach(), fits, _epoch, config)
        if on_epoch is not None:
            on_epoch(count)
        if probe is not None:
            _probe_stack(spare, {**params, **buffers}, count, _epoch, probe)
    out = []
    for g in range(count):
        network = networks[g]
        state = {n.removeprefix("network."): t[g].detach().cpu().clone()
                 for n, t in {**params, **buffers}.items()}
        check_finite_weights([state[n.removeprefix("network.")] for n in names],
                             fits[g].context, optim)
        network.cpu().load_state_dict(state)
        network.eval()
        out.append(network)
    return out


def _probe_stack(network: Network, state: dict[str, torch.Tensor], count: int,
                 epoch: int, probe: Callable[[int, int, Network], None]) -> None:
    """Each fit's current weights copied into ``network`` (a spare one), then ``probe`` on
    it: the stacked parameters and the optimiser's state are only read."""
    for g in range(count):
        with torch.no_grad():
            network.load_state_dict({n.removeprefix("network."): t[g] for n, t in state.items()})
        probe_network(network, functools.partial(probe, g, epoch))


def _check_losses(losses: torch.Tensor, fits: Sequence[FitSpec], epoch: int,
                  config: TrainConfig) -> None:
    """Stop the stack when a fit's loss of the epoch's last step is NaN or infinite, naming
    that fit (one check per epoch, on losses already computed, as the loop does)."""
    finite = torch.isfinite(losses)
    if not bool(finite.all()):
        g = int(torch.nonzero(~finite)[0, 0])
        check_finite_loss(losses[g], fits[g].context, epoch, config.optim)
