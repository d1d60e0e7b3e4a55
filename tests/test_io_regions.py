"""Region parsing: samtools-style 1-based inclusive strings to 0-based half-open Regions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqformer.errors import InputError
from seqformer.io import Region, parse_region

CONTIGS = {"chr1": 1000, "chr2": 500, "chr10": 100, "HLA-A*01:01": 50}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chr1:1-10", Region("chr1", 0, 10)),
        ("chr20:50000001-63025520", Region("chr20", 50_000_000, 63_025_520)),
        ("chr1:1,000-2,000", Region("chr1", 999, 2000)),
        (" chr1:5-5 ", Region("chr1", 4, 5)),
    ],
)
def test_parse_region(text, expected):
    assert parse_region(text) == expected


def test_region_str_and_len():
    region = Region("chr20", 50_000_000, 63_025_520)
    assert str(region) == "chr20:50000001-63025520"
    assert len(region) == 13_025_520


def test_bare_contig_is_whole_contig():
    assert parse_region("chr2", CONTIGS) == Region("chr2", 0, 500)
    assert parse_region("HLA-A*01:01", CONTIGS) == Region("HLA-A*01:01", 0, 50)
    assert parse_region("HLA-A*01:01:2-3", CONTIGS) == Region("HLA-A*01:01", 1, 3)
    with pytest.raises(InputError, match="no coordinates; a whole contig needs the genome"):
        parse_region("chr2")


@pytest.mark.parametrize("text", ["chr1:10", "chr1:a-b", "chr1:-5-10", "chr1:5-", ":1-2", "chr 1:1-2", ""])
def test_malformed_region(text):
    with pytest.raises(InputError, match="malformed region"):
        parse_region(text, CONTIGS)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chr1:0-10", "start must be 1 or more"),
        ("chr1:11-10", "start 11 is after end 10"),
        ("chr2:400-501", r"region chr2:400-501 ends past the end of chr2 \(length 500\)"),
    ],
)
def test_region_bounds(text, message):
    with pytest.raises(InputError, match=message):
        parse_region(text, CONTIGS)


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("1:1-10", "chr1"), ("10", "chr10"), ("CHR2:1-2", "chr2"), ("chr11:1-2", "chr1")],
)
def test_missing_contig_suggests(text, suggestion):
    with pytest.raises(InputError) as err:
        parse_region(text, CONTIGS, source="genome.fa")
    contig = text.split(":")[0]
    assert str(err.value) == f"contig {contig!r} not in genome.fa; did you mean {suggestion!r}?"


def test_chr_prefix_dropped_suggestion():
    with pytest.raises(InputError, match="did you mean '20'"):
        parse_region("chr20:1-2", {"20": 100})


def test_missing_contig_without_close_match_lists_contigs():
    with pytest.raises(InputError, match=r"contig 'scaffold_9' not in the genome; it has chr1, chr2, chr10"):
        parse_region("scaffold_9:1-2", CONTIGS)


@given(
    st.text(alphabet="abcXY_019.:|", min_size=1, max_size=12),
    st.integers(0, 10**9),
    st.integers(1, 10**6),
)
def test_parse_region_round_trips(chrom, start, length):
    region = Region(chrom, start, start + length)
    assert parse_region(str(region)) == region


def test_region_rejects_bad_coordinates():
    with pytest.raises(ValueError):
        Region("chr1", 5, 4)
