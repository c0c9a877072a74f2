"""The multi-query attention pool, the fusion strategies and the head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mefuse.model import STRATEGIES, FusionNetwork, MultiQueryAttentionPool
from mefuse.model.head import ClassificationHead


def test_pool_matches_direct_computation():
    torch.manual_seed(0)
    pool = MultiQueryAttentionPool(in_dim=5, dim=4, queries=3)
    frames = torch.randn(2, 6, 5)
    pooled, attention = pool(frames)

    q = pool.queries.detach().numpy()
    w_k, b_k = pool.key.weight.detach().numpy(), pool.key.bias.detach().numpy()
    w_v, b_v = pool.value.weight.detach().numpy(), pool.value.bias.detach().numpy()
    for b in range(2):
        f = frames[b].numpy()
        k = f @ w_k.T + b_k
        v = f @ w_v.T + b_v
        scores = q @ k.T / math.sqrt(4)
        a = np.exp(scores - scores.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        expected = (a @ v).mean(axis=0)
        np.testing.assert_allclose(attention[b].detach().numpy(), a, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pooled[b].detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def _direct_pool(pool: MultiQueryAttentionPool, frames: torch.Tensor) -> torch.Tensor:
    """The paper's equations as written: K and V for every frame, then attention."""
    keys, values = pool.key(frames), pool.value(frames)
    if pool.position is not None:
        keys = keys + pool.position[: frames.shape[1]]
    scores = torch.einsum("qd,btd->bqt", pool.queries, keys) / math.sqrt(pool.dim)
    return torch.einsum("bqt,btd->bqd", scores.softmax(-1), values).mean(dim=1)


@pytest.mark.parametrize("position", [False, True])
def test_factorised_pool_has_the_direct_forms_values_and_gradients(position):
    torch.manual_seed(4)
    pool = MultiQueryAttentionPool(7, 5, 3, position=position, max_frames=8).double()
    frames = torch.randn(4, 6, 7, dtype=torch.float64)
    scale = (torch.rand(4, 7, dtype=torch.float64) > 0.3) / 0.7
    target = torch.randn(4, 5, dtype=torch.float64)
    grads = []
    for pooled in (pool(frames, channel_scale=scale)[0],
                   _direct_pool(pool, frames * scale[:, None, :])):
        pool.zero_grad()
        ((pooled - target) ** 2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in pool.named_parameters()})
        grads[-1]["pooled"] = pooled.detach()
    for name, value in grads[0].items():
        torch.testing.assert_close(value, grads[1][name], rtol=1e-10, atol=1e-12, msg=name)


def test_pool_keeps_the_initial_weights_and_checkpoints_of_the_joint_layer():
    torch.manual_seed(5)
    joint = torch.nn.Linear(9, 2 * 6)
    queries = torch.randn(2, 6) * 6**-0.5
    torch.manual_seed(5)
    pool = MultiQueryAttentionPool(9, 6, 2)
    torch.testing.assert_close(torch.cat([pool.key.weight, pool.value.weight]), joint.weight)
    torch.testing.assert_close(torch.cat([pool.key.bias, pool.value.bias]), joint.bias)
    torch.testing.assert_close(pool.queries, queries)

    legacy = {"key_value.weight": torch.randn(12, 9), "key_value.bias": torch.randn(12),
              "queries": torch.randn(2, 6)}
    loaded = MultiQueryAttentionPool(9, 6, 2)
    loaded.load_state_dict(legacy)
    torch.testing.assert_close(loaded.value.weight, legacy["key_value.weight"][6:])
    torch.testing.assert_close(loaded.key.bias, legacy["key_value.bias"][:6])


def test_pool_shares_one_key_and_value_projection():
    pool = MultiQueryAttentionPool(in_dim=10, dim=8, queries=6)
    linear = [m for m in pool.modules() if isinstance(m, torch.nn.Linear)]
    # one K and one V projection for all queries, nothing per query
    assert [(m.in_features, m.out_features) for m in linear] == [(10, 8), (10, 8)]
    assert pool.queries.shape == (6, 8)


