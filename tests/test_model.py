"""The multi-query attention pool, the fusion strategies and the head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mefuse.model import STRATEGIES, FusionClassifier, MultiQueryAttentionPool
from mefuse.model.head import classification_head


def test_pool_matches_direct_computation():
    torch.manual_seed(0)
    pool = MultiQueryAttentionPool(in_dim=5, dim=4, num_queries=3)
    frames = torch.randn(2, 6, 5)
    pooled, attention = pool(frames)

    q = pool.queries.detach().numpy()
    weight = pool.key_value.weight.detach().numpy()
    bias = pool.key_value.bias.detach().numpy()
    w_k, w_v, b_k, b_v = weight[:4], weight[4:], bias[:4], bias[4:]
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


def test_pool_shares_one_key_and_value_projection():
    pool = MultiQueryAttentionPool(in_dim=10, dim=8, num_queries=6)
    linear = [m for m in pool.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 1 and linear[0].out_features == 2 * 8  # K and V, nothing per query
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
    model = FusionClassifier([4, 6, 3], num_classes=5, strategy="gated", dim=8)
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
            FusionClassifier([3] * modalities, 5, strategy=strategy)
        return
    dims = [3 + 2 * m for m in range(modalities)]
    model = FusionClassifier(dims, num_classes=5, strategy=strategy, dim=8, num_queries=3,
                             max_frames=64, position=True)
    logits, attention = model([torch.randn(2, frames, d) for d in dims], return_attention=True)
    assert logits.shape == (2, 5)
    assert len(attention) == (1 if strategy in ("single", "concat") else modalities)
    assert all(a.shape == (2, 3, frames) for a in attention)
    assert model.gate_weights().sum().item() == pytest.approx(1.0)


def test_sum_uses_equal_weights_and_concat_one_pool():
    summed = FusionClassifier([3, 4], 2, strategy="sum")
    torch.testing.assert_close(summed.gate_weights(), torch.tensor([0.5, 0.5]))
    concat = FusionClassifier([3, 4], 2, strategy="concat")
    assert len(concat.pools) == 1 and concat.pools[0].key_value.in_features == 7


def test_motion_input_is_blind_to_a_constant_offset():
    torch.manual_seed(4)
    model = FusionClassifier([5], 3, strategy="single", motion=True).eval()
    frames = torch.randn(2, 6, 5)
    torch.testing.assert_close(model([frames]), model([frames + 3.0]))
    still = FusionClassifier([5], 3, strategy="single", motion=False).eval()
    assert not torch.allclose(still([frames]), still([frames + 3.0]))


def test_wrong_width_is_refused():
    model = FusionClassifier([4, 6], 5)
    with pytest.raises(ValueError, match=r"\(B, T, 6\)"):
        model([torch.randn(1, 3, 4), torch.randn(1, 3, 5)])


def test_head_is_linear_gelu_layernorm_dropout_linear():
    head = classification_head(8, 16, 5, 0.2)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "GELU", "LayerNorm", "Dropout", "Linear"]
