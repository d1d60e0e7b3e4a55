"""Nyströmformer: error against exact softmax attention falls with landmarks; padding and odd lengths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from attention_helpers import padding_mask, qkv, saved_tensors_grow_linearly

from seqformer.attention import NystromAttention, NystromformerConfig, build_attention, masked_softmax_attention
from seqformer.attention.nystromformer import iterative_pinv, segment_ids
from seqformer.models import EncoderConfig


def make(heads=2, dim=16, **options) -> NystromAttention:
    return build_attention("nystromformer", {"conv_kernel": 0, **options}, num_heads=heads, head_dim=dim)


def relative_error(out, expected):
    return float((out - expected).norm() / expected.norm())


def test_error_falls_as_landmarks_grow():
    q, k, v = qkv(2, 2, 64, 16)
    exact, _ = masked_softmax_attention(q, k, v)
    errors = [relative_error(make(num_landmarks=m)(q, k, v).out, exact) for m in (2, 8, 16, 32, 64)]
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < 0.05 < errors[0]  # m = L: each token is its own landmark


@pytest.mark.parametrize("landmarks", [24, 32, 64])
def test_sequences_of_at_most_m_tokens_get_exact_softmax_attention(landmarks):
    """n <= m: exact softmax attention at the default 6 pseudo-inverse iterations, to 1e-6, gradients too."""
    q, k, v = qkv(2, 2, 24, 8, grad=True)
    mask = padding_mask([24, 9], 24)
    exact, _ = masked_softmax_attention(q, k, v, mask[:, None, None, :])
    exact = exact.masked_fill(~mask[:, None, :, None], 0.0)
    out = make(dim=8, num_landmarks=landmarks)(q, k, v, key_padding_mask=mask).out
    torch.testing.assert_close(out, exact, atol=1e-6, rtol=0)
    for grad, expected in zip(torch.autograd.grad(out.pow(2).sum(), (q, k, v)),
                              torch.autograd.grad(exact.pow(2).sum(), (q, k, v))):
        torch.testing.assert_close(grad, expected, atol=1e-6, rtol=1e-6)


def test_the_exact_path_is_chosen_per_sequence_not_per_batch():
    """A short sequence batched with a long one is still exact; the long one is its Nyström self alone."""
    module = make(num_landmarks=8, conv_kernel=5)
    with torch.no_grad():
        module.conv_weight.normal_()
    q, k, v = qkv(2, 2, 40, 16, seed=5)
    mask = padding_mask([40, 6], 40)
    out = module(q, k, v, key_padding_mask=mask).out
    long_alone = module(q[:1], k[:1], v[:1]).out
    short_alone = module(q[1:, :, :6], k[1:, :, :6], v[1:, :, :6]).out
    torch.testing.assert_close(out[:1], long_alone, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1:, :, :6], short_alone, atol=1e-6, rtol=0)
    assert (out[1, :, 6:] == 0).all()
    without_skip = make(num_landmarks=8)
    dense, _ = masked_softmax_attention(q[1:, :, :6], k[1:, :, :6], v[1:, :, :6])
    torch.testing.assert_close(without_skip(q, k, v, key_padding_mask=mask).out[1:, :, :6], dense, atol=1e-6, rtol=0)
    nystrom_error = relative_error(without_skip(q[:1], k[:1], v[:1]).out, masked_softmax_attention(q[:1], k[:1], v[:1])[0])
    assert nystrom_error > 1e-3  # 40 tokens, 8 landmarks: the approximation, not the exact path


def test_segments_split_the_real_tokens_of_any_length():
    mask = padding_mask([10, 3, 8], 10)
    ids = segment_ids(mask, 3, 10, 4)
    assert ids.tolist() == [[0, 0, 0, 1, 1, 2, 2, 2, 3, 3],  # 10 tokens, 4 segments of 3, 2, 3, 2
                            [0, 1, 2, 4, 4, 4, 4, 4, 4, 4],  # 3 tokens: their own landmarks, 4 = padding
                            [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]]
    assert segment_ids(None, 1, 6, 3).tolist() == [[0, 0, 1, 1, 2, 2]]


def test_padding_and_lengths_not_divisible_by_the_landmarks():
    """Appending padding never changes real outputs, the convolution skip included."""
    module = make(num_landmarks=5, conv_kernel=5)
    with torch.no_grad():
        module.conv_weight.normal_()
    q, k, v = qkv(2, 2, 31, 16)
    mask = padding_mask([31, 17], 31)
    out = module(q, k, v, key_padding_mask=mask).out
    alone = module(q[1:, :, :17], k[1:, :, :17], v[1:, :, :17]).out
    torch.testing.assert_close(out[1, :, :17], alone[0], atol=1e-5, rtol=0)
    assert (out[1, :, 17:] == 0).all()


def test_convolution_skip_is_a_depthwise_filter_over_tokens():
    module = make(heads=2, dim=3, num_landmarks=4, conv_kernel=3)
    with torch.no_grad():
        module.conv_weight.copy_(torch.tensor([1.0, 2.0, 3.0, -1.0, 0.5, 0.0]).view(2, 1, 3, 1))
    q, k, v = qkv(1, 2, 10, 3)
    without = make(heads=2, dim=3, num_landmarks=4)(q, k, v).out
    skip = module(q, k, v).out - without
    padded = F.pad(v, (0, 0, 1, 1))
    expected = torch.stack([sum(module.conv_weight[h, 0, j, 0] * padded[0, h, j:j + 10] for j in range(3))
                            for h in range(2)])[None]
    torch.testing.assert_close(skip, expected, atol=1e-5, rtol=0)
    assert torch.equal(NystromAttention(NystromformerConfig(), num_heads=2, head_dim=4).conv_weight,
                       torch.zeros(2, 1, 33, 1))  # a new model starts as the pure approximation


def test_iterative_pinv_converges_to_the_inverse():
    a = torch.softmax(torch.randn(3, 6, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3, -1)
    torch.testing.assert_close(iterative_pinv(a, 30), torch.linalg.inv(a), atol=1e-8, rtol=0)


def test_saved_tensors_grow_linearly_in_length_and_no_weights():
    module = make(dim=8, num_landmarks=16, conv_kernel=9)
    assert saved_tensors_grow_linearly(module)
    q, k, v = qkv(1, 2, 16, 8)
    with pytest.raises(ValueError, match="cannot return attention"):
        module(q, k, v, need_weights=True)


@pytest.mark.parametrize("options, message", [
    ({"num_landmarks": 0}, "num_landmarks"), ({"conv_kernel": 4}, "odd"), ({"pinv_iterations": 0}, "pinv"),
])
def test_config_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        NystromformerConfig(**options)


def test_encoder_config_rejects_more_landmarks_than_tokens():
    with pytest.raises(ValueError, match="num_landmarks 128 is larger than max_length 64"):
        EncoderConfig(vocab_size=10, hidden_size=16, num_heads=2, attention="nystromformer",
                      attention_options={"num_landmarks": 128}, max_length=64)


def test_gradients_match_exact_attention_when_every_token_is_a_landmark():
    """float64 (the pseudo-inverse iteration is ill-conditioned in fp32): the reference computes in fp32."""
    q, k, v = qkv(2, 2, 24, 8, dtype=torch.float64, grad=True)
    mask = padding_mask([24, 9], 24)
    exact, _ = masked_softmax_attention(q, k, v, mask[:, None, None, :])
    exact = exact.masked_fill(~mask[:, None, :, None], 0.0)  # padded queries give zeros
    out = make(dim=8, num_landmarks=32, pinv_iterations=20)(q, k, v, key_padding_mask=mask).out
    torch.testing.assert_close(out, exact, atol=1e-5, rtol=0)
    grads = torch.autograd.grad(out.pow(2).sum(), (q, k, v))
    for grad, expected in zip(grads, torch.autograd.grad(exact.pow(2).sum(), (q, k, v))):
        torch.testing.assert_close(grad, expected, atol=2e-5, rtol=0)


def test_appending_padding_never_changes_gradients():
    module = make(num_landmarks=5, conv_kernel=5)
    with torch.no_grad():
        module.conv_weight.normal_()
    q, k, v = qkv(1, 2, 17, 16, grad=True, seed=3)
    alone = module(q, k, v).out
    padded = module(*(torch.cat([x, torch.randn(1, 2, 9, 16)], dim=2) for x in (q, k, v)),
                    key_padding_mask=padding_mask([17], 26)).out
    torch.testing.assert_close(padded[:, :, :17], alone, atol=1e-6, rtol=0)
    wrt = (q, k, v, module.conv_weight)
    for grad, padded_grad in zip(torch.autograd.grad(alone.pow(2).sum(), wrt),
                                 torch.autograd.grad(padded.pow(2).sum(), wrt)):
        torch.testing.assert_close(padded_grad, grad, atol=1e-5, rtol=1e-5)
