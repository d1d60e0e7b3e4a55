"""ProteinTokenizer: exact ids, round trips and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqformer.errors import InputError
from seqformer.io.sequence import PROTEIN_LETTERS
from seqformer.tokenizers import ProteinTokenizer
from seqformer.tokenizers.protein import RESIDUES


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ("MKV", [2, 15, 13, 22, 3]),  # M is residue 10, K 8, V 17 of ACDEFGHIKLMNPQRSTVWY
        ("XBZUO", [2, 25, 26, 27, 28, 29, 3]),  # ambiguous/rare letters are real tokens
        ("acdy*", [2, 5, 6, 7, 24, 3]),  # lowercase, one trailing stop stripped
        ("*", [2, 3]),
        ("", [2, 3]),
    ],
)
def test_exact_ids(seq, expected):
    assert ProteinTokenizer().encode(seq).tolist() == expected


def test_vocab():
    tok = ProteinTokenizer()
    assert tok.vocab_size == 30
    assert tok.vocab[5:] == tuple("ACDEFGHIKLMNPQRSTVWYXBZUO") == tuple(RESIDUES)
    assert set(RESIDUES) == PROTEIN_LETTERS  # exactly the letters seqformer.io accepts
    assert tok.token_to_id("W") == 23 and tok.id_to_token(29) == "O"
    assert (tok.pad_id, tok.mask_id) == (0, 4)


@pytest.mark.parametrize(("seq", "position", "char"), [("MKJ", 3, "J"), ("MK*V", 3, "*"),
                                                        ("MKV**", 4, "*"), ("M1", 2, "1")])
def test_invalid_letter(seq, position, char):
    with pytest.raises(InputError) as err:
        ProteinTokenizer().encode(seq, record="P1", path="p.fa")
    assert (err.value.record, err.value.position) == ("P1", position)
    assert f"invalid protein character {char!r}" in str(err.value)


def test_decode_specials():
    tok = ProteinTokenizer()
    assert tok.decode([2, 15, 4, 1, 22, 3, 0, 0]) == "MXXV"  # [MASK] and [UNK] keep their place


def test_token_spans():
    assert ProteinTokenizer().token_spans(2).tolist() == [[-1, -1], [0, 1], [1, 2], [-1, -1]]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=RESIDUES + RESIDUES.lower(), max_size=80), st.booleans())
def test_round_trip(seq, stop):
    tok = ProteinTokenizer()
    ids = tok.encode(seq + ("*" if stop else ""))
    assert tok.decode(ids) == seq.upper()
    assert len(ids) == len(tok.token_spans(len(seq)))
