"""VCF reading through cyvcf2, and the errors it must not turn into crashes or silent loss."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ENCODINGS, write_encoded

from seqformer.errors import InputError
from seqformer.io import Variant, check_vcf_contigs, read_vcf, vcf_contigs

TINY = Path(__file__).parent / "data" / "io" / "tiny.vcf"
TINY_VARIANTS = [
    Variant("chr1", 1, "C", ("T",), "rs1"),
    Variant("chr1", 8, "AA", ("A",), None),
    Variant("chr1", 13, "GTT", ("G",), "del2"),
    Variant("chr2", 2, "T", ("TTT", "C"), None),
    Variant("chr2", 6, "A", ("AG",), "ins1"),
]
HEADER = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"  # no ##contig lines
RECORD = "chr1\t{}\t.\tA\tG\t.\tPASS\t.\n"


@pytest.fixture(params=ENCODINGS)
def any_tiny(request, tmp_path) -> Path:
    if request.param == "plain":
        return TINY
    name = "t.vcf" if request.param == "crlf" else "t.vcf.gz"
    return write_encoded(TINY.read_bytes(), tmp_path / name, request.param)


def test_read_vcf_exact(any_tiny):
    assert list(read_vcf(any_tiny)) == TINY_VARIANTS


def test_variant_kinds():
    kinds = [(v.is_snv, v.is_indel) for v in TINY_VARIANTS]
    assert kinds == [(True, False), (False, True), (False, True), (False, True), (False, True)]
    assert Variant("chr1", 0, "A", ("G", "T"), None).is_snv
    assert not Variant("chr1", 0, "A", ("<DEL>",), None).is_indel
    assert not Variant("chr1", 0, "A", (), None).is_snv


def test_rename_contigs_and_vcf_contigs():
    variants = list(read_vcf(TINY, rename_contigs={"chr1": "1"}))
    assert [v.chrom for v in variants] == ["1", "1", "1", "chr2", "chr2"]
    assert vcf_contigs(TINY) == ["chr1", "chr2"]


def test_check_vcf_contigs_suggests_rename(tmp_path):
    check_vcf_contigs(TINY, {"chr1": 28, "chr2": 7})
    with pytest.raises(InputError) as err:
        check_vcf_contigs(TINY, {"1": 28, "2": 7})
    assert str(err.value).startswith(f"{TINY}: contig 'chr1' not in the genome; did you mean '1'? Rename")
    assert "rename_contigs={'chr1': '1'}" in str(err.value)
    with pytest.raises(InputError, match=r"variant at chr2:7 runs past the end of chr2 \(length 6\)"):
        check_vcf_contigs(TINY_VARIANTS, {"chr1": 28, "chr2": 6})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("hello\n", "not a VCF file"),
        ("chr1\t5\t.\tA\tG\t.\tPASS\t.\n", "not a VCF file"),
        (HEADER + RECORD.format(5) + RECORD.format("abc"), r"record 2 \(line 4\): POS 'abc' is not a whole number"),
        (HEADER + "chr1\t5\n", r"record 1 \(line 3\): 2 tab-separated columns, expected 8 or more"),
        (HEADER + "chr1 5 . A G . PASS .\n", r"record 1 \(line 3\): 1 tab-separated columns"),
        (HEADER + "\t5\t.\tA\tG\t.\tPASS\t.\n", r"record 1 \(line 3\): CHROM is empty"),
        (HEADER + "chr1\t5\t.\t\tG\t.\tPASS\t.\n", r"record 1 \(line 3\): REF is missing"),
        (HEADER + RECORD.format(5) + "\n" + RECORD.format(6), "line 4: a blank line among the records; htslib cannot read past it"),
        (HEADER + RECORD.format(5) + "#x\n" + RECORD.format(6), "line 4: a '#' line among the records"),
        (HEADER + "\n" + RECORD.format(5), "line 3: a blank line among the records"),
    ],
)
def test_bad_vcf(tmp_path, text, message):
    path = tmp_path / "bad.vcf"
    path.write_text(text)
    with pytest.raises(InputError, match=f"bad.vcf: {message}"):
        list(read_vcf(path))


@pytest.mark.parametrize("header", [HEADER, HEADER.replace("#CHROM", "##contig=<ID=chr1>\n#CHROM")])
def test_blank_lines(tmp_path, header):
    """With ##contig lines htslib stops silently at a blank line, without them it fails there."""
    path = tmp_path / "b.vcf"
    path.write_text(header + "\n")
    assert list(read_vcf(path)) == []
    path.write_text(header + RECORD.format(5) + "\n\r\n")
    assert [v.pos for v in read_vcf(path)] == [4]
    path.write_text(header + RECORD.format(5) + "\n" + RECORD.format(6))
    with pytest.raises(InputError, match=f"line {header.count(chr(10)) + 2}: a blank line among the records"):
        list(read_vcf(path))


def test_missing_vcf(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_vcf(tmp_path / "missing.vcf")
