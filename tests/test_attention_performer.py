"""Performer (FAVOR+): fast paths equal their naive formulas; padding excluded exactly."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqformer.attention import (
    PerformerReluAttention,
    PerformerSoftmaxAttention,
    build_attention,
    masked_softmax_attention,
    performer,
)

KINDS = ["performer-softmax", "performer-relu"]


def make(kind="performer-softmax", heads=2, dim=8, layer_index=0, seed=0, **options):
    return build_attention(kind, options, num_heads=heads, head_dim=dim, layer_index=layer_index, seed=seed)


def inputs(batch, heads, length, dim, *, dtype=torch.float32, seed=0, grad=False, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return [(scale * torch.randn(batch, heads, length, dim, generator=gen, dtype=dtype)).requires_grad_(grad)
            for _ in range(3)]


def padding_mask(lengths, length):
    return torch.arange(length) < torch.tensor(lengths)[:, None]  # (B, L)


def naive(module, q, k, v, mask=None):
    """φ(Q)φ(K)ᵀ (lower triangle if causal) normalised over real keys, times V; O(L²)."""
    real = None if mask is None else mask[:, None, :, None]
    weight = module.scaled_projection(q.dtype)
    eps = module.config.kernel_eps
    phi_q = performer.feature_map(q, weight, module.kernel, eps)
    phi_k = performer.feature_map(k, weight, module.kernel, eps, real, is_query=False)
    scores = phi_q @ phi_k.transpose(-1, -2)  # (B, H, L, L)
    if module.config.causal:
        scores = scores.tril()
    out = (scores / scores.sum(-1, keepdim=True)) @ v
    return out if real is None else out.masked_fill(~real, 0.0)


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(performer, "CHUNK_ELEMENTS", 2 * 2 * 32 * 3)  # 3 tokens per chunk: many chunks


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("lengths", [None, [29, 17]])
def test_bidirectional_equals_naive_formula(kind, lengths, small_chunks):
    module = make(kind, num_features=32)
    q, k, v = inputs(2, 2, 29, 8, grad=True)
    mask = None if lengths is None else padding_mask(lengths, 29)
    out = module(q, k, v, key_padding_mask=mask).out
    expected = naive(module, q, k, v, mask)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    weights = torch.randn_like(out)
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (q, k, v))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("chunk_size, length", [(4, 29), (8, 32), (64, 29), (1, 7)])
def test_causal_equals_naive_formula(kind, chunk_size, length):
    module = make(kind, num_features=32, causal=True, chunk_size=chunk_size)
    q, k, v = inputs(2, 2, length, 8)
    mask = padding_mask([length, length - 5], length)
    torch.testing.assert_close(module(q, k, v, key_padding_mask=mask).out, naive(module, q, k, v, mask),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_float64(kind, causal, monkeypatch):
    monkeypatch.setattr(performer, "CHUNK_ELEMENTS", 2 * 6 * 2)  # 2 tokens per chunk
    module = make(kind, heads=1, dim=3, num_features=6, causal=causal, chunk_size=3)
    mask = padding_mask([7, 4], 7)
    q, k, v = inputs(2, 1, 7, 3, dtype=torch.float64, grad=True)
    assert torch.autograd.gradcheck(lambda q, k, v: module(q, k, v, key_padding_mask=mask).out, (q, k, v))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("extra", [1, 8, 24])
def test_appending_padding_never_changes_real_outputs(kind, causal, extra, small_chunks):
    module = make(kind, num_features=32, causal=causal, chunk_size=4)
    lengths = [21, 13]
    q, k, v = inputs(2, 2, 21, 8)
    out = module(q, k, v, key_padding_mask=padding_mask(lengths, 21)).out
    noise = inputs(2, 2, extra, 8, seed=1, scale=30.0)  # large padding vectors would move the key max
    padded = [torch.cat([x, n], dim=2) for x, n in zip((q, k, v), noise)]
    out_padded = module(*padded, key_padding_mask=padding_mask(lengths, 21 + extra)).out
    real = padding_mask(lengths, 21)[:, None].expand(-1, 2, -1)
    torch.testing.assert_close(out_padded[:, :, :21][real], out[real], atol=1e-6, rtol=0)
    assert (out_padded.transpose(1, 2)[~padding_mask(lengths, 21 + extra)] == 0).all()


def test_error_falls_with_more_features_and_orthogonal_beats_iid():
    """Against exact softmax attention; inputs of a fixed norm so that softmax is not degenerate."""
    gen = torch.Generator().manual_seed(0)
    data = []
    for _ in range(8):
        q, k, v = (torch.randn(2, 2, 48, 16, generator=gen) for _ in range(3))
        q, k = (2.0 * x / x.norm(dim=-1, keepdim=True) for x in (q, k))
        data.append((q, k, v, masked_softmax_attention(q, k, v)[0]))
    errors = {}
    for orthogonal in (True, False):
        for m in (16, 64, 256, 1024):
            total = 0.0
            for seed, (q, k, v, exact) in enumerate(data):
                module = make(dim=16, seed=seed, num_features=m, orthogonal=orthogonal)
                total += ((module(q, k, v).out - exact).norm() / exact.norm()).item()
            errors[orthogonal, m] = total / len(data)
    for orthogonal in (True, False):
        series = [errors[orthogonal, m] for m in (16, 64, 256, 1024)]
        assert all(a > b for a, b in itertools.pairwise(series)), series
    assert sum(errors[True, m] for m in (16, 64, 256, 1024)) < sum(errors[False, m] for m in (16, 64, 256, 1024))
    assert errors[True, 1024] < 0.1, errors


def test_orthogonal_projection_rows_are_unbiased_and_orthogonal():
    rows = torch.stack([performer.draw_projection(8, 8, orthogonal=True, generator=performer._generator("t", i))
                        for i in range(600)])  # (600, M, D)
    directions = rows / rows.norm(dim=-1, keepdim=True)
    assert directions.mean(0).abs().max() < 0.12  # raw LAPACK Q would give about -0.29 on the diagonal
    gram = rows[0] @ rows[0].T
    torch.testing.assert_close(gram, torch.diag(gram.diagonal()), atol=1e-10, rtol=0)
    assert performer.draw_projection(20, 8, orthogonal=True, generator=performer._generator(1)).shape == (20, 8)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("causal", [False, True])
def test_need_weights_is_the_implicit_attention(kind, causal):
    module = make(kind, num_features=16, causal=causal, chunk_size=4)
    q, k, v = inputs(2, 2, 19, 8)
    mask = padding_mask([19, 11], 19)
    result = module(q, k, v, key_padding_mask=mask, need_weights=True)
    torch.testing.assert_close(result.probs @ v, result.out, atol=1e-5, rtol=0)
    sums = result.probs.sum(-1)
    torch.testing.assert_close(sums, mask[:, None].expand_as(sums).float())
    assert (result.probs[..., 11:][1] == 0).all()
    if causal:
        assert (result.probs.triu(1) == 0).all()
    with pytest.raises(ValueError, match="max_weights_length"):
        make(kind, max_weights_length=8)(q, k, v, need_weights=True)


def test_projection_is_a_seeded_buffer():
    module = make(num_features=16, layer_index=3, seed=4)
    assert "projection" in module.state_dict() and module.projection.shape == (16, 8)
    assert torch.equal(module.projection, make(num_features=16, layer_index=3, seed=4).projection)
    assert not torch.equal(module.projection, make(num_features=16, layer_index=2, seed=4).projection)
    fresh = make(num_features=16)
    fresh.load_state_dict(module.state_dict())
    assert torch.equal(fresh.projection, module.projection)
    assert isinstance(make("performer-relu"), PerformerReluAttention)
    assert isinstance(make("performer-softmax"), PerformerSoftmaxAttention)


def test_redraw_only_in_training_every_interval():
    module = make(num_features=16, redraw_interval=2)
    q, k, v = inputs(1, 2, 9, 8, grad=True)
    first = module.projection.clone()
    module.eval()
    for _ in range(5):
        module(q, k, v)
    assert torch.equal(module.projection, first)
    module.train()
    out_a = module(q, k, v).out  # pass 1
    module(q, k, v)  # pass 2
    assert torch.equal(module.projection, first)
    out_b = module(q, k, v).out  # pass 3: redrawn first
    second = module.projection.clone()
    assert not torch.equal(second, first)
    (out_a.sum() + out_b.sum()).backward()  # the graph of the earlier pass survives the redraw
    module(q, k, v)  # pass 4
    assert torch.equal(module.projection, second)
    again = make(num_features=16, redraw_interval=2).train()
    for _ in range(3):
        again(q, k, v)
    assert torch.equal(again.projection, second)  # the redraws are reproducible too


def test_empty_sequence_gives_zeros():
    q, k, v = inputs(2, 2, 9, 8)
    for kind in KINDS:
        out = make(kind)(q, k, v, key_padding_mask=padding_mask([9, 0], 9)).out
        assert torch.isfinite(out).all() and (out[1] == 0).all()


@pytest.mark.parametrize("options", [
    {"num_features": 0}, {"chunk_size": 0}, {"redraw_interval": 0}, {"kernel_eps": -1.0},
    {"kernel_eps": float("inf")}, {"orthogonal": "yes"}, {"causal": 1}, {"max_weights_length": 0},
    {"num_features": 2.5},
])
def test_bad_config_raises_at_construction(options):
    for kind in KINDS:
        with pytest.raises(ValueError, match="performer"):
            make(kind, **options)


def test_bad_inputs_raise():
    q, k, v = inputs(2, 2, 10, 8)
    with pytest.raises(ValueError, match="expects"):
        make(heads=3)(q, k, v)
    with pytest.raises(ValueError, match="key_padding_mask"):
        make()(q, k, v, key_padding_mask=torch.ones(2, 9, dtype=torch.bool))


def test_redraw_counter_is_saved_so_a_resumed_module_redraws_on_time():
    """The training-pass counter travels in the state dict: a reloaded module redraws on schedule."""
    from seqformer.attention.performer import PerformerConfig, PerformerSoftmaxAttention

    config = PerformerConfig(num_features=8, redraw_interval=3)
    q = torch.randn(1, 2, 5, 4)
    first = PerformerSoftmaxAttention(config, num_heads=2, head_dim=4).train()
    for _ in range(4):
        first(q, q, q)
    second = PerformerSoftmaxAttention(config, num_heads=2, head_dim=4).train()
    second.load_state_dict(first.state_dict())
    assert int(second.training_calls) == 4
    for module in (first, second):
        for _ in range(3):
            module(q, q, q)
    assert torch.equal(first.projection, second.projection)
    assert int(first.training_calls) == int(second.training_calls) == 7
