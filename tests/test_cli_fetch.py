"""``seqformer fetch``: FASTA of regions, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest
from Bio import bgzf
from helpers import cli_error, cli_ok
from typer.testing import CliRunner

TINY = Path(__file__).parent / "data" / "io" / "tiny.fa"  # chr1 ACGTACGTAACCGGTTAANNacgtRYKM, chr2 GATTACA
runner = CliRunner()


@pytest.fixture
def tiny(tmp_path) -> Path:
    return Path(shutil.copy(TINY, tmp_path / "tiny.fa"))


def fetch_ok(*args: object) -> str:
    return cli_ok("fetch", *args)


def fetch_error(*args: object) -> str:
    """The one stderr line of a fetch that must fail as bad input."""
    return cli_error("fetch", *args)


def test_fetch_regions_both_strands(tiny):
    assert fetch_ok(tiny, "chr1:9-14", "chr2") == ">chr1:9-14\nAACCGG\n>chr2:1-7\nGATTACA\n"
    assert fetch_ok(tiny, "chr1:9-14", "--strand", "-", "--width", "4") == ">chr1:9-14(-)\nCCGG\nTT\n"
    assert fetch_ok(tiny, "chr1:1,9-2,0") == ">chr1:19-20\nNN\n"


def test_fetch_bed_with_strands(tiny, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\nchr1\t8\t14\ta\t0\t-\nchr2\t0\t3\tb\t0\t.\n")
    assert fetch_ok(tiny, "--bed", bed) == ">chr1:9-14(-)\nCCGGTT\n>chr2:1-3\nGAT\n"


def test_fetch_out_file(tiny, tmp_path):
    out = tmp_path / "sub" / "out.fa"
    assert fetch_ok(tiny, "chr2:2-4", "--out", out) == ""
    assert out.read_text() == ">chr2:2-4\nATT\n"


@pytest.mark.parametrize("kind", ["crlf", "bgzf_crlf"])
def test_crlf_genome_accepted(tmp_path, kind):
    data = TINY.read_bytes().replace(b"\n", b"\r\n")
    if kind == "crlf":
        path = tmp_path / "crlf.fa"
        path.write_bytes(data)
    else:
        path = tmp_path / "crlf.fa.gz"
        with bgzf.BgzfWriter(path, "wb") as handle:
            handle.write(data)
    assert fetch_ok(path, "chr1:9-24", "--width", "0") == ">chr1:9-24\nAACCGGTTAANNACGT\n"
    assert fetch_ok(path, "chr2:5-7", "--strand", "-") == ">chr2:5-7(-)\nTGT\n"


def test_missing_file(tmp_path):
    assert fetch_error(tmp_path / "nope.fa", "chr1:1-2") == f"error: {tmp_path / 'nope.fa'}: file not found"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "file is empty"),
        (b">chr1\nACGT\n>chr2\n", "record 'chr2': record 2 has no sequence"),
        (b"ACGT\n", "not a FASTA file: it starts with 'A', not '>'"),
    ],
)
def test_bad_genome_file(tmp_path, data, message):
    path = tmp_path / "g.fa"
    path.write_bytes(data)
    assert fetch_error(path, "chr1:1-2") == f"error: {path}{', ' if 'record' in message else ': '}{message}"
    assert not Path(f"{path}.fai").exists()


def test_invalid_character_with_position_and_no_half_written_output(tmp_path):
    genome = tmp_path / "g.fa"
    genome.write_text(">chr1\nACGTA\nCGUAC\n")
    out = tmp_path / "out.fa"
    line = fetch_error(genome, "chr1:1-4", "chr1:5-10", "--out", out)
    assert line.startswith(f"error: {genome}, record 'chr1', position 8: invalid DNA character 'U'")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.fa.fai"]


def test_plain_gzip_mentions_bgzip(tmp_path):
    path = tmp_path / "g.fa.gz"
    path.write_bytes(gzip.compress(TINY.read_bytes()))
    line = fetch_error(path, "chr1:1-2")
    assert "BGZF" in line and "zcat g.fa.gz | bgzip > g.bgz.fa.gz" in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chr1:20-29"], "region chr1:20-29 ends past the end of chr1 (length 28)"),
        (["1:1-10"], "contig '1' not in tiny.fa; did you mean 'chr1'?"),
        (["chr1:10"], "malformed region 'chr1:10': expected chrom:start-end (1-based, inclusive"),
        (["chr1:0-5"], "start must be 1 or more"),
        (["chr1:1-2", "--strand", "x"], "strand must be '+' or '-', got 'x'"),
        ([], "give at least one REGION or --bed FILE"),
        (["chr1:1-2", "--width", "-1"], "line width must be 0"),
    ],
)
def test_bad_region_or_option(tiny, args, message):
    assert message in fetch_error(tiny, *args)


def test_chr_prefix_suggestion_the_other_way(tmp_path):
    path = tmp_path / "g.fa"
    path.write_text(">20\nACGT\n")
    assert fetch_error(path, "chr20:1-2") == "error: contig 'chr20' not in g.fa; did you mean '20'?"


def test_read_only_folder_without_index(tiny, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tiny.parent else real_access(p, mode))
    line = fetch_error(tiny, "chr1:1-2")
    assert "index tiny.fa.fai is missing and the folder is read-only" in line and "samtools faidx" in line


@pytest.mark.parametrize(
    ("bed_text", "message"),
    [
        ("chr1\t0\n", "r.bed: line 1: 2 columns, expected at least 3"),
        ("chr1\t0\t100\n", "r.bed: interval chr1:1-100: region chr1:1-100 ends past the end of chr1 (length 28)"),
        ("1\t0\t10\n", "r.bed: interval 1:1-10: contig '1' not in tiny.fa; did you mean 'chr1'?"),
    ],
)
def test_bad_bed(tiny, tmp_path, bed_text, message):
    bed = tmp_path / "r.bed"
    bed.write_text(bed_text)
    assert message in fetch_error(tiny, "--bed", bed)
