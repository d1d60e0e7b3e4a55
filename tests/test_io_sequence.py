"""Alphabets, reverse complement and sequence cleaning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqformer.errors import InputError
from seqformer.io import IUPAC_DNA, PROTEIN_LETTERS, clean_dna, clean_protein, reverse_complement


def test_alphabets():
    assert IUPAC_DNA == frozenset("ACGTNRYSWKMBDHV")
    assert PROTEIN_LETTERS == frozenset("ACDEFGHIKLMNPQRSTVWYXBZUO")


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ("ACGT", "ACGT"),
        ("AACG", "CGTT"),
        ("RYKMBDHV", "BDHVKMRY"),  # R<->Y, K<->M, B<->V, D<->H, reversed
        ("SWN", "NWS"),
        ("acgTN", "NAcgt"),  # case kept per letter
        ("", ""),
    ],
)
def test_reverse_complement(seq, expected):
    assert reverse_complement(seq) == expected


@given(st.text(alphabet="ACGTNRYSWKMBDHVacgtnryswkmbdhv"))
def test_reverse_complement_is_an_involution(seq):
    assert reverse_complement(reverse_complement(seq)) == seq


def test_clean_dna_uppercases_and_drops_cr():
    assert clean_dna("acgtNryswkmbdhv\r") == "ACGTNRYSWKMBDHV"


@pytest.mark.parametrize(("seq", "char", "position"), [("ACGU", "U", 4), ("AC-GT", "-", 3), ("ACé", "é", 3), ("AéX", "é", 2), ("AX?é", "X", 2), ("Aé?", "é", 2)])
def test_clean_dna_names_first_invalid_position(seq, char, position):
    with pytest.raises(InputError) as err:
        clean_dna(seq, path="g.fa", record="chr1", offset=100)
    assert err.value.position == 100 + position
    assert str(err.value).startswith(f"g.fa, record 'chr1', position {100 + position}: invalid DNA character {char!r}")


def test_clean_dna_position_counts_after_cr_removal():
    with pytest.raises(InputError) as err:
        clean_dna("AC\rGX")
    assert err.value.position == 4


def test_clean_protein():
    assert clean_protein("mkvxbzuo*") == "MKVXBZUO"
    with pytest.raises(InputError) as err:
        clean_protein("MK*V*", record="p1")
    assert err.value.position == 3 and "'*'" in str(err.value)
    with pytest.raises(InputError, match="invalid protein character '1'"):
        clean_protein("MK1")