def test_pool_without_position_ignores_frame_order_and_with_it_does_not():
    torch.manual_seed(1)
    frames = torch.randn(1, 9, 5)
    shuffled = frames[:, torch.randperm(9)]
    plain = MultiQueryAttentionPool(5, 8, 2)
    torch.testing.assert_close(plain(frames)[0], plain(shuffled)[0])
    positional = MultiQueryAttentionPool(5, 8, 2, position=True, max_frames=9)
    assert not torch.allclose(positional(frames)[0], positional(shuffled)[0])


def test_mask_hides_padding():
    torch.manual_seed(2)
    pool = MultiQueryAttentionPool(3, 4, 2)
    frames = torch.randn(1, 5, 3)
    mask = torch.tensor([[True, True, True, False, False]])
    pooled, attention = pool(frames, mask)
    assert torch.all(attention[..., 3:] == 0)
    torch.testing.assert_close(pooled, pool(frames[:, :3])[0])


def test_gate_weights_are_a_softmax_and_weight_the_summaries():
    torch.manual_seed(3)
    model = FusionNetwork([4, 6, 3], num_classes=5, strategy="gated", dim=8)
    with torch.no_grad():
        model.gate.copy_(torch.tensor([0.5, -1.0, 2.0]))
    weights = model.gate_weights()
    torch.testing.assert_close(weights, torch.softmax(torch.tensor([0.5, -1.0, 2.0]), 0))
    assert weights.sum().item() == pytest.approx(1.0)

    model.eval()
    inputs = [torch.randn(2, 7, d) for d in (4, 6, 3)]
    summaries = [pool(x)[0] for pool, x in zip(model.pools, inputs, strict=True)]
    fused = sum(w * z for w, z in zip(weights, summaries, strict=True))
    torch.testing.assert_close(model(inputs), model.head(fused))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("frames", [1, 5, 18, 40])
@pytest.mark.parametrize("modalities", [1, 2, 4])
def test_shapes_for_any_length_and_number_of_modalities(strategy, frames, modalities):
    if strategy == "single" and modalities != 1:
        with pytest.raises(ValueError, match="one modality"):
            FusionNetwork([3] * modalities, 5, strategy=strategy)
        return
    dims = [3 + 2 * m for m in range(modalities)]
    model = FusionNetwork(dims, num_classes=5, strategy=strategy, dim=8, queries=3,
                             max_frames=64, position=True)
    logits, attention = model.forward_with_attention([torch.randn(2, frames, d) for d in dims])
    assert logits.shape == (2, 5)
    assert len(attention) == (1 if strategy in ("single", "concat") else modalities)
    assert all(a.shape == (2, 3, frames) for a in attention)
    assert model.gate_weights().sum().item() == pytest.approx(1.0)


def test_sum_uses_equal_weights_and_concat_one_pool():
    summed = FusionNetwork([3, 4], 2, strategy="sum")
    torch.testing.assert_close(summed.gate_weights(), torch.tensor([0.5, 0.5]))
    concat = FusionNetwork([3, 4], 2, strategy="concat")
    assert len(concat.pools) == 1 and concat.pools[0].key.in_features == 7


def test_motion_input_is_blind_to_a_constant_offset():
    torch.manual_seed(4)
    model = FusionNetwork([5], 3, strategy="single", motion=True).eval()
    frames = torch.randn(2, 6, 5)
    torch.testing.assert_close(model([frames]), model([frames + 3.0]))
    still = FusionNetwork([5], 3, strategy="single", motion=False).eval()
    assert not torch.allclose(still([frames]), still([frames + 3.0]))


def test_wrong_width_is_refused():
    model = FusionNetwork([4, 6], 5)
    with pytest.raises(ValueError, match=r"\(B, T, 6\)"):
        model([torch.randn(1, 3, 4), torch.randn(1, 3, 5)])


def test_head_is_linear_gelu_layernorm_dropout_linear():
    head = ClassificationHead(8, 16, 5, 0.2)
    kinds = [type(m).__name__ for m in head.hidden] + [type(head.out).__name__]
    assert kinds == ["Linear", "GELU", "LayerNorm", "Linear"]
    z = torch.randn(3, 8)
    noise = torch.rand(3, 16, generator=torch.Generator().manual_seed(0))
    hidden = head.hidden(z)
    expected = head.out(hidden * (noise >= 0.2) / 0.8)
    torch.testing.assert_close(head(z, noise), expected)
    torch.testing.assert_close(head(z), head.out(hidden))


