"""Attention.attention_rows: blocks of query rows, concatenated, equal each kind's need_weights=True matrix."""

from __future__ import annotations

import pytest
import torch
from attention_helpers import padding_mask, qkv

from seqformer.attention import build_attention
from seqformer.attention.longformer import longformer_mask, longformer_mask_rows

KINDS = [  # (kind, options): every kind with an attention matrix, and the options that change its rows
    ("dense", {}),
    ("bigbird", {"block_size": 8, "num_random_blocks": 2}),
    ("bigbird", {"block_size": 5, "num_global_blocks": 1, "window_blocks": 5, "num_random_blocks": 1}),
    ("longformer", {"window": 5, "dilation": [1, 2, 3], "global_tokens": [0, 7]}),
    ("performer-softmax", {"num_features": 32}),
    ("performer-relu", {"num_features": 32}),
    ("performer-relu", {"num_features": 16, "causal": True}),
    ("reformer-lsh", {"n_buckets": 4, "chunk_size": 8, "n_hashes": 3}),
]
CHUNKS = (13, 40, 1000)  # neither 13 nor 40 divides L = 97; 1000 is one chunk of all L rows


def rows_in_chunks(module, q, k, mask, chunk):
    length = q.shape[2]
    return torch.cat([module.attention_rows(q, k, mask, start=start, stop=min(start + chunk, length))
                      for start in range(0, length, chunk)], dim=2)


@pytest.mark.parametrize(("kind", "options"), KINDS, ids=[f"{kind}-{i}" for i, (kind, _) in enumerate(KINDS)])
@pytest.mark.parametrize("padded", [False, True])
def test_chunks_of_rows_equal_the_need_weights_matrix(kind, options, padded):
    length = 97
    module = build_attention(kind, options, num_heads=3, head_dim=8, layer_index=1, seed=3).eval()
    q, k, v = qkv(3, 3, length, 8, seed=1)
    k = q if module.shared_qk else k
    mask = padding_mask([97, 60, 9], length) if padded else None
    with torch.no_grad():
        full = module(q, k, v, key_padding_mask=mask, need_weights=True).probs  # (B, H, L, L)
        for chunk in CHUNKS:
            rows = rows_in_chunks(module, q, k, mask, chunk)
            assert rows.shape == full.shape and rows.dtype == full.dtype
            torch.testing.assert_close(rows, full, atol=1e-5, rtol=0)
        for row in (0, 8, 96):  # single rows: the first (global), the 9-token sequence's last real one, the last
            torch.testing.assert_close(module.attention_rows(q, k, mask, start=row, stop=row + 1),
                                       full[:, :, row:row + 1], atol=1e-5, rtol=0)


@pytest.mark.parametrize(("kind", "options"), [KINDS[1], KINDS[3], KINDS[7]], ids=["bigbird", "longformer", "lsh"])
def test_rows_at_300_tokens_keep_the_masks_zeros(kind, options):
    """A longer input: zero outside the kind's mask exactly, as in the full matrix."""
    module = build_attention(kind, options, num_heads=3, head_dim=8, seed=5).eval()
    q, k, v = qkv(1, 3, 300, 8, seed=2)
    k = q if module.shared_qk else k
    with torch.no_grad():
        full = module(q, k, v, need_weights=True).probs
        rows = rows_in_chunks(module, q, k, None, 128)
    torch.testing.assert_close(rows, full, atol=1e-5, rtol=0)
    assert torch.equal(rows == 0, full == 0) and (full == 0).float().mean() > 0.5


def test_longformer_row_mask_is_the_full_mask_sliced():
    module = build_attention("longformer", {"window": 3, "dilation": [1, 2], "global_tokens": [0, 5]},
                             num_heads=2, head_dim=4)
    mask = padding_mask([40, 22], 40)
    full = longformer_mask(module.config, 2, 40, mask)
    assert torch.equal(longformer_mask_rows(module.config, 2, 40, 11, 30, mask), full[:, :, 11:30])


def test_half_precision_rows_are_computed_in_fp32():
    module = build_attention("bigbird", {"block_size": 4}, num_heads=2, head_dim=8).eval()
    q, k, _ = qkv(1, 2, 33, 8, seed=4)
    rows = module.attention_rows(q.bfloat16(), k.bfloat16(), start=0, stop=33)
    assert rows.dtype == torch.bfloat16
    torch.testing.assert_close(rows.float(), module.attention_rows(q.bfloat16().float(), k.bfloat16().float(),
                                                                   start=0, stop=33), atol=1e-2, rtol=0)


def test_bad_row_blocks_and_kinds_without_a_matrix():
    module = build_attention("dense", {}, num_heads=1, head_dim=4)
    q, k, _ = qkv(1, 1, 10, 4)
    for start, stop in ((0, 0), (5, 11), (-1, 3)):
        with pytest.raises(ValueError, match="not a non-empty block of the 10 rows"):
            module.attention_rows(q, k, start=start, stop=stop)
    nystrom = build_attention("nystromformer", {"num_landmarks": 2}, num_heads=1, head_dim=4)
    with pytest.raises(NotImplementedError, match="no attention matrix"):
        nystrom.attention_rows(q, k, start=0, stop=4)
