"""Memory options of the encoder: reversible blocks (recomputed activations) and the chunked MLP.

"The same weights" for a reversible encoder: one set of block modules run two ways, through the
recomputing autograd Function (training with grad) and through plain autograd over the same
two-stream computation (``output_hidden_states=True`` keeps activations); gradients must agree.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from attention_helpers import saved_bytes

from seqformer.attention import ReformerLSHAttention
from seqformer.models import EncoderConfig, SeqEncoder
from seqformer.tokenizers import KmerTokenizer

TOKENIZER = KmerTokenizer(k=3, stride=1)


def model(kind="dense", options=None, **fields) -> SeqEncoder:
    base = dict(hidden_size=32, num_layers=3, num_heads=2, ffn_size=64, attention=kind,
                attention_options=options or {}, max_length=64, seed=3)
    torch.manual_seed(0)
    return SeqEncoder(EncoderConfig.for_tokenizer(TOKENIZER, **{**base, **fields})).train()


def batch(length=24):
    ids = torch.randint(5, TOKENIZER.vocab_size, (2, length), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, length, dtype=torch.bool)
    mask[1, length - 7:] = False
    return ids, mask


def assert_same_gradients(a: SeqEncoder, b: SeqEncoder, steps: int = 3, **forward_b) -> None:
    """Train-mode forward+backward of a (plain call) and b (with forward_b), same RNG; grads must agree."""
    ids, mask = batch()
    for step in range(steps):  # grads accumulate; later steps see redrawn Performer projections
        torch.manual_seed(step)
        out_a = a(ids, mask).last_hidden_state
        out_a.pow(2).mean().backward()
        torch.manual_seed(step)
        out_b = b(ids, mask, **forward_b).last_hidden_state
        out_b.pow(2).mean().backward()
        torch.testing.assert_close(out_a, out_b, atol=1e-6, rtol=0)
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("kind, options, dropout", [
    ("dense", {}, 0.1),
    ("performer-softmax", {"num_features": 16, "redraw_interval": 2}, 0.1),  # buffers replayed
    ("longformer", {"window": 3}, 0.0),
    ("reformer-lsh", {"n_buckets": 4, "chunk_size": 4}, 0.0),
    ("nystromformer", {"num_landmarks": 4, "conv_kernel": 3}, 0.0),
])
def test_reversible_gradients_equal_plain_autograd_of_the_same_blocks(kind, options, dropout):
    recomputing = model(kind, options, dropout=dropout, reversible=True)
    keeping = copy.deepcopy(recomputing)
    ids, mask = batch()
    assert "_ReversibleStackBackward" in _graph_names(recomputing(ids, mask).last_hidden_state)
    assert "_ReversibleStack" not in _graph_names(keeping(ids, mask, output_hidden_states=True).last_hidden_state)
    assert_same_gradients(recomputing, keeping, output_hidden_states=True)


def _graph_names(tensor) -> str:
    """Names of every autograd node behind ``tensor``."""
    names, todo, seen = [], [tensor.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        todo.extend(next_node for next_node, _ in node.next_functions)
    return " ".join(names)


def test_reversible_recomputation_reuses_the_lsh_buckets(monkeypatch):
    """Buckets that change on every call (as rounding of a rebuilt input can make them) are replayed."""
    calls = iter(range(10**6))

    def random_buckets(self, keys):
        generator = torch.Generator().manual_seed(next(calls))
        batch_size, heads, length, _ = keys.shape
        return torch.randint(0, self.config.n_buckets, (batch_size, heads, self.config.n_hashes, length),
                             generator=generator)

    monkeypatch.setattr(ReformerLSHAttention, "buckets", random_buckets)
    recomputing = model("reformer-lsh", {"n_buckets": 4, "chunk_size": 4}, reversible=True)
    keeping = copy.deepcopy(recomputing)
    ids, mask = batch()
    out = recomputing(ids, mask).last_hidden_state  # forward draws each layer's buckets once
    assert "_ReversibleStack" in _graph_names(out)
    out.pow(2).mean().backward()
    for block, twin in zip(recomputing.blocks, keeping.blocks):  # the plain path replays the same draws
        twin.attention.attention.replay_choices(block.attention.attention.last_choices())
    keeping(ids, mask, output_hidden_states=True).last_hidden_state.pow(2).mean().backward()
    for p, q in zip(recomputing.parameters(), keeping.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-5)


def test_reversible_saved_activations_do_not_grow_with_depth():
    ids, mask = batch(48)

    def saved(layers, reversible):
        encoder = model(num_layers=layers, reversible=reversible)
        return saved_bytes(lambda: encoder(ids, mask).last_hidden_state)

    assert saved(6, reversible=True) == saved(2, reversible=True)
    assert saved(6, reversible=False) > 2 * saved(2, reversible=False)
    assert saved(2, reversible=True) < saved(2, reversible=False) / 4


@pytest.mark.parametrize("reversible", [False, True])
def test_chunked_feed_forward_gives_the_same_outputs_and_gradients(reversible):
    whole = model(reversible=reversible)
    chunked = model(reversible=reversible, ffn_chunk_size=5)  # 24 tokens: chunks of 5, 5, 5, 5, 4
    chunked.load_state_dict(whole.state_dict())
    assert_same_gradients(whole, chunked, steps=1)
    with torch.no_grad():
        torch.testing.assert_close(whole.eval()(*batch()).last_hidden_state,
                                   chunked.eval()(*batch()).last_hidden_state, atol=1e-6, rtol=0)


def test_reversible_encoder_has_the_ordinary_encoders_weights_and_hidden_states():
    ordinary, reversible = model(), model(reversible=True)
    assert {k: v.shape for k, v in ordinary.state_dict().items()} == \
        {k: v.shape for k, v in reversible.state_dict().items()}
    reversible.load_state_dict(ordinary.state_dict())
    ids, mask = batch()
    with torch.no_grad():
        out = reversible.eval()(ids, mask, output_hidden_states=True)
        block = reversible.blocks[0]
        embedded = reversible.embed(ids)
        y1 = embedded + block.attend(embedded, reversible.rotary(24), mask, False)[0]
        y2 = embedded + block.feed_forward(y1)
    assert len(out.hidden_states) == 4 and torch.equal(out.hidden_states[0], embedded)
    torch.testing.assert_close(out.hidden_states[1], (y1 + y2) / 2)


def test_configs_without_the_new_fields_load_as_before():
    config = EncoderConfig.for_tokenizer(TOKENIZER, hidden_size=32, num_heads=2)
    old = {key: value for key, value in config.to_dict().items() if key not in ("reversible", "ffn_chunk_size")}
    loaded = EncoderConfig.from_dict(old)
    assert loaded == config and not loaded.reversible and loaded.ffn_chunk_size is None
    for change, message in [({"reversible": 1}, "reversible"), ({"ffn_chunk_size": 0}, "ffn_chunk_size")]:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(config, **change)


@pytest.mark.parametrize("kind, options", [
    ("longformer", {"window": 2, "dilation": [1, 3], "global_tokens": [0, 20]}),
    ("nystromformer", {"num_landmarks": 5, "conv_kernel": 5}),
    ("reformer-lsh", {"n_hashes": 2, "n_buckets": 4, "chunk_size": 4}),
])
def test_reversible_encoder_ignores_appended_padding(kind, options):
    """The recomputing path (train mode, grad on) with chunked MLPs: real outputs and gradients
    of a padded batch equal those of the unpadded sequence."""
    encoder = model(kind, options, reversible=True, ffn_chunk_size=5)
    if kind == "nystromformer":  # the convolution skip starts at zero: give it weights
        with torch.no_grad():
            for block in encoder.blocks:
                block.attention.attention.conv_weight.normal_(std=0.1)
    ids, _ = batch()
    ids = ids[:1, :17]
    alone = encoder(ids).last_hidden_state
    pad = torch.full((1, 9), encoder.config.pad_id)
    mask = torch.cat([torch.ones(1, 17, dtype=torch.bool), torch.zeros(1, 9, dtype=torch.bool)], 1)
    padded = encoder(torch.cat([ids, pad], 1), mask).last_hidden_state
    assert "_ReversibleStackBackward" in _graph_names(padded)
    torch.testing.assert_close(padded[:, :17], alone, atol=1e-5, rtol=0)
    params = list(encoder.parameters())
    for grad, padded_grad in zip(torch.autograd.grad(alone.pow(2).sum(), params),
                                 torch.autograd.grad(padded[:, :17].pow(2).sum(), params)):
        # fp32 rounding differs with the padded shapes (the plain encoder differs as much: ~1e-5 of the largest)
        torch.testing.assert_close(padded_grad, grad, atol=1e-4 * float(grad.abs().max()), rtol=0)
