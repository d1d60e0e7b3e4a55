"""Streaming FASTA reading and writing."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ENCODINGS, write_encoded

from seqformer.errors import InputError
from seqformer.io import (
    FastaRecord,
    count_fasta_records,
    format_fasta,
    read_fasta,
    write_fasta,
)

TINY = Path(__file__).parent / "data" / "io" / "tiny.fa"
TINY_RECORDS = [
    FastaRecord("chr1", "test contig one", "ACGTACGTAACCGGTTAANNacgtRYKM"),
    FastaRecord("chr2", "", "GATTACA"),
]


@pytest.fixture(params=ENCODINGS)
def any_tiny(request, tmp_path) -> Path:
    """tiny.fa as plain, CRLF, gzip and BGZF, all under a name without .gz."""
    return write_encoded(TINY.read_bytes(), tmp_path / "tiny.fasta", request.param)


def test_read_raw(any_tiny):
    assert list(read_fasta(any_tiny)) == TINY_RECORDS
    assert count_fasta_records(any_tiny) == 2


def test_read_dna_uppercases(any_tiny):
    assert [r.seq for r in read_fasta(any_tiny, alphabet="dna")] == ["ACGTACGTAACCGGTTAANNACGTRYKM", "GATTACA"]


def test_leading_blank_lines(tmp_path):
    path = tmp_path / "p.fa"
    path.write_text("\n\n>p1 kinase\nmkv*\n")
    assert list(read_fasta(path, alphabet="protein")) == [FastaRecord("p1", "kinase", "MKV")]


@pytest.mark.parametrize(
    ("text", "alphabet", "message"),
    [
        ("", None, "file is empty"),
        ("\n \n", None, r"file is empty \(only blank lines\)"),
        ("ACGT\n>a\nAC\n", None, "not a FASTA file: it starts with 'A', not '>'"),
        (">a\nAC\n>b\n>c\nGT\n", None, "record 'b': record 2 has no sequence"),
        (">a\nAC\n>\nGT\n", None, "record 2 has an empty header line"),
        (">a\nACGT\n>b x\nACGT\nACXT\n", "dna", r"record 'b', position 7: invalid DNA character 'X'"),
        (">a\r\nAC\r\nGU\r\n", "dna", r"record 'a', position 4: invalid DNA character 'U'"),
        (">a\nMK*V\n", "protein", r"record 'a', position 3: invalid protein character '\*'"),
    ],
)
def test_read_errors(tmp_path, text, alphabet, message):
    path = tmp_path / "bad.fa"
    path.write_bytes(text.encode())
    with pytest.raises(InputError, match=message):
        list(read_fasta(path, alphabet=alphabet))


def test_missing_file_raises_before_iteration(tmp_path):
    with pytest.raises(InputError, match="missing.fa: file not found"):
        read_fasta(tmp_path / "missing.fa")


def test_binary_file(tmp_path):
    path = tmp_path / "bin.fa"
    path.write_bytes(b">a\nAC\xff\xfe\n")
    with pytest.raises(InputError, match="not a text file"):
        list(read_fasta(path))


def test_unknown_alphabet():
    with pytest.raises(ValueError):
        read_fasta(TINY, alphabet="rna")


def test_format_fasta_wraps():
    record = FastaRecord("chr1:1-5", "", "ACGTA")
    assert format_fasta(record, 2) == ">chr1:1-5\nAC\nGT\nA\n"
    assert format_fasta(record, 0) == ">chr1:1-5\nACGTA\n"
    assert format_fasta(FastaRecord("x", "desc", "AC"), 60) == ">x desc\nAC\n"


def test_write_fasta_round_trip(tmp_path):
    path = tmp_path / "out" / "x.fa"
    assert write_fasta(TINY_RECORDS, path, width=10) == 2
    assert path.read_text() == TINY.read_text()
    assert list(read_fasta(path)) == TINY_RECORDS


def test_write_fasta_is_atomic(tmp_path):
    def records():
        yield TINY_RECORDS[0]
        raise InputError("boom")

    path = tmp_path / "x.fa"
    with pytest.raises(InputError):
        write_fasta(records(), path)
    assert list(tmp_path.iterdir()) == []
