"""The attention registry: every kind builds from a dict, keeps the interface, rejects bad options."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from seqformer.attention import ATTENTION_KINDS, AttentionOutput, build_attention

OPTIONS = {"dense": {}, "bigbird": {"block_size": 4}, "performer-softmax": {"num_features": 8},
           "performer-relu": {"num_features": 8}, "longformer": {"window": 2, "dilation": [1, 2]},
           "nystromformer": {"num_landmarks": 4, "conv_kernel": 3},
           "reformer-lsh": {"n_buckets": 4, "chunk_size": 4}}


@pytest.mark.parametrize("kind", sorted(ATTENTION_KINDS))
def test_every_kind_builds_and_keeps_the_interface(kind):
    module = build_attention(kind, OPTIONS[kind], num_heads=2, head_dim=4, layer_index=1, seed=3)
    q, k, v = (torch.randn(2, 2, 11, 4) for _ in range(3))
    mask = torch.arange(11) < torch.tensor([11, 6])[:, None]
    result = module(q, k, v, key_padding_mask=mask, need_weights=module.returns_attention)
    assert isinstance(result, AttentionOutput) and result.out.shape == (2, 2, 11, 4)
    assert result.probs is None or result.probs.shape == (2, 2, 11, 11)
    config_cls, _ = ATTENTION_KINDS[kind]
    config = config_cls(**OPTIONS[kind])
    assert config_cls(**json.loads(json.dumps(dataclasses.asdict(config)))) == config  # JSON round trip
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.x = 1


@pytest.mark.parametrize(("kind", "options"), [
    ("bigbird", {"block_size": 8}), ("performer-softmax", {"num_features": 64}),
    ("performer-relu", {"num_features": 64}),
    ("performer-softmax", {"num_features": 64, "causal": True, "chunk_size": 8}),
    ("longformer", {"window": 5, "global_tokens": [0, 9]}), ("nystromformer", {"num_landmarks": 8}),
    ("reformer-lsh", {"n_buckets": 1, "chunk_size": 8}),  # one bucket: bf16 rounding would move hashes
])
def test_bfloat16_autocast_stays_close_to_float32(kind, options):
    """Scores, sums and normalisers are computed in fp32 under bf16 autocast."""
    module = build_attention(kind, options, num_heads=2, head_dim=8)
    q, k, v = (torch.randn(1, 2, 70, 8) for _ in range(3))
    expected = module(q, k, v).out
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(q.bfloat16(), k.bfloat16(), v.bfloat16()).out
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, atol=3e-2, rtol=0)


def test_new_kinds_are_registered_and_return_attention():
    for kind in ("bigbird", "performer-softmax", "performer-relu", "longformer", "reformer-lsh"):
        assert ATTENTION_KINDS[kind][1].returns_attention
    assert not ATTENTION_KINDS["nystromformer"][1].returns_attention  # its implicit matrix is not a distribution
    assert [kind for kind, (_, cls) in ATTENTION_KINDS.items() if cls.shared_qk] == ["reformer-lsh"]


def test_unknown_kind_and_option_raise():
    with pytest.raises(ValueError, match="unknown attention kind"):
        build_attention("linformer", num_heads=1, head_dim=4)
    with pytest.raises(ValueError, match="blocksize"):
        build_attention("bigbird", {"blocksize": 4}, num_heads=1, head_dim=4)
