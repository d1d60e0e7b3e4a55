"""Shared tokenizer behaviour: batch_encode, save/load and equality."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from seqformer.errors import InputError
from seqformer.tokenizers import (
    SPECIAL_TOKENS,
    BatchEncoding,
    KmerTokenizer,
    ProteinTokenizer,
    Tokenizer,
    load_tokenizer,
)


def test_special_tokens_fixed():
    assert SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
    for tok in (KmerTokenizer(1), KmerTokenizer(6, 6), ProteinTokenizer()):
        assert tok.vocab[:5] == SPECIAL_TOKENS


def test_batch_encode_longest():
    tok = KmerTokenizer(2, 2)
    batch = tok.batch_encode(["ACGT", "AC"])  # [CLS] AC GT [SEP] / [CLS] AC [SEP]
    assert isinstance(batch, BatchEncoding)
    assert batch.input_ids.dtype == torch.int64 and batch.attention_mask.dtype == torch.bool
    assert batch.input_ids.tolist() == [[2, 6, 16, 3], [2, 6, 3, 0]]
    assert batch.attention_mask.tolist() == [[True] * 4, [True, True, True, False]]


def test_batch_encode_max_length_and_truncation():
    tok = KmerTokenizer(2, 2)
    batch = tok.batch_encode(["ACGT", "AC"], max_length=6, padding="max_length")
    assert batch.input_ids.tolist() == [[2, 6, 16, 3, 0, 0], [2, 6, 3, 0, 0, 0]]
    assert batch.attention_mask.sum(1).tolist() == [4, 3]
    batch = tok.batch_encode(["ACGTAA", "AC"], max_length=4, truncation=True)
    assert batch.input_ids.tolist() == [[2, 6, 16, 3], [2, 6, 3, 0]]  # [SEP] kept last
    batch = tok.batch_encode(["ACGT"], max_length=2, truncation=True, add_special_tokens=False)
    assert batch.input_ids.tolist() == [[6, 16]]
    batch = ProteinTokenizer().batch_encode(["MKVL"], max_length=4, truncation=True)
    assert batch.input_ids.tolist() == [[2, 15, 13, 3]]


def test_batch_encode_errors():
    tok = KmerTokenizer(2, 2)
    with pytest.raises(ValueError, match=r"sequence 1 \(record 'b'\) encodes to 5 tokens, more than max_length=4"):
        tok.batch_encode(["AC", "ACGTA"], max_length=4, records=["a", "b"])
    with pytest.raises(ValueError, match="needs max_length"):
        tok.batch_encode(["AC"], padding="max_length")
    with pytest.raises(ValueError, match="padding"):
        tok.batch_encode(["AC"], padding="longst")
    with pytest.raises(ValueError, match="record names"):
        tok.batch_encode(["AC"], records=["a", "b"])
    with pytest.raises(InputError) as err:
        tok.batch_encode(["AC", "AZ"], records=["a", "b"])
    assert (err.value.record, err.value.position) == ("b", 2)


def test_empty_batch():
    batch = ProteinTokenizer().batch_encode([])
    assert batch.input_ids.shape == (0, 0)


@pytest.mark.parametrize("tok", [KmerTokenizer(3), KmerTokenizer(4, 4), KmerTokenizer(8), ProteinTokenizer()])
def test_save_load_round_trip(tmp_path, tok):
    written = tok.save(tmp_path / "model")
    assert written == tmp_path / "model" / "tokenizer.json"
    loaded = load_tokenizer(tmp_path / "model")
    assert loaded == tok and type(loaded) is type(tok) and hash(loaded) == hash(tok)
    assert load_tokenizer(written) == type(tok).load(written) == tok
    assert Tokenizer.from_dict(tok.to_dict()) == tok
    data = json.loads(written.read_text())
    assert data["type"] == tok.type_name and data["version"] == 1
    assert data["special_tokens"] == {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4}
    assert data["vocab"] == list(tok.vocab)


def test_json_content(tmp_path):
    path = KmerTokenizer(1).save(tmp_path / "t.json")
    data = json.loads(path.read_text())
    assert data == {"type": "kmer", "version": 1, "k": 1, "stride": 1,
                    "special_tokens": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4},
                    "vocab": ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "A", "C", "G", "T"]}
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no temporary left behind


def test_equality():
    assert KmerTokenizer(3) == KmerTokenizer(3, 1)
    assert KmerTokenizer(3) != KmerTokenizer(3, 3)
    assert KmerTokenizer(1) != ProteinTokenizer()
    assert ProteinTokenizer() == ProteinTokenizer()
    assert repr(KmerTokenizer(6, 6)) == "KmerTokenizer(k=6, stride=6)"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["vocab"].__setitem__(5, "AAC"), "vocab entry 5 is 'AAC'"),
        (lambda d: d.__setitem__("k", 4), "vocab has 69 tokens but KmerTokenizer"),
        (lambda d: d["vocab"].pop(), "vocab has 68 tokens"),
        (lambda d: d.__setitem__("stride", 2), "stride must be 1"),
        (lambda d: d.__setitem__("type", "bpe"), "unknown tokenizer type 'bpe'"),
        (lambda d: d.__setitem__("version", 2), "version 2"),
        (lambda d: d["special_tokens"].__setitem__("[MASK]", 5), "special_tokens"),
        (lambda d: d.__setitem__("alphabet", "dna"), "bad fields"),
    ],
)
def test_load_rejects_corrupted(tmp_path, edit, message):
    data = KmerTokenizer(3).to_dict()
    edit(data)
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as err:
        load_tokenizer(tmp_path)
    assert isinstance(err.value, InputError) and err.value.path == str(path)


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="no such tokenizer file"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        load_tokenizer(tmp_path)
    ProteinTokenizer().save(tmp_path)
    with pytest.raises(ValueError, match="expected a 'kmer' tokenizer"):
        KmerTokenizer.load(tmp_path)


@pytest.mark.parametrize("tok", [KmerTokenizer(3), KmerTokenizer(4, 4), KmerTokenizer(1), ProteinTokenizer()])
@pytest.mark.parametrize("chunk_size", [1, 2, 5, 8, 100])
def test_chunk_bounds_concatenate_to_whole(tok, chunk_size):
    rng = np.random.default_rng(chunk_size)
    letters = list("ACGTN") if isinstance(tok, KmerTokenizer) else list("ACDEFKLMXY")
    for length in [0, 1, 2, 3, 4, 7, 8, 9, 23]:
        seq = "".join(rng.choice(letters, size=length))
        pieces = [tok.encode(seq[a:b], add_special_tokens=False) for a, b in tok.chunk_bounds(length, chunk_size)]
        whole = tok.encode(seq, add_special_tokens=False)
        assert np.concatenate([np.zeros(0, np.int64), *pieces]).tolist() == whole.tolist()


def test_chunk_bounds_exact():
    assert KmerTokenizer(3).chunk_bounds(10, 4) == [(0, 6), (4, 10)]
    assert KmerTokenizer(3, 3).chunk_bounds(10, 4) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert KmerTokenizer(3).chunk_bounds(2, 4) == [(0, 2)]
    assert KmerTokenizer(3).chunk_bounds(0, 4) == []
