"""Reformer LSH attention: exact softmax over its multi-round bucket sets; one bucket = full shared-QK."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from attention_helpers import padding_mask, qkv, saved_tensors_grow_linearly

from seqformer.attention import ReformerLSHConfig, build_attention, masked_softmax_attention
from seqformer.models import EncoderConfig, SeqEncoder


def make(heads=2, dim=8, seed=1, **options):
    return build_attention("reformer-lsh", options, num_heads=heads, head_dim=dim, seed=seed)


def brute_force_mask(buckets, chunk, lengths):
    """(B, H, L, L) from the definition: per round, sort real positions by (bucket, position), cut into
    chunks; i sees j if same bucket and j's chunk is i's or the one before; union over rounds; self
    only when nothing else."""
    batch, heads, rounds, length = buckets.shape
    allowed = torch.zeros(batch, heads, length, length, dtype=torch.bool)
    for b, n in enumerate(lengths):
        for h in range(heads):
            for r in range(rounds):
                order = sorted(range(n), key=lambda p: (int(buckets[b, h, r, p]), p))
                chunk_of = {p: slot // chunk for slot, p in enumerate(order)}
                for i in range(n):
                    for j in range(n):
                        same = buckets[b, h, r, i] == buckets[b, h, r, j]
                        allowed[b, h, i, j] |= bool(same) and chunk_of[i] - chunk_of[j] in (0, 1)
            for i in range(n):
                others = [j for j in range(n) if j != i and allowed[b, h, i, j]]
                allowed[b, h, i, i] = not others
    return allowed


CASES = [  # (options, length, real lengths)
    ({"n_hashes": 3, "n_buckets": 4, "chunk_size": 4}, 29, [29, 17, 1]),
    ({"n_hashes": 2, "n_buckets": 8, "chunk_size": 3}, 40, [40, 33]),
    ({"n_hashes": 4, "n_buckets": 2, "chunk_size": 5}, 23, [23, 23]),
    ({"n_hashes": 1, "n_buckets": 6, "chunk_size": 7}, 30, [30, 8]),
]


@pytest.mark.parametrize("options, length, lengths", CASES)
def test_matches_dense_reference_on_the_union_of_rounds(options, length, lengths):
    module = make(**options)
    q, _, v = qkv(len(lengths), 2, length, 8, grad=True)
    mask = padding_mask(lengths, length)
    result = module(q, q, v, key_padding_mask=mask, need_weights=True)
    keys = F.normalize(q, dim=-1)
    allowed = brute_force_mask(module.buckets(keys.detach()), options["chunk_size"], lengths)
    expected, expected_probs = masked_softmax_attention(q, keys, v, allowed)
    torch.testing.assert_close(result.out, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(result.probs, expected_probs, atol=1e-6, rtol=0)
    out = module(q, q, v, key_padding_mask=mask).out
    assert (out.transpose(1, 2)[~mask] == 0).all()
    grads = torch.autograd.grad(out.pow(2).sum(), (q, v))
    for grad, expected_grad in zip(grads, torch.autograd.grad(expected.pow(2).sum(), (q, v))):
        torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=0)


def test_one_bucket_and_one_chunk_recover_exact_shared_qk_attention():
    """Everything in one bucket and one chunk: softmax(q k̂ᵀ/√D) over every other real key."""
    q, _, v = qkv(2, 2, 20, 8)
    mask = padding_mask([20, 9], 20)
    keys = q / q.norm(dim=-1, keepdim=True)
    not_self = ~torch.eye(20, dtype=torch.bool)
    expected, expected_probs = masked_softmax_attention(q, keys, v, not_self & mask[:, None, None, :])
    for rounds in (1, 3):
        result = make(n_hashes=rounds, n_buckets=1, chunk_size=20)(q, q, v, key_padding_mask=mask,
                                                                  need_weights=True)
        torch.testing.assert_close(result.out.transpose(1, 2)[mask], expected.transpose(1, 2)[mask],
                                   atol=1e-5, rtol=0)
        sums = result.probs.sum(-1).transpose(1, 2)
        torch.testing.assert_close(sums[mask], torch.ones(29, 2))  # rows sum to 1 over real tokens
        assert (sums[~mask] == 0).all() and (result.probs.diagonal(dim1=-2, dim2=-1) == 0).all()
        torch.testing.assert_close(result.probs[0], expected_probs[0], atol=1e-6, rtol=0)


def test_a_token_alone_attends_to_itself():
    q, _, v = qkv(1, 2, 1, 8)
    torch.testing.assert_close(make(n_buckets=4, chunk_size=2)(q, q, v).out, v)


def test_replayed_buckets_are_used_instead_of_hashing():
    module = make(n_hashes=2, n_buckets=4, chunk_size=4)
    q1, q2, v = qkv(1, 2, 16, 8)
    module(q1, q1, v)
    buckets = module.last_choices()
    module.replay_choices(buckets)
    out = module(q2, q2, v).out
    module.replay_choices(None)
    expected, _ = masked_softmax_attention(q2, F.normalize(q2, dim=-1), v, brute_force_mask(buckets, 4, [16]))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_saved_tensors_grow_linearly_in_length():
    assert saved_tensors_grow_linearly(make(n_hashes=2, n_buckets=32, chunk_size=32))


def test_the_encoder_projects_only_queries_and_values():
    config = EncoderConfig(vocab_size=12, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32,
                           attention="reformer-lsh", attention_options={"n_buckets": 2, "chunk_size": 4},
                           max_length=32)
    model = SeqEncoder(config)
    assert model.blocks[0].attention.qkv.weight.shape == (32, 16)  # [Q; V]
    assert model.state_dict()["blocks.0.attention.attention.rotations"].shape == (2, 8, 2, 1)


@pytest.mark.parametrize("options, message", [
    ({"n_buckets": 3}, "must be even"), ({"n_hashes": 0}, "n_hashes"), ({"chunk_size": 0}, "chunk_size"),
])
def test_config_rejects_odd_hash_settings(options, message):
    with pytest.raises(ValueError, match=message):
        ReformerLSHConfig(**options)


@pytest.mark.parametrize("options, message", [
    ({"n_buckets": 128}, "n_buckets 128 is larger than max_length 64"),
    ({"chunk_size": 65}, "chunk_size 65 is larger than max_length 64"),
])
def test_encoder_config_rejects_settings_that_cannot_work(options, message):
    with pytest.raises(ValueError, match=message):
        EncoderConfig(vocab_size=10, hidden_size=16, num_heads=2, attention="reformer-lsh",
                      attention_options=options, max_length=64)


def test_no_attention_to_self_except_when_alone_over_all_rounds():
    """Hand-set buckets (one chunk): a token alone in its bucket in one round but not in the other
    attends only to its partner; a token alone in every round attends to itself alone."""
    module = make(n_hashes=2, n_buckets=4, chunk_size=8)
    q, _, v = qkv(1, 2, 8, 8)
    rounds = torch.tensor([[0, 0, 0, 1, 1, 2, 3, 3],   # round 0: token 5 alone in bucket 2
                           [0, 0, 0, 1, 1, 2, 2, 3]])  # round 1: token 5 with 6, token 7 alone in bucket 3
    module.replay_choices(rounds.expand(1, 2, 2, 8))
    result = module(q, q, v, need_weights=True)
    module.replay_choices(None)
    probs = result.probs[0]  # (H, L, L)
    assert (probs.diagonal(dim1=-2, dim2=-1) == 0).all()  # every token has someone else in some round
    for token in (5, 7):  # each has token 6 as its only partner
        torch.testing.assert_close(probs[:, token, 6], torch.ones(2))
        torch.testing.assert_close(result.out[0, :, token], v[0, :, 6])
    alone = make(n_hashes=1, n_buckets=4, chunk_size=8)
    alone.replay_choices(rounds[:1].expand(1, 2, 1, 8))
    result = alone(q, q, v, need_weights=True)
    alone.replay_choices(None)
    diagonal = result.probs[0].diagonal(dim1=-2, dim2=-1)  # (H, L)
    assert (diagonal[:, 5] == 1).all() and (diagonal[:, torch.arange(8) != 5] == 0).all()
    torch.testing.assert_close(result.out[0, :, 5], v[0, :, 5])


def test_appending_padding_never_changes_real_outputs_or_gradients():
    module = make(n_hashes=3, n_buckets=4, chunk_size=4)
    q, _, v = qkv(1, 2, 17, 8, grad=True, seed=3)
    alone = module(q, q, v).out
    padded_q, padded_v = (torch.cat([x, torch.randn(1, 2, 9, 8)], dim=2) for x in (q, v))
    padded = module(padded_q, padded_q, padded_v, key_padding_mask=padding_mask([17], 26)).out
    torch.testing.assert_close(padded[:, :, :17], alone, atol=1e-6, rtol=0)
    assert (padded[:, :, 17:] == 0).all()
    grads = torch.autograd.grad(alone.pow(2).sum(), (q, v))
    for grad, padded_grad in zip(grads, torch.autograd.grad(padded.pow(2).sum(), (q, v))):
        torch.testing.assert_close(padded_grad, grad, atol=1e-5, rtol=0)
