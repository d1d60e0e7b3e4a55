"""Longformer attention: exact against the dense reference under a brute-force window + global mask."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from attention_helpers import padding_mask, qkv, saved_tensors_grow_linearly

from seqformer.attention import (DenseAttention, LongformerAttention, LongformerAttentionConfig, build_attention,
                                 longformer, masked_softmax_attention)
from seqformer.models import EncoderConfig


def brute_force_mask(window, dilations, global_tokens, lengths, length):
    """(B, H, L, L) from the definition, one entry at a time."""
    allowed = torch.zeros(len(lengths), len(dilations), length, length, dtype=torch.bool)
    for b, real in enumerate(lengths):
        for h, d in enumerate(dilations):
            for i in range(real):
                for j in range(real):
                    in_window = abs(i - j) <= window * d and (i - j) % d == 0
                    allowed[b, h, i, j] = in_window or i in global_tokens or j in global_tokens
    return allowed


CASES = [  # (options, heads, length, real lengths, queries per chunk)
    ({"window": 3, "global_tokens": [0]}, 2, 37, [37, 20, 5], 4),
    ({"window": 2, "dilation": [1, 2, 3], "global_tokens": [0, 5]}, 3, 41, [41, 30], 3),
    ({"window": 4, "dilation": [2], "global_tokens": []}, 2, 50, [50, 13], 64),
    ({"window": 0, "global_tokens": [0, 39]}, 2, 40, [40, 12], 2),  # a global past one row's end
    ({"window": 5, "dilation": [3, 1]}, 2, 23, [23, 23], 5),
]


@pytest.mark.parametrize("options, heads, length, lengths, chunk", CASES)
def test_matches_dense_reference_under_the_window_mask(monkeypatch, options, heads, length, lengths, chunk):
    monkeypatch.setattr(longformer, "MIN_CHUNK", chunk)  # several chunks per subsequence
    module = build_attention("longformer", options, num_heads=heads, head_dim=8)
    config = module.config
    expected_mask = brute_force_mask(config.window, config.head_dilations(heads), config.global_tokens,
                                     lengths, length)
    mask = padding_mask(lengths, length)
    assert torch.equal(longformer.longformer_mask(config, heads, length, mask).expand_as(expected_mask),
                       expected_mask)
    q, k, v = qkv(len(lengths), heads, length, 8, grad=True)
    out = module(q, k, v, key_padding_mask=mask).out
    expected, _ = masked_softmax_attention(q, k, v, expected_mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert (out.transpose(1, 2)[~mask] == 0).all()  # padded queries give zeros
    grads = torch.autograd.grad(out.pow(2).sum(), (q, k, v))
    expected_grads = torch.autograd.grad(expected.pow(2).sum(), (q, k, v))
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=0)


def test_float64_and_probabilities_sum_to_one_over_real_keys():
    module = build_attention("longformer", {"window": 2, "dilation": [1, 2], "global_tokens": [0, 3]},
                             num_heads=2, head_dim=4)
    q, k, v = qkv(2, 2, 19, 4, dtype=torch.float64)
    mask = padding_mask([19, 11], 19)
    fast = module(q, k, v, key_padding_mask=mask).out
    result = module(q, k, v, key_padding_mask=mask, need_weights=True)
    torch.testing.assert_close(fast, result.out, atol=1e-6, rtol=0)  # the reference computes in fp32
    sums = result.probs.sum(-1)  # (B, H, L)
    torch.testing.assert_close(sums.transpose(1, 2)[mask], torch.ones(19 + 11, 2, dtype=torch.float64))
    assert (sums.transpose(1, 2)[~mask] == 0).all() and (result.probs[1, :, :, 11:] == 0).all()


def test_a_window_over_everything_is_dense_attention():
    q, k, v = qkv(2, 2, 30, 8)
    mask = padding_mask([30, 17], 30)
    out = build_attention("longformer", {"window": 29, "global_tokens": []}, num_heads=2, head_dim=8)(
        q, k, v, key_padding_mask=mask).out
    dense = DenseAttention()(q, k, v, key_padding_mask=mask).out
    torch.testing.assert_close(out.transpose(1, 2)[mask], dense.transpose(1, 2)[mask], atol=1e-5, rtol=0)


def test_saved_tensors_grow_linearly_in_length():
    module = build_attention("longformer", {"window": 16, "dilation": [1, 4]}, num_heads=2, head_dim=8)
    assert saved_tensors_grow_linearly(module)


def test_config_round_trip_and_bad_settings():
    config = LongformerAttentionConfig(window=4, dilation=[1, 2], global_tokens=[0])
    assert config.dilation == (1, 2) and config.global_tokens == (0,)  # JSON lists become tuples
    assert LongformerAttentionConfig(**json.loads(json.dumps(dataclasses.asdict(config)))) == config
    for options, message in [({"window": -1}, "window"), ({"dilation": []}, "at least one"),
                             ({"dilation": [0]}, "dilation"), ({"global_tokens": [0, 0]}, "repeated"),
                             ({"global_tokens": 0}, "list")]:
        with pytest.raises(ValueError, match=message):
            LongformerAttentionConfig(**options)
    with pytest.raises(ValueError, match="one per head"):
        LongformerAttention(LongformerAttentionConfig(dilation=(1, 2, 3)), num_heads=2, head_dim=4)


@pytest.mark.parametrize("options, message", [
    ({"window": 64}, "not shorter than max_length 64"),
    ({"window": 16, "dilation": [1, 4]}, "16 x dilation 4 = 64"),
    ({"window": 4, "dilation": [1, 2, 3]}, "one per head"),
    ({"window": 4, "global_tokens": [0, 64]}, r"global_tokens \[64\]"),
])
def test_encoder_config_rejects_settings_that_cannot_work(options, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(vocab_size=10, hidden_size=16, num_heads=2, attention="longformer",
                      attention_options=options, max_length=64)


def test_appending_padding_never_changes_real_outputs_or_gradients():
    """Per-head dilation, a global position inside the real tokens and one that only padding reaches."""
    module = build_attention("longformer", {"window": 2, "dilation": [1, 3], "global_tokens": [0, 4, 20]},
                             num_heads=2, head_dim=8)
    q, k, v = qkv(1, 2, 17, 8, grad=True, seed=3)
    alone = module(q, k, v).out  # global 20 lies past these 17 tokens: ignored
    pad = [torch.cat([x, torch.randn(1, 2, 9, 8)], dim=2) for x in (q, k, v)]  # position 20 is padding
    padded = module(*pad, key_padding_mask=padding_mask([17], 26)).out
    torch.testing.assert_close(padded[:, :, :17], alone, atol=1e-6, rtol=0)
    assert (padded[:, :, 17:] == 0).all()
    grads = torch.autograd.grad(alone.pow(2).sum(), (q, k, v))
    padded_grads = torch.autograd.grad(padded.pow(2).sum(), (q, k, v))
    for grad, padded_grad in zip(grads, padded_grads):
        torch.testing.assert_close(padded_grad, grad, atol=1e-5, rtol=0)
