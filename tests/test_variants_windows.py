"""Allele windows, hand-computed: SNV, insertion, deletion, both strands, contig ends; allele trimming."""

from __future__ import annotations

import pytest

from seqformer.io import Genome
from seqformer.variants.alleles import trim_alleles
from seqformer.variants.windows import AlleleWindows, allele_windows, padded_fetch

#        0         1
#        01234567890123456789
SEQ = "AACCGGTTACGTTTGGCCAA"


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    path = tmp_path_factory.mktemp("windows") / "t.fa"
    path.write_text(f">t\n{SEQ}\n")
    with Genome(path) as g:
        yield g


@pytest.mark.parametrize("pos, ref, alt, window, expected", [
    # SNV C>G at 9: two bases left of it, three right (the odd base goes right)
    (9, "C", "G", 6, AlleleWindows("TACGTT", "TAGGTT", (2, 3), (2, 3))),
    (9, "C", "G", 7, AlleleWindows("TTACGTT", "TTAGGTT", (3, 4), (3, 4))),
    # insertion C>CGG: REF window as for the SNV; ALT "A" + CGG + "GT"
    (9, "C", "CGG", 6, AlleleWindows("TACGTT", "ACGGGT", (2, 3), (1, 4))),
    # deletion CGT>C: REF "A" + CGT + "TT"; ALT "TA" + C + the bases after the deleted GT, "TTG"
    (9, "CGT", "C", 6, AlleleWindows("ACGTTT", "TACTTG", (1, 4), (2, 3))),
    # off the start and off the end of the contig: N padding
    (1, "A", "T", 6, AlleleWindows("NAACCG", "NATCCG", (2, 3), (2, 3))),
    (19, "A", "C", 6, AlleleWindows("CAANNN", "CACNNN", (2, 3), (2, 3))),
    (18, "AA", "A", 6, AlleleWindows("CCAANN", "CCANNN", (2, 4), (2, 3))),
])
def test_allele_windows(genome, pos, ref, alt, window, expected):
    windows = allele_windows(genome, "t", pos, ref, alt, window)
    assert windows == expected
    assert len(windows.ref) == len(windows.alt) == window
    assert windows.ref[slice(*windows.ref_span)] == ref and windows.alt[slice(*windows.alt_span)] == alt


def test_reverse_strand(genome):
    snv = allele_windows(genome, "t", 9, "C", "G", 6).reverse()
    assert snv == AlleleWindows("AACGTA", "AACCTA", (3, 4), (3, 4))
    deletion = allele_windows(genome, "t", 9, "CGT", "C", 6).reverse()
    assert deletion == AlleleWindows("AAACGT", "CAAGTA", (2, 5), (3, 4))
    assert deletion.ref[2:5] == "ACG" and deletion.alt[3] == "G"  # reverse complements of CGT and C


def test_padded_fetch(genome):
    assert padded_fetch(genome, "t", -3, 2) == "NNNAA"
    assert padded_fetch(genome, "t", -5, -2) == "NNN"
    assert padded_fetch(genome, "t", 18, 23) == "AANNN"
    assert padded_fetch(genome, "t", 22, 24) == "NN"


def test_allele_longer_than_window(genome):
    with pytest.raises(ValueError, match="does not fit"):
        allele_windows(genome, "t", 0, "AACCGGT", "A", 6)


@pytest.mark.parametrize("given, expected", [
    ((9, "C", "G"), (9, "C", "G")),
    ((9, "GAA", "GA"), (9, "GA", "G")),  # common suffix first, anchor kept
    ((9, "CAT", "CGT"), (10, "A", "G")),  # an SNV written with context
    ((9, "A", "ACCA"), (9, "A", "ACCA")),
    ((9, "TCAAA", "T"), (9, "TCAAA", "T")),
    ((9, "AC", "GT"), (9, "AC", "GT")),  # an MNV stays two bases
])
def test_trim_alleles(given, expected):
    assert trim_alleles(*given) == expected
