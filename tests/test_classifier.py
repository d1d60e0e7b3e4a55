"""The sequence classifier (encoder + pooled head): shapes, losses, model folders, --init from a masked LM."""

from __future__ import annotations

import json

import pytest
import torch

from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig, load_model
from seqformer.models.classifier import (
    ClassifierConfig,
    ClassifierOutput,
    SequenceClassifier,
)
from seqformer.tokenizers import KmerTokenizer


def tiny_encoder(tokenizer=None) -> EncoderConfig:
    tokenizer = tokenizer or KmerTokenizer(3, 1)
    return EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64,
                                       max_length=64)


def tiny_classifier(labels=("promoter",), problem_type="multi_label", pooling="mean") -> SequenceClassifier:
    tokenizer = KmerTokenizer(3, 1)
    config = ClassifierConfig(tiny_encoder(tokenizer), labels, problem_type=problem_type, window=20,
                              pooling=pooling)
    torch.manual_seed(0)
    return SequenceClassifier(config, tokenizer=tokenizer).eval()


def test_multi_label_shapes_loss_and_probabilities():
    model = tiny_classifier(("promoter", "enhancer"))
    batch = model.tokenizer.batch_encode(["ACGTACGTACGTAAGG", "TTGACA"])
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = model(batch.input_ids, batch.attention_mask, labels=labels)
    assert isinstance(out, ClassifierOutput) and out.logits.shape == (2, 2)
    assert out.hidden_states is None and out.attentions is None
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, labels))
    torch.testing.assert_close(model.predict_proba(out.logits), torch.sigmoid(out.logits))


def test_binary_labels_may_be_one_column():
    model = tiny_classifier()
    batch = model.tokenizer.batch_encode(["ACGTACGTAC", "TTGACATTGA"])
    out = model(batch.input_ids, batch.attention_mask, labels=torch.tensor([1, 0]))
    assert out.logits.shape == (2, 1)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out.logits[:, 0], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(out.loss, expected)


def test_single_label_softmax():
    model = tiny_classifier(("a", "b", "c"), problem_type="single_label")
    batch = model.tokenizer.batch_encode(["ACGTACGTAC", "TTGACATTGA"])
    out = model(batch.input_ids, batch.attention_mask, labels=torch.tensor([2, 0]))
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, torch.tensor([2, 0])))
    torch.testing.assert_close(model.predict_proba(out.logits).sum(-1), torch.ones(2))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_padding_does_not_change_the_logits(pooling):
    model = tiny_classifier(pooling=pooling)
    alone = model.tokenizer.batch_encode(["ACGTACGTAC"])
    padded = model.tokenizer.batch_encode(["ACGTACGTAC", "ACGTACGTACGTACGTACGT"])
    torch.testing.assert_close(model(alone.input_ids, alone.attention_mask).logits[0],
                               model(padded.input_ids, padded.attention_mask).logits[0], atol=1e-5, rtol=1e-5)


def test_config_checks():
    encoder = tiny_encoder()
    with pytest.raises(ValueError, match="problem_type"):
        ClassifierConfig(encoder, ("x",), problem_type="regression")
    with pytest.raises(ValueError, match="single_label"):
        ClassifierConfig(encoder, ("x",), problem_type="single_label")
    with pytest.raises(ValueError, match="distinct"):
        ClassifierConfig(encoder, ("x", "x"))
    with pytest.raises(ValueError, match="unknown"):
        ClassifierConfig.from_dict({**ClassifierConfig(encoder, ("x",)).to_dict(), "tie_word_embeddings": True})


def test_model_folder_round_trip_is_bit_exact(tmp_path):
    model = tiny_classifier()
    model.save_pretrained(tmp_path / "clf")
    saved = json.loads((tmp_path / "clf" / "config.json").read_text())
    assert saved["model_type"] == "sequence-classifier" and saved["labels"] == ["promoter"] and saved["window"] == 20
    loaded = SequenceClassifier.from_pretrained(tmp_path / "clf")
    assert loaded.config == model.config and loaded.tokenizer == model.tokenizer
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    batch = model.tokenizer.batch_encode(["ACGTACGTACGTAAGG"])
    assert torch.equal(loaded(batch.input_ids, batch.attention_mask).logits,
                       model(batch.input_ids, batch.attention_mask).logits)


def test_loading_a_masked_lm_folder_is_refused(tmp_path):
    tokenizer = KmerTokenizer(3, 1)
    MaskedLM(MaskedLMConfig(tiny_encoder(tokenizer)), tokenizer=tokenizer).save_pretrained(tmp_path / "mlm")
    with pytest.raises(InputError, match="not a sequence classifier: model_type is 'masked-lm'"):
        SequenceClassifier.from_pretrained(tmp_path / "mlm")


def test_from_encoder_copies_the_pretrained_encoder(tmp_path):
    tokenizer = KmerTokenizer(3, 1)
    torch.manual_seed(1)
    mlm = MaskedLM(MaskedLMConfig(tiny_encoder(tokenizer)), tokenizer=tokenizer)
    mlm.save_pretrained(tmp_path / "mlm")
    model = SequenceClassifier.from_encoder(load_model(tmp_path / "mlm"), ("promoter",), window=300)
    assert model.config.window == 300 and model.config.encoder == mlm.config.encoder
    assert model.tokenizer == tokenizer
    for name, tensor in mlm.encoder.state_dict().items():
        assert torch.equal(model.encoder.state_dict()[name], tensor), name
