"""KmerTokenizer: exact ids, the vectorised encoder against the string-splitting reference,
round trips, spans and errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqformer.errors import InputError
from seqformer.tokenizers import KmerTokenizer
from seqformer.tokenizers import kmer as kmer_module
from seqformer.tokenizers.reference import reference_kmer_ids

ALL_K = range(1, 9)


@pytest.mark.parametrize(
    ("k", "stride", "seq", "expected"),
    [
        # ACG = 5 + (0*16 + 1*4 + 2) = 11, CGT = 5 + (1*16 + 2*4 + 3) = 32, GTN = [UNK]
        (3, 1, "ACGTN", [2, 11, 32, 1, 3]),
        # AC = 5 + 1 = 6, GT = 5 + 11 = 16, trailing A = [UNK]
        (2, 2, "ACGTA", [2, 6, 16, 1, 3]),
        (1, 1, "ACGTN", [2, 5, 6, 7, 8, 1, 3]),
        # lowercase: AC = 6, CG = 5 + 6 = 11, GT = 16
        (2, 1, "acgt", [2, 6, 11, 16, 3]),
        (4, 1, "TTTT", [2, 5 + 255, 3]),
        (6, 1, "AAAAAA", [2, 5, 3]),
        (6, 6, "TTTTTTAAAAAC", [2, 5 + 4095, 6, 3]),
        # ambiguity codes: NNA, then CAR ([UNK]), AAC = 6 with stride 3
        (3, 3, "NNAAACCAR", [2, 1, 6, 1, 3]),
        (8, 1, "TTTTTTTTG", [2, 5 + 65535, 5 + 65534, 3]),
        # shorter than k: one [UNK]; empty: only the specials
        (3, 1, "AC", [2, 1, 3]),
        (3, 3, "", [2, 3]),
    ],
)
def test_exact_ids(k, stride, seq, expected):
    tok = KmerTokenizer(k, stride)
    assert tok.encode(seq).tolist() == expected
    assert tok.encode(seq, add_special_tokens=False).tolist() == expected[1:-1]
    assert tok.encode(seq).dtype == np.int32


def test_vocab_and_ids():
    tok = KmerTokenizer(3)
    assert tok.vocab_size == 5 + 64 == len(tok.vocab)
    assert tok.vocab[:6] == ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "AAA")
    assert tok.vocab[-1] == "TTT"
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)
    assert tok.num_special_tokens == 5
    assert tok.token_to_id("ACG") == 11 and tok.id_to_token(32) == "CGT"
    assert tok.token_to_id("[MASK]") == 4
    with pytest.raises(ValueError):
        tok.token_to_id("ACGT")
    with pytest.raises(ValueError):
        tok.id_to_token(69)
    assert KmerTokenizer(8).vocab_size == 5 + 4**8


@pytest.mark.parametrize(("k", "stride"), [(0, 1), (9, 1), (3, 2), (6, 3), (4, 0), (True, 1)])
def test_bad_parameters(k, stride):
    with pytest.raises(ValueError):
        KmerTokenizer(k, stride)


def test_invalid_character_names_record_and_position():
    tok = KmerTokenizer(3)
    with pytest.raises(InputError) as err:
        tok.encode("ACGTxA", record="chr1", path="in.fa")
    assert (err.value.record, err.value.position, err.value.path) == ("chr1", 5, "in.fa")
    assert str(err.value).startswith("in.fa, record 'chr1', position 5: invalid DNA character 'x'")
    for seq, position in [("AC-GT", 3), ("ACGU", 4), ("A CG", 2), ("ACGT\n", 5), ("Ax", 2)]:
        with pytest.raises(InputError) as err:
            tok.encode(seq)
        assert err.value.position == position
    with pytest.raises(InputError) as err:  # in the trailing partial k-mer
        KmerTokenizer(3, 3).encode("ACGTA.")
    assert err.value.position == 6


def test_invalid_character_deep_in_a_long_sequence(monkeypatch):
    monkeypatch.setattr(kmer_module, "_BLOCK", 4)
    seq = "ACGTN" * 10 + "acgt" + "*" + "A" * 20
    with pytest.raises(InputError) as err:
        KmerTokenizer(3).encode(seq, record="r")
    assert err.value.position == 55


def test_carriage_return_is_an_error():
    with pytest.raises(InputError, match="carriage return") as err:
        KmerTokenizer(2).encode("ACG\rT", record="r")
    assert err.value.position == 4
    with pytest.raises(InputError, match="carriage return") as err:
        KmerTokenizer(2).encode("A\rCZ", record="r")
    assert err.value.position == 2  # the \r comes first
    with pytest.raises(InputError, match="invalid DNA character 'Z'") as err:
        KmerTokenizer(2).encode("ACZ\r", record="r")
    assert err.value.position == 3


def test_non_ascii_is_a_clean_input_error():
    tok = KmerTokenizer(2)
    with pytest.raises(InputError, match="invalid DNA character 'é'") as err:
        tok.encode("ACéGT", record="r")
    assert err.value.position == 3


@pytest.mark.parametrize("stride_is_k", [False, True])
@pytest.mark.parametrize("k", ALL_K)
def test_vectorised_equals_reference(k, stride_is_k):
    rng = np.random.default_rng(k)
    stride = k if stride_is_k else 1
    tok = KmerTokenizer(k, stride)
    for length in [0, 1, k - 1, k, k + 1, 3 * k + 2, 500]:
        seq = "".join(rng.choice(list("ACGTNacgtnRY"), p=[0.2] * 4 + [0.025] * 8, size=length))
        assert tok.encode(seq, add_special_tokens=False).tolist() == reference_kmer_ids(seq, k, stride)


@pytest.mark.parametrize("block", [1, 3, 64])
@pytest.mark.parametrize(("k", "stride"), [(3, 1), (5, 5), (8, 1)])
def test_blocked_encoder_matches_reference(monkeypatch, block, k, stride):
    monkeypatch.setattr(kmer_module, "_BLOCK", block)
    rng = np.random.default_rng(0)
    seq = "".join(rng.choice(list("ACGTN"), p=[0.24] * 4 + [0.04], size=301))
    ids = KmerTokenizer(k, stride).encode(seq, add_special_tokens=False)
    assert ids.tolist() == reference_kmer_ids(seq, k, stride)


@st.composite
def kmer_cases(draw, alphabet="ACGT"):
    k = draw(st.integers(1, 8))
    stride = draw(st.sampled_from([1, k]))
    seq = draw(st.text(alphabet=alphabet, max_size=60))
    return k, stride, seq


@settings(max_examples=300, deadline=None)
@given(kmer_cases())
def test_round_trip(case):
    k, stride, seq = case
    tok = KmerTokenizer(k, stride)
    decoded = tok.decode(tok.encode(seq))
    if not seq:
        assert decoded == ""
    elif len(seq) >= k and (stride == 1 or len(seq) % k == 0):
        assert decoded == seq
    else:  # a short sequence or trailing partial k-mer: its [UNK] decodes to k N's
        cut = len(seq) - len(seq) % k if len(seq) >= k else 0
        assert decoded == seq[:cut] + "N" * k


@settings(max_examples=300, deadline=None)
@given(kmer_cases(alphabet="ACGTNacgt"))
def test_decode_keeps_every_base_a_known_kmer_covers(case):
    k, stride, seq = case
    tok = KmerTokenizer(k, stride)
    ids = tok.encode(seq, add_special_tokens=False)
    expected = ["N"] * ((len(ids) - 1) * stride + k if len(ids) else 0)
    for t, (start, end) in enumerate(tok.token_spans(len(seq), add_special_tokens=False)):
        if ids[t] != tok.unk_id:
            expected[start:end] = seq[start:end].upper()
    assert tok.decode(ids) == "".join(expected)
    assert tok.encode(seq).tolist() == [2, *reference_kmer_ids(seq, k, stride), 3]


def test_decode_specials_and_mask():
    tok = KmerTokenizer(3)
    ids = tok.encode("ACGTAC")  # ACG CGT GTA TAC
    masked = ids.copy()
    masked[2] = tok.mask_id  # CGT hidden: its bases are still covered by ACG and GTA
    assert tok.decode(masked) == "ACGTAC"
    masked[1:4] = tok.mask_id  # ACG CGT GTA hidden: bases 0..2 only were covered by them
    assert tok.decode(masked) == "NNNTAC"
    padded = np.concatenate([ids, [0, 0]])
    assert tok.decode(padded) == "ACGTAC"
    assert tok.decode([]) == "" and tok.decode([2, 3]) == ""
    with pytest.raises(ValueError):
        tok.decode([2, 5000])
    with pytest.raises(ValueError):
        tok.decode([[2, 3]])


@pytest.mark.parametrize(
    ("k", "stride", "seq_len", "body"),
    [
        (3, 1, 5, [[0, 3], [1, 4], [2, 5]]),
        (2, 2, 5, [[0, 2], [2, 4], [4, 5]]),
        (3, 3, 6, [[0, 3], [3, 6]]),
        (3, 1, 2, [[0, 2]]),
        (3, 3, 2, [[0, 2]]),
        (4, 1, 0, []),
    ],
)
def test_token_spans(k, stride, seq_len, body):
    tok = KmerTokenizer(k, stride)
    spans = tok.token_spans(seq_len)
    assert spans.tolist() == [[-1, -1], *body, [-1, -1]]
    assert tok.token_spans(seq_len, add_special_tokens=False).reshape(-1, 2).tolist() == body
    assert len(spans) == len(tok.encode("A" * seq_len)) == tok.num_tokens(seq_len)
