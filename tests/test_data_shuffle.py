"""Dinucleotide shuffles keep every adjacent-pair count, the first and the last letter."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from seqformer.data.shuffle import dinucleotide_counts, dinucleotide_shuffle


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ACGTN", min_size=0, max_size=300), st.integers(0, 2**32))
def test_counts_ends_and_length_are_kept(seq, seed):
    out = dinucleotide_shuffle(seq, seed)
    assert len(out) == len(seq) and sorted(out) == sorted(seq)
    assert dinucleotide_counts(out) == dinucleotide_counts(seq)
    if seq:
        assert out[0] == seq[0] and out[-1] == seq[-1]


def test_seeded_and_not_the_input():
    seq = "ACGTTGCAAGGCTTACGATCGATCGGCTAGCTAGGATCCATGCA" * 4
    assert dinucleotide_shuffle(seq, 1) == dinucleotide_shuffle(seq, 1)
    assert dinucleotide_shuffle(seq, 1) != dinucleotide_shuffle(seq, 2)
    assert dinucleotide_shuffle(seq, 1) != seq


def test_hand_counted():
    assert dinucleotide_counts("AACGA") == {"AA": 1, "AC": 1, "CG": 1, "GA": 1}
    assert dinucleotide_shuffle("AB", 0) == "AB"  # too short to move
