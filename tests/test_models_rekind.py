"""with_attention: the same weights under another attention kind."""

import pytest
import torch

from seqformer.models import load_model
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.models.config import EncoderConfig
from seqformer.models.mlm import MaskedLM, MaskedLMConfig
from seqformer.models.rekind import with_attention
from seqformer.tokenizers import ProteinTokenizer


def _mlm(**fields) -> MaskedLM:
    torch.manual_seed(0)
    tokenizer = ProteinTokenizer()
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=4, ffn_size=64,
                                          max_length=64, **fields)
    return MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer).eval()


def _batch(model, seqs=("MKTAYIAKQRQISFVKSHFSRQ", "MVLSPADKTNVKAAW")):
    return model.tokenizer.batch_encode(list(seqs))


def test_longformer_window_covering_everything_equals_dense():
    model = _mlm()
    wide = with_attention(model, "longformer", {"window": 32, "global_tokens": []})  # sequences of ≤ 24 tokens
    batch = _batch(model)
    with torch.no_grad():
        dense = model(batch.input_ids, batch.attention_mask).logits
        other = wide(batch.input_ids, batch.attention_mask).logits
    real = batch.attention_mask
    assert torch.allclose(dense[real], other[real], atol=1e-5)
    assert wide.config.encoder.attention == "longformer" and not wide.training


def test_weights_are_shared_values_and_performer_buffers_come_from_the_seed():
    model = _mlm()
    performer = with_attention(model, "performer-softmax", {"num_features": 16})
    state = performer.state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(state[name], tensor)
    extra = sorted(set(state) - set(model.state_dict()))
    assert extra, "performer keeps its random features as buffers"
    again = with_attention(model, "performer-softmax", {"num_features": 16})
    assert all(torch.equal(state[name], again.state_dict()[name]) for name in extra)


def test_longer_max_length_for_rotary_and_round_trip_through_a_folder(tmp_path):
    model = _mlm()
    long = with_attention(model, "bigbird", {"block_size": 16, "num_random_blocks": 1}, max_length=1024)
    assert long.config.encoder.max_length == 1024
    ids = long.tokenizer.batch_encode(["MKTAYIAK" * 40]).input_ids  # 322 tokens: past the trained 64
    with torch.no_grad():
        logits = long(ids).logits
    assert logits.shape == (1, 322, model.config.vocab_size) and torch.isfinite(logits).all()
    long.save_pretrained(tmp_path / "m")
    again = load_model(tmp_path / "m")
    with torch.no_grad():
        assert torch.allclose(again(ids).logits, logits)


def test_classifier_and_errors():
    tokenizer = ProteinTokenizer()
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=1, num_heads=4, ffn_size=64,
                                          max_length=64)
    classifier = SequenceClassifier(ClassifierConfig(encoder, labels=("a",), problem_type="binary"), tokenizer)
    assert with_attention(classifier, "nystromformer", {"num_landmarks": 8}).config.labels == ("a",)
    with pytest.raises(ValueError, match="shares queries and keys"):
        with_attention(classifier, "reformer-lsh")
    with pytest.raises(ValueError, match="unknown attention kind"):
        with_attention(classifier, "sparse-magic")
    with pytest.raises(ValueError, match="bad options"):
        with_attention(classifier, "bigbird", {"block_size": 0})


def test_learned_positions_cannot_run_past_their_table():
    model = _mlm(position="learned")
    assert with_attention(model, "bigbird", {"block_size": 16, "num_random_blocks": 1}).config.encoder.max_length == 64
    with pytest.raises(ValueError, match="learned absolute positions for 64 tokens"):
        with_attention(model, "bigbird", {"block_size": 16}, max_length=128)
