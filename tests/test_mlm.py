"""The masked LM (encoder + LM head, model folders) and its evaluation against the unigram baseline."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from seqformer.models.mlm import IGNORE_INDEX
from seqformer.errors import InputError
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig, SeqEncoder
from seqformer.evaluation.mlm import Scores, _evaluation, evaluate_mlm
from seqformer.tokenizers import KmerTokenizer, ProteinTokenizer


def tiny_mlm(tokenizer=None, tie: bool = True, attention: str = "dense") -> MaskedLM:
    tokenizer = tokenizer or KmerTokenizer(3, 1)
    options = {"block_size": 4, "num_random_blocks": 1} if attention == "bigbird" else {}
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64,
                                          attention=attention, attention_options=options, max_length=32)
    torch.manual_seed(0)
    return MaskedLM(MaskedLMConfig(encoder, tie_word_embeddings=tie), tokenizer=tokenizer).eval()


def test_forward_shapes_and_loss():
    model = tiny_mlm()
    ids = torch.randint(5, model.config.vocab_size, (2, 10))
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[:, 3] = ids[:, 3]
    out = model(ids, torch.ones_like(ids, dtype=torch.bool), labels=labels)
    assert out.logits.shape == (2, 10, 69) and out.hidden_states is None and out.attentions is None
    expected = torch.nn.functional.cross_entropy(out.logits[:, 3], ids[:, 3])
    torch.testing.assert_close(out.loss, expected)


def test_predict_masked_equals_full_logits_at_labelled_positions():
    model = tiny_mlm(attention="bigbird")
    ids = torch.randint(5, model.config.vocab_size, (3, 16))
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[2, 12:] = False
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 2], labels[1, 5], labels[2, 11] = ids[0, 2], ids[1, 5], ids[2, 11]
    full = model(ids, mask, labels=labels)
    masked = model.predict_masked(ids, mask, labels)
    torch.testing.assert_close(masked.logits, full.logits[labels != IGNORE_INDEX])
    torch.testing.assert_close(masked.loss, full.loss)
    assert masked.labels.tolist() == [int(ids[0, 2]), int(ids[1, 5]), int(ids[2, 11])]


def test_tied_decoder_is_the_embedding():
    tied, untied = tiny_mlm(tie=True), tiny_mlm(tie=False)
    assert "head.decoder" not in dict(tied.named_parameters())
    assert untied.head.decoder.shape == (69, 32)
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in tied.parameters()) == 69 * 32


@pytest.mark.parametrize("tie", [True, False])
def test_model_folder_round_trip(tmp_path, tie):
    model = tiny_mlm(ProteinTokenizer(), tie=tie)
    model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == "masked-lm" and config["tie_word_embeddings"] is tie
    assert ("head.decoder" in load_file(str(tmp_path / "m" / "model.safetensors"))) is not tie
    loaded = MaskedLM.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and loaded.tokenizer == ProteinTokenizer()
    ids = torch.randint(5, 30, (2, 7))
    torch.testing.assert_close(loaded(ids).logits, model(ids).logits)
    encoder = SeqEncoder(loaded.config.encoder, tokenizer=loaded.tokenizer)  # the encoder alone, for fine-tuning
    encoder.load_state_dict(loaded.encoder.state_dict())


def test_loading_refuses_other_configs(tmp_path):
    tiny_mlm().encoder.save_pretrained(tmp_path / "encoder")
    with pytest.raises(InputError, match="not a masked-LM config"):
        MaskedLM.from_pretrained(tmp_path / "encoder")
    with pytest.raises(ValueError, match="unknown MaskedLMConfig key"):
        MaskedLMConfig.from_dict({**tiny_mlm().config.to_dict(), "pooling": "mean"})


def test_unigram_baseline_arithmetic():
    """Labels A,A,B over a file of 3 A, 1 B: accuracy 2/3, perplexity exp(-(2 ln .75 + ln .25)/3)."""
    tokens, labels = torch.zeros(8, dtype=torch.int64), torch.zeros(8, dtype=torch.int64)
    tokens[5], tokens[6] = 3, 1
    labels[5], labels[6] = 2, 1
    result = _evaluation(Scores(loss_sum=3.0, correct=1, count=3, label_counts=labels, token_counts=tokens),
                         "f.fa", records=1, windows=1, max_length=8, seed=0)
    assert result.unigram_accuracy == pytest.approx(2 / 3)
    assert result.unigram_perplexity == pytest.approx(math.exp(-(2 * math.log(0.75) + math.log(0.25)) / 3))
    assert (result.loss, result.accuracy, result.perplexity) == (1.0, 1 / 3, pytest.approx(math.e))


def test_evaluate_mlm_is_deterministic_and_batch_size_free(tmp_path, data_dir):
    model = tiny_mlm()
    fasta = data_dir / "training" / "tiny_genome.fa"
    one = evaluate_mlm(model, fasta, batch_size=1, seed=4)
    many = evaluate_mlm(model, fasta, batch_size=7, seed=4)
    assert one.masked == many.masked and one.accuracy == many.accuracy
    assert one.loss == pytest.approx(many.loss, rel=1e-5)
    # 298 + 198 3-mers, 22 of them holding an N; windows of 30 tokens: 10 + 7
    assert (one.records, one.windows, one.tokens) == (2, 17, 474)
    assert 0.1 < one.masked / one.tokens < 0.25
    other = evaluate_mlm(model, fasta, seed=5)
    assert (other.masked, other.loss) != (one.masked, one.loss)


def test_evaluate_mlm_rejects_the_wrong_alphabet(data_dir):
    with pytest.raises(InputError, match="looks like DNA"):
        evaluate_mlm(tiny_mlm(ProteinTokenizer()), data_dir / "training" / "tiny_genome.fa")
    with pytest.raises(InputError, match="does not look like DNA"):
        evaluate_mlm(tiny_mlm(), data_dir / "training" / "tiny_proteins.fa")
