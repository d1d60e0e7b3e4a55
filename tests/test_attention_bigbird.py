"""BigBird block-sparse attention: exact against the dense reference under its own block mask."""

from __future__ import annotations


import pytest
import torch

from seqformer.attention import (
    BigBirdAttention,
    BigBirdAttentionConfig,
    DenseAttention,
    bigbird,
    build_attention,
    masked_softmax_attention,
)
from seqformer.attention import flex as flex_backend


def make(heads=2, dim=8, layer_index=0, seed=0, **options) -> BigBirdAttention:
    return build_attention("bigbird", options, num_heads=heads, head_dim=dim, layer_index=layer_index, seed=seed)


def inputs(batch, heads, length, dim, *, dtype=torch.float32, seed=0, grad=False):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, length, dim, generator=gen, dtype=dtype).requires_grad_(grad)
            for _ in range(3)]


def padding_mask(lengths, length):
    return torch.arange(length) < torch.tensor(lengths)[:, None]  # (B, L)


def token_mask(module: BigBirdAttention, lengths, length):
    """The module's block mask of each sequence, expanded to tokens, real queries x real keys."""
    b = module.config.block_size
    allowed = torch.zeros(len(lengths), module.num_heads, length, length, dtype=torch.bool)
    for i, real in enumerate(lengths):
        blocks = module.block_mask(max(1, -(-real // b)))  # (H, n, n)
        tokens = blocks.repeat_interleave(b, 1).repeat_interleave(b, 2)
        allowed[i, :, :real, :real] = tokens[:, :real, :real]
    return allowed


CASES = [  # (options, length, real lengths of the batch)
    ({"block_size": 4}, 37, [37, 20, 5]),
    ({"block_size": 8, "num_random_blocks": 2}, 100, [100, 64, 33]),
    ({"block_size": 4, "num_global_blocks": 1, "window_blocks": 5}, 50, [50, 1, 9]),
    ({"block_size": 3, "num_random_blocks": 4}, 61, [61, 61]),
    ({"block_size": 5, "window_blocks": 1, "num_random_blocks": 0}, 23, [23, 11]),
]


@pytest.mark.parametrize("options, length, lengths", CASES)
def test_matches_dense_reference_under_the_block_mask(options, length, lengths):
    module = make(heads=3, layer_index=1, seed=7, **options)
    q, k, v = inputs(len(lengths), 3, length, 8)
    mask = padding_mask(lengths, length)
    out = module(q, k, v, key_padding_mask=mask).out
    expected, _ = masked_softmax_attention(q, k, v, token_mask(module, lengths, length))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    assert (out.transpose(1, 2)[~mask] == 0).all()  # padded queries give zeros


def test_many_chunks_and_float64(monkeypatch):
    monkeypatch.setattr(bigbird, "CHUNK_ELEMENTS", 50)  # a few query blocks per chunk
    module = make(block_size=4, num_random_blocks=2)
    lengths = [45, 30]
    q, k, v = inputs(2, 2, 45, 8, dtype=torch.float64)
    out = module(q, k, v, key_padding_mask=padding_mask(lengths, 45)).out
    expected, _ = masked_softmax_attention(q, k, v, token_mask(module, lengths, 45))
    torch.testing.assert_close(out, expected.double(), atol=1e-6, rtol=0)


def test_every_block_selected_equals_dense():
    q, k, v = inputs(2, 2, 45, 8)
    mask = padding_mask([45, 26], 45)
    dense = DenseAttention()(q, k, v, key_padding_mask=mask).out
    for options in ({"block_size": 4, "window_blocks": 25}, {"block_size": 4, "num_random_blocks": 12}):
        out = make(**options)(q, k, v, key_padding_mask=mask).out
        torch.testing.assert_close(out.transpose(1, 2)[mask], dense.transpose(1, 2)[mask], atol=1e-5, rtol=0)
        assert module_covers_everything(make(**options), 12)


def module_covers_everything(module, blocks):
    return bool(module.block_mask(blocks).all())


@pytest.mark.parametrize("globals_", [1, 2])
def test_pattern_has_no_duplicates_and_random_avoids_window_and_globals(globals_):
    config = BigBirdAttentionConfig(block_size=2, num_global_blocks=globals_, window_blocks=3, num_random_blocks=3)
    module = BigBirdAttention(config, num_heads=4, head_dim=2, seed=3)
    g, w = globals_, config.window_blocks
    for n in range(1, 30):
        pattern = module.block_pattern(n)  # (H, n, k)
        assert pattern.shape == (4, n, config.slots)
        gl = bigbird.global_blocks(n, globals_)
        for h in range(4):
            for i in range(n):
                row = pattern[h, i]
                if i in gl:
                    assert (row == -1).all()
                    continue
                valid = row[row >= 0].tolist()
                assert len(valid) == len(set(valid))
                fixed = set(gl) | {j for j in range(i - w // 2, i + w // 2 + 1) if 0 <= j < n}
                assert set(row[:g + w][row[:g + w] >= 0].tolist()) == fixed
                random_part = set(row[g + w:][row[g + w:] >= 0].tolist())
                assert not random_part & fixed
                assert len(random_part) == min(3, n - len(fixed))  # all candidates when fewer than r


def test_pattern_reproducible_and_varies_across_layers_and_heads():
    a = make(heads=4, layer_index=2, seed=5, block_size=2).block_pattern(40)
    b = make(heads=4, layer_index=2, seed=5, block_size=2).block_pattern(40)
    assert torch.equal(a, b)
    assert not torch.equal(a, make(heads=4, layer_index=3, seed=5, block_size=2).block_pattern(40))
    assert not torch.equal(a, make(heads=4, layer_index=2, seed=6, block_size=2).block_pattern(40))
    assert not torch.equal(a[0], a[1])
    # head h's pattern does not depend on how many heads there are
    assert torch.equal(make(heads=2, layer_index=2, seed=5, block_size=2).block_pattern(40), a[:2])


@pytest.mark.parametrize("kind_options", [{"block_size": 4}, {"block_size": 4, "num_global_blocks": 1}])
@pytest.mark.parametrize("extra", [1, 4, 12])
def test_appending_padding_never_changes_real_outputs(kind_options, extra):
    module = make(**kind_options)
    lengths = [29, 17, 4]
    q, k, v = inputs(3, 2, 29, 8)
    out = module(q, k, v, key_padding_mask=padding_mask(lengths, 29)).out
    noise = inputs(3, 2, extra, 8, seed=1)
    padded = [torch.cat([x, 100 * n], dim=2) for x, n in zip((q, k, v), noise)]
    out_padded = module(*padded, key_padding_mask=padding_mask(lengths, 29 + extra)).out
    real = padding_mask(lengths, 29)
    torch.testing.assert_close(out_padded[:, :, :29][real[:, None].expand(-1, 2, -1)],
                               out[real[:, None].expand(-1, 2, -1)], atol=1e-6, rtol=0)


def test_gradients_match_dense_reference():
    module = make(block_size=4, num_random_blocks=2)
    lengths = [37, 18]
    q, k, v = inputs(2, 2, 37, 8, grad=True)
    mask = padding_mask(lengths, 37)
    weights = torch.randn(2, 2, 37, 8)
    out = module(q, k, v, key_padding_mask=mask).out
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
    expected, _ = masked_softmax_attention(q, k, v, token_mask(module, lengths, 37))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (q, k, v))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_whole_blocks_skip_the_bias_and_still_match_dense(monkeypatch):
    # lengths that fill whole blocks: interior query blocks have no -inf in their bias, so their
    # chunks skip adding it; edge blocks (clipped windows) still add it. Both against dense, with grads.
    monkeypatch.setattr(bigbird, "CHUNK_ELEMENTS", 4 * 7 * 4)  # one query block per chunk
    module = make(block_size=4, num_random_blocks=2)
    q, k, v = inputs(2, 2, 48, 8, grad=True)
    layout = module._layout((48, 48), 48, q.device)
    masked = layout.sparse_bias.ne(0).any(-1).view(-1)
    assert masked.any() and not masked.all()  # both paths run
    weights = torch.randn(2, 2, 48, 8)
    out = module(q, k, v).out
    expected, _ = masked_softmax_attention(q, k, v, token_mask(module, [48, 48], 48))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    grads = torch.autograd.grad((out * weights).sum(), (q, k, v))
    expected_grads = torch.autograd.grad((expected * weights).sum(), (q, k, v))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_gradcheck_float64(monkeypatch):
    monkeypatch.setattr(bigbird, "CHUNK_ELEMENTS", 40)
    module = make(heads=1, dim=3, block_size=2, num_random_blocks=1)
    mask = padding_mask([11, 6], 11)
    q, k, v = inputs(2, 1, 11, 3, dtype=torch.float64, grad=True)
    assert torch.autograd.gradcheck(lambda q, k, v: module(q, k, v, key_padding_mask=mask).out, (q, k, v))


def test_need_weights_returns_the_sparse_probabilities():
    module = make(block_size=4)
    lengths = [30, 13]
    q, k, v = inputs(2, 2, 30, 8)
    mask = padding_mask(lengths, 30)
    result = module(q, k, v, key_padding_mask=mask, need_weights=True)
    expected_out, expected_probs = masked_softmax_attention(q, k, v, token_mask(module, lengths, 30))
    torch.testing.assert_close(result.probs, expected_probs, atol=1e-6, rtol=0)
    torch.testing.assert_close(result.out, expected_out, atol=1e-5, rtol=0)
    sums = result.probs.sum(-1)
    torch.testing.assert_close(sums, mask[:, None].expand_as(sums).float())
    with pytest.raises(ValueError, match="max_weights_length"):
        make(block_size=4, max_weights_length=16)(q, k, v, need_weights=True)


def test_short_input_does_not_switch_mode():
    module = make(block_size=4)
    for length in (3, 57, 2, 41):  # one block, many blocks, and back
        q, k, v = inputs(1, 2, length, 8, seed=length)
        expected, _ = masked_softmax_attention(q, k, v, token_mask(module, [length], length))
        torch.testing.assert_close(module(q, k, v).out, expected, atol=1e-5, rtol=0)
    assert not module.block_mask(14).all()


def test_layout_cached_under_inference_mode_still_trains():
    module = make(block_size=4)
    q, k, v = inputs(2, 2, 21, 8, grad=True)
    mask = padding_mask([21, 9], 21)
    with torch.inference_mode():
        module(q.detach(), k.detach(), v.detach(), key_padding_mask=mask)
    module(q, k, v, key_padding_mask=mask).out.sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad).all()


def test_empty_sequence_gives_zeros():
    q, k, v = inputs(2, 2, 9, 8)
    out = make(block_size=4)(q, k, v, key_padding_mask=padding_mask([9, 0], 9)).out
    assert torch.isfinite(out).all() and (out[1] == 0).all()


@pytest.mark.parametrize("options", [
    {"window_blocks": 2}, {"window_blocks": 0}, {"block_size": 0}, {"num_global_blocks": 0},
    {"num_global_blocks": 3}, {"num_random_blocks": -1}, {"backend": "triton"}, {"block_size": True},
    {"max_weights_length": 0},
])
def test_bad_config_raises_at_construction(options):
    with pytest.raises(ValueError, match="bigbird"):
        make(**options)


def test_bad_inputs_raise():
    module = make(block_size=4)
    q, k, v = inputs(2, 2, 10, 8)
    with pytest.raises(ValueError, match="right padding"):
        module(q, k, v, key_padding_mask=torch.arange(10).flip(0)[None].expand(2, -1) < 6)
    with pytest.raises(ValueError, match="expects"):
        make(heads=3, block_size=4)(q, k, v)


@pytest.mark.skipif(not flex_backend.available(), reason="torch has no flex_attention")
def test_flex_block_mask_and_eager_flex_match_gather():
    options = {"block_size": 4, "num_random_blocks": 2}
    gather, flex = make(backend="gather", **options), make(backend="flex", **options)
    lengths = [37, 21, 6]
    q, k, v = inputs(3, 2, 37, 8)  # no backward: FlexAttention has none on the CPU
    mask = padding_mask(lengths, 37)
    out = gather(q, k, v, key_padding_mask=mask).out
    out_flex = flex(q, k, v, key_padding_mask=mask).out  # eager on the CPU: mask_mod checks the table
    torch.testing.assert_close(out_flex, out, atol=1e-5, rtol=0)
    # The block lists themselves (all a compiled kernel reads) equal the module's block masks.
    layout = flex._layout(tuple(lengths), 37, q.device)
    table = flex._flex_block_table(layout)
    block_mask = flex_backend.block_mask_from_table(table, layout.key_lengths, 4)
    listed = block_mask.to_dense().bool()  # (B, H, nb, nb), full and partial blocks
    for i, real in enumerate(lengths):
        n = -(-real // 4)
        assert torch.equal(listed[i, :, :n, :n], flex.block_mask(n))
        assert not listed[i, :, n:].any() and not listed[i, :, :, n:].any()


@pytest.mark.slow  # compiles FlexAttention for the CPU (about 30 s)
def test_compiled_flex_on_cpu_reads_only_the_block_lists():
    """Compiled, mask_mod only hides padding: the result is right only if the block lists are."""
    module = make(block_size=16, num_random_blocks=2, dim=16)
    lengths = [300, 170]
    q, k, v = inputs(2, 2, 300, 16)
    expected = module(q, k, v, key_padding_mask=padding_mask(lengths, 300)).out
    layout = module._layout(tuple(lengths), 300, q.device)
    padded = [torch.nn.functional.pad(x, (0, 0, 0, layout.num_blocks * 16 - 300)) for x in (q, k, v)]
    out = flex_backend.block_sparse_flex_attention(*padded, module._flex_block_table(layout),
                                                   layout.key_lengths, 16, compiled=True)
    out = (out * layout.query_real[:, None, :, None])[:, :, :300]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


@pytest.mark.gpu
def test_flex_matches_gather_on_cuda():
    options = {"block_size": 64, "num_random_blocks": 3}
    gather = make(heads=4, dim=64, backend="gather", **options).cuda()
    flex = make(heads=4, dim=64, backend="auto", **options).cuda()
    lengths = [1000, 700]
    q, k, v = (x.cuda().requires_grad_() for x in inputs(2, 4, 1000, 64))
    mask = padding_mask(lengths, 1000).cuda()
    out = gather(q, k, v, key_padding_mask=mask).out
    out_flex = flex(q, k, v, key_padding_mask=mask).out
    torch.testing.assert_close(out_flex, out, atol=2e-3, rtol=0)  # TF32 / kernel rounding on GPU
    grads = torch.autograd.grad(out.sum(), (q, k, v))
    grads_flex = torch.autograd.grad(out_flex.sum(), (q, k, v))
    for got, want in zip(grads_flex, grads):
        torch.testing.assert_close(got, want, atol=5e-3, rtol=0)
