"""Fusion options beyond the paper: what each computes, its validation, and vmap safety."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, stack_module_state

from mefuse.errors import ConfigError
from mefuse.model import FusionNetwork
from mefuse.model.fusion_checks import stream_keep_mask
from mefuse.train.config import FusionConfig, TrainConfig, build_config


def _inputs(batch: int = 3, frames: int = 5) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(batch, frames, 4, generator=generator),
            torch.randn(batch, frames, 6, generator=generator)]


def _keep_all_noise(model: FusionNetwork, batch: int, frames: int,
                    modality: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Noise that drops nothing (uniform draws of 1), except the given stream draws."""
    noise = {k: torch.ones(v) for k, v in model.noise_shapes(batch).items()}
    if modality is not None:
        noise["modality"] = modality
    return noise


def test_keep_mask_never_drops_every_stream():
    uniform = torch.rand(2000, 3, generator=torch.Generator().manual_seed(1))
    keep = stream_keep_mask(uniform, 0.9)
    assert keep.any(dim=1).all()
    assert 0.05 < keep.float().mean() < 0.5  # most streams dropped at p = 0.9, never all
    torch.testing.assert_close(stream_keep_mask(uniform, 0.0), torch.ones_like(keep))


def test_modality_dropout_renormalises_the_gate_over_the_kept_stream():
    torch.manual_seed(0)
    model = FusionNetwork([4, 6], 3, dim=8, hidden=8, modality_dropout=0.5,
                             dropout=0.0, feature_dropout=0.0)
    assert model.noise_shapes(3)["modality"] == (3, 2)
    with torch.no_grad():
        model.gate.copy_(torch.tensor([0.3, -0.7]))
    x = _inputs()
    # clip 0 keeps both, clip 1 drops stream 1, clip 2 drops stream 0
    draws = torch.tensor([[0.9, 0.9], [0.9, 0.1], [0.1, 0.9]])
    logits = model(x, _keep_all_noise(model, 3, 5, draws))
    summaries = [pool(t)[0] for pool, t in zip(model.pools, x, strict=True)]
    w = model.gate_weights()
    torch.testing.assert_close(logits[0], model.head(w[0] * summaries[0][0]
                                                     + w[1] * summaries[1][0]))
    torch.testing.assert_close(logits[1], model.head(summaries[0][1]))
    torch.testing.assert_close(logits[2], model.head(summaries[1][2]))
    torch.testing.assert_close(model(x), model(x, _keep_all_noise(model, 3, 5,
                                                                  torch.ones(3, 2))))


def test_late_fusion_mixes_the_modality_heads_logits():
    torch.manual_seed(1)
    model = FusionNetwork([4, 6], 3, dim=8, hidden=8, late=True)
    assert model.head is None and len(model.modality_heads) == 2
    x = _inputs()
    per_modality = model.modality_logits(x)
    w = model.gate_weights()
    torch.testing.assert_close(model(x), w[0] * per_modality[0] + w[1] * per_modality[1])
    summary = model.pools[1](x[1])[0]
    torch.testing.assert_close(per_modality[1], model.modality_heads[1](summary))


def test_aux_heads_and_gate_entropy_add_their_terms_to_the_loss():
    torch.manual_seed(2)
    x, target = _inputs(), torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0]])
    model = FusionNetwork([4, 6], 3, dim=8, hidden=8, aux_weight=0.7, gate_entropy=0.2,
                             dropout=0.0, feature_dropout=0.0)
    with torch.no_grad():
        model.gate.copy_(torch.tensor([1.0, -0.5]))
    noise = _keep_all_noise(model, 3, 5)
    fused = model.loss_from_logits(model(x, noise), target)
    aux = torch.stack([model.loss_from_logits(m, target) for m in model.modality_logits(x)])
    w = model.gate_weights()
    entropy = -(w * w.log()).sum()
    torch.testing.assert_close(model.training_loss(x, target, noise),
                               fused + 0.7 * aux.mean() + 0.2 * entropy)
    loss = model.training_loss(x, target, noise)
    loss.backward()
    assert all(h.out.weight.grad is not None for h in model.modality_heads)


def test_concat_modality_dropout_zeroes_and_rescales_a_stream():
    torch.manual_seed(3)
    model = FusionNetwork([4, 6], 3, strategy="concat", dim=8, hidden=8,
                             modality_dropout=0.5, feature_dropout=0.0)
    x = _inputs()
    draws = torch.tensor([[0.9, 0.1], [0.9, 0.9], [0.1, 0.9]])
    frames, scale = model._pool_inputs(x, _keep_all_noise(model, 3, 5, draws))[0]
    inputs = frames * scale[:, None, :]  # what the pool sees
    torch.testing.assert_close(inputs[0], torch.cat([2 * x[0][0], 0 * x[1][0]], dim=-1))
    torch.testing.assert_close(inputs[1], torch.cat([x[0][1], x[1][1]], dim=-1))


