"""AdamW over stacked parameters: one update for many fits, each with its own rate and step.

Why not ``torch.optim.AdamW`` on the stacked tensors: it works elementwise, so the moments would
be right, but it takes one learning rate per parameter group and one step count per tensor. Fits
stacked along dimension 0 have their own warm-up/cosine schedules (training sets of different
sizes have different step counts), and a fit whose epoch is already over must skip a step
entirely (no decay, no moment update, no step count). This optimiser takes a learning rate per
fit and an ``active`` mask per step, and otherwise follows ``torch.optim.AdamW`` (decoupled
weight decay, bias-corrected moments, ``eps`` outside the square root), so that a stack of one
fit equals torch's optimiser.

Why the fused kernel: on a CPU the update is memory-bound, and written with tensor operations
it made a dozen temporaries of every stacked parameter per step (a third of a batched run's
time). Fits that step together with the same rate and step count (all of them in k-fold, most
in LOSO) are updated by ``torch._fused_adamw_`` -- the kernel behind ``AdamW(fused=True)``, which
the one-at-a-time loop uses -- on their slices of the stacked tensors, in place. Where that
kernel is missing, the tensor-operation update below does the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

_FUSED = getattr(torch, "_fused_adamw_", None)
"""The fused AdamW kernel of ``torch.optim.AdamW(fused=True)`` (``None`` where torch lacks it)."""


class StackedAdamW:
    """AdamW for tensors whose dimension 0 indexes independent fits.

    Args:
        params: stacked parameters ``(G, ...)``, updated in place.
        lr_scales: per parameter, the factor on the fit's learning rate (the gate's own rate).
        weight_decays: per parameter, the decoupled weight decay.
        betas, eps: as in ``torch.optim.AdamW``.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr_scales: Sequence[float],
                 weight_decays: Sequence[float], betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        if not (len(params) == len(lr_scales) == len(weight_decays)):
            raise ValueError("one learning-rate scale and one weight decay per parameter")
        self.params = list(params)
        if not all(p.is_contiguous() for p in self.params):
            raise ValueError("stacked parameters must be contiguous (the fused update writes "
                             "each fit's slice in place)")
        self.lr_scales = list(lr_scales)
        self.weight_decays = list(weight_decays)
        self.beta1, self.beta2 = betas
        self.eps = eps
        fits = self.params[0].shape[0]
        self.steps = torch.zeros(fits, dtype=torch.float64, device=self.params[0].device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self._groups: dict[tuple[float, float], list[int]] = {}
        """Parameters by (learning-rate scale, weight decay): one fused call each."""
        for index, key in enumerate(zip(self.lr_scales, self.weight_decays, strict=True)):
            self._groups.setdefault(key, []).append(index)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor, active: torch.Tensor) -> None:
        """One update of the active fits with per-fit learning rates ``lr`` (G,).

        Inactive fits keep their parameters, moments and step counts untouched.
        """
        if _FUSED is not None and self.params[0].device.type in ("cpu", "cuda"):
            self._fused_step(grads, lr, active)
        else:
            self._tensor_step(grads, lr, active)

    def _fused_step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor,
                    active: torch.Tensor) -> None:
        """The fused kernel on each set of fits that share a rate and a step count."""
        kernel = _FUSED
        assert kernel is not None  # step() calls this only where torch has the kernel
        active = active.to(self.steps.device)
        self.steps += active.to(torch.float64)
        rates, steps = lr.double().tolist(), self.steps.tolist()
        together: dict[tuple[float, float], list[int]] = {}
        for fit in torch.nonzero(active.cpu()).flatten().tolist():
            together.setdefault((rates[fit], steps[fit]), []).append(fit)
        device = self.params[0].device
        grads = [g.contiguous() for g in grads]  # the kernel reads slices as dense memory
        for (rate, step), fits in together.items():
            count = torch.tensor(step, dtype=torch.float32, device=device)
            for (scale, decay), members in self._groups.items():
                slices = [(i, fit) for i in members for fit in fits]
                kernel([self.params[i][f] for i, f in slices], [grads[i][f] for i, f in slices],
                       [self.exp_avg[i][f] for i, f in slices],
                       [self.exp_avg_sq[i][f] for i, f in slices], [],
                       [count] * len(slices), lr=rate * scale, beta1=self.beta1,
                       beta2=self.beta2, weight_decay=decay, eps=self.eps, amsgrad=False,
                       maximize=False)

    def _tensor_step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor,
                     active: torch.Tensor) -> None:
        """The same update written with tensor operations (masks for inactive fits)."""
        device = self.params[0].device
        lr = lr.to(device=device, dtype=torch.float64)
        active = active.to(device)
        self.steps += active.to(torch.float64)
        steps = self.steps.clamp_min(1.0)  # inactive fits that never stepped: any value works
        correction1 = 1.0 - self.beta1 ** steps
        correction2_sqrt = (1.0 - self.beta2 ** steps).sqrt()
        for index, (param, grad) in enumerate(zip(self.params, grads, strict=True)):
            shape = (-1,) + (1,) * (param.ndim - 1)
            mask = active.view(shape)
            fit_lr = lr * self.lr_scales[index]
            dtype = param.dtype
            decay = (1.0 - fit_lr * self.weight_decays[index]).to(dtype).view(shape)
            step_size = (fit_lr / correction1).to(dtype).view(shape)
            bias2 = correction2_sqrt.to(dtype).view(shape)
            exp_avg = self.exp_avg[index].lerp(grad, 1.0 - self.beta1)
            exp_avg_sq = self.exp_avg_sq[index] * self.beta2 + (1.0 - self.beta2) * grad * grad
            denom = exp_avg_sq.sqrt() / bias2 + self.eps
            updated = param * decay - step_size * exp_avg / denom
            param.copy_(torch.where(mask, updated, param))
            self.exp_avg[index].copy_(torch.where(mask, exp_avg, self.exp_avg[index]))
            self.exp_avg_sq[index].copy_(torch.where(mask, exp_avg_sq, self.exp_avg_sq[index]))


def clip_grad_norms_(grads: Sequence[torch.Tensor], max_norm: float) -> None:
    """Scale each fit's gradients, in place, to a global norm of at most ``max_norm`` (over that
    fit's parameters only), as ``torch.nn.utils.clip_grad_norm_`` does for one fit.

    A step where no fit's norm exceeds ``max_norm`` leaves the gradients untouched: torch's
    factor is then exactly 1, and skipping the multiplication saves a pass over every stacked
    gradient.
    """
    fits = grads[0].shape[0]
    # Summed parameter by parameter rather than reduced over a stacked (parameters, fits)
    # tensor: that reduction's order (so its rounding) depends on the number of fits, and a
    # fit's result must not depend on how many fits are stacked beside it.
    total_sq = torch.zeros(fits, dtype=grads[0].dtype, device=grads[0].device)
    for g in grads:
        total_sq += torch.linalg.vector_norm(g.reshape(fits, -1), 2, dim=1).square()
    coef = (max_norm / (total_sq.sqrt() + 1e-6)).clamp(max=1.0)
    if bool((coef == 1.0).all()):
        return
    for g in grads:
        g.mul_(coef.view((-1,) + (1,) * (g.ndim - 1)))