def test_randomness_is_explicit_and_vmap_reproduces_one_fit_at_a_time():
    """A fit's noise comes from its own generator, so stacked fits equal separate ones."""
    from torch.func import functional_call, stack_module_state, vmap

    models = []
    for seed in (0, 1, 2):
        torch.manual_seed(seed)
        models.append(FusionNetwork([4, 6], 3, strategy="gated", dim=8, feature_dropout=0.3))
    inputs = [torch.randn(5, 7, 4), torch.randn(5, 7, 6)]
    noises = [m.sample_noise(5, torch.Generator().manual_seed(10 + i))
              for i, m in enumerate(models)]
    target = torch.randint(0, 2, (5, 3)).float()
    one_by_one = torch.stack([m.training_loss(inputs, target, n)
                              for m, n in zip(models, noises, strict=True)])
    params, buffers = stack_module_state(models)
    stacked_noise = {k: torch.stack([n[k] for n in noises]) for k in noises[0]}

    def loss(p, b, noise):
        return functional_call(models[0], (p, b), args=(inputs,), kwargs={"noise": noise})

    logits = vmap(loss, in_dims=(0, 0, 0))(params, buffers, stacked_noise)
    expected = torch.stack([m(inputs, n) for m, n in zip(models, noises, strict=True)])
    torch.testing.assert_close(logits, expected)
    assert one_by_one.shape == (3,)
    # without noise the forward is deterministic, in train mode too
    models[0].train()
    torch.testing.assert_close(models[0](inputs), models[0](inputs))
    assert not torch.allclose(models[0](inputs, noises[0]), models[0](inputs))


def test_training_loss_weights_clips_and_ignores_padding():
    torch.manual_seed(0)
    model = FusionNetwork([4], 3, strategy="single", dim=8)
    inputs = [torch.randn(4, 5, 4)]
    target = torch.randint(0, 2, (4, 3)).float()
    full = model.training_loss([inputs[0][:3]], target[:3], None)
    padded = model.training_loss(inputs, target, None, torch.tensor([1.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(full, padded)
    single = FusionNetwork([4], 3, strategy="single", dim=8, task="singlelabel")
    loss = single.training_loss(inputs, torch.tensor([0, 2, 1, 1]), None)
    expected = torch.nn.functional.cross_entropy(single(inputs), torch.tensor([0, 2, 1, 1]))
    torch.testing.assert_close(loss, expected)


def test_noise_drawn_into_a_buffer_equals_fresh_draws():
    model = FusionNetwork([4, 6], 3, strategy="gated", dim=8, feature_dropout=0.3)
    fresh = model.sample_noise(3, torch.Generator().manual_seed(4))
    buffer = {name: torch.full((5, *shape[1:]), -1.0)
              for name, shape in model.noise_shapes(5).items()}
    filled = model.sample_noise(3, torch.Generator().manual_seed(4), out=buffer)
    assert filled is buffer and set(filled) == set(fresh)
    for name, tensor in fresh.items():
        assert torch.equal(buffer[name][:3], tensor)
        assert torch.all(buffer[name][3:] == -1.0)  # rows past the batch are left alone
    with pytest.raises(ValueError, match="contiguous"):
        model.sample_noise(6, out=buffer)  # more rows than the buffer holds


def test_a_classifier_saved_with_the_joint_key_value_layer_loads_and_predicts_the_same():
    torch.manual_seed(6)
    model = FusionNetwork([4, 6], 3, strategy="gated", dim=8, hidden=8).eval()
    legacy = {}
    for name, tensor in model.state_dict().items():
        if ".key." in name or ".value." in name:
            continue
        legacy[name] = tensor
    for index, pool in enumerate(model.pools):
        for part in ("weight", "bias"):  # the earlier releases' layout: K rows, then V rows
            legacy[f"pools.{index}.key_value.{part}"] = torch.cat(
                [getattr(pool.key, part), getattr(pool.value, part)]).detach()
    restored = FusionNetwork([4, 6], 3, strategy="gated", dim=8, hidden=8).eval()
    restored.load_state_dict(legacy)
    inputs = [torch.randn(2, 5, 4), torch.randn(2, 5, 6)]
    torch.testing.assert_close(restored(inputs), model(inputs), rtol=0, atol=0)