@pytest.mark.parametrize("kwargs", [
    {"modality_dropout": 0.3, "aux_weight": 0.5, "gate_entropy": 0.1},
    {"late": True, "modality_dropout": 0.4},
])
def test_new_options_train_the_same_stacked_under_vmap(kwargs):
    """The contract: folds stacked with torch.func.vmap give each fit's own loss and grads."""
    torch.manual_seed(4)
    models = [FusionNetwork([4, 6], 3, dim=8, hidden=8, **kwargs) for _ in range(2)]
    x = [torch.stack([t, t + 0.5]) for t in _inputs()]
    target = torch.stack([torch.eye(3), torch.eye(3).flip(0)])
    noises = [m.sample_noise(3, torch.Generator().manual_seed(i))
              for i, m in enumerate(models)]
    stacked_noise = {k: torch.stack([n[k] for n in noises]) for k in noises[0]}
    params, buffers = stack_module_state(models)

    class Loss(torch.nn.Module):
        def __init__(self, inner: FusionNetwork) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inputs, y, noise):
            return self.inner.training_loss(inputs, y, noise)

    wrapper = Loss(models[0])

    def one(p, b, inputs, y, noise):
        state = {f"inner.{k}": v for k, v in {**p, **b}.items()}
        return functional_call(wrapper, state, (inputs, y, noise))

    stacked = torch.vmap(one)(params, buffers, x, target, stacked_noise)
    for i, model in enumerate(models):
        alone = model.training_loss([t[i] for t in x], target[i], noises[i])
        torch.testing.assert_close(stacked[i], alone)


def test_config_validates_the_fusion_options():
    ok = TrainConfig(modalities=["a", "b"], fusion={"modality_dropout": 0.2, "aux_weight": 1,
                                                    "select": "inner"})
    assert ok.fusion != FusionConfig()
    bad = [
        ({"modalities": ["a"], "strategy": "single", "fusion": {"aux_weight": 1}}, "two or more"),
        ({"modalities": ["a", "b"], "strategy": "sum", "fusion": {"gate_entropy": 0.1}},
         "learned gate"),
        ({"modalities": ["a", "b"], "strategy": "concat", "fusion": {"late": True}},
         "one pool per modality"),
        ({"modalities": ["a", "b"], "strategy": "concat", "fusion": {"select": "inner"}},
         "strategy sum or gated"),
        ({"modalities": ["a", "b"], "fusion": {"aux_detach": True}}, "aux_weight > 0"),
        ({"modalities": ["a", "b"], "fusion": {"aux_detach": True, "aux_weight": 1,
                                               "late": True}}, "no late fusion"),
        ({"modalities": ["a", "b"], "fusion": {"modality_dropout": 1.0}}, "less than 1"),
        ({"modalities": ["a", "b"], "fusion": {"dropout_all": 0.1}}, "unknown setting"),
    ]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            build_config(TrainConfig, data)
    concat = TrainConfig(modalities=["a", "b"], strategy="concat",
                         fusion={"modality_dropout": 0.2})
    assert concat.fusion.modality_dropout == 0.2


def test_probe_heads_leave_the_fused_model_untouched():
    """``aux_detach`` heads learn from detached summaries: every shared parameter gets exactly
    the gradient of the plain model, and the heads still learn (their own gradient is not 0)."""
    torch.manual_seed(0)
    plain = FusionNetwork([6, 5], 3, strategy="gated", dim=8, queries=2, hidden=8)
    probed = FusionNetwork([6, 5], 3, strategy="gated", dim=8, queries=2, hidden=8,
                              aux_weight=1.0, aux_detach=True)
    probed.load_state_dict(plain.state_dict(), strict=False)
    x = [torch.randn(4, 7, 6), torch.randn(4, 7, 5)]
    target = (torch.rand(4, 3) > 0.5).float()
    noise = probed.sample_noise(4, torch.Generator().manual_seed(1))
    plain_noise = {k: v for k, v in noise.items() if not k.startswith("modality_head")}
    plain.training_loss(x, target, plain_noise).backward()
    probed.training_loss(x, target, noise).backward()
    torch.testing.assert_close(plain(x), probed(x))
    shared = dict(plain.named_parameters())
    for name, parameter in probed.named_parameters():
        if name.startswith("modality_heads"):
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0
        else:
            torch.testing.assert_close(parameter.grad, shared[name].grad, rtol=0, atol=0)
    # without detaching, the heads' loss reaches the pools
    joint = FusionNetwork([6, 5], 3, strategy="gated", dim=8, queries=2, hidden=8,
                             aux_weight=1.0)
    joint.load_state_dict(probed.state_dict())
    joint.training_loss(x, target, noise).backward()
    pool = "pools.0.queries" if "pools.0.queries" in shared else next(
        n for n in shared if n.startswith("pools.0"))
    assert not torch.equal(dict(joint.named_parameters())[pool].grad, shared[pool].grad)
