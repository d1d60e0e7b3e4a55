"""Indexed genome access: fetch on both strands, BGZF, CRLF, indexes and input errors."""

from __future__ import annotations

import gzip
import os
import pickle
import random
import shutil
from pathlib import Path

import pytest
from Bio import bgzf

from seqformer.errors import InputError
from seqformer.io import Genome, Region

TINY = Path(__file__).parent / "data" / "io" / "tiny.fa"
CHR1 = "ACGTACGTAACCGGTTAANNACGTRYKM"  # tiny.fa's chr1, soft-masking removed


def write_bgzf(path: Path, data: bytes) -> Path:
    with bgzf.BgzfWriter(path, "wb") as handle:
        handle.write(data)
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    """tiny.fa copied where its index may be built."""
    return Path(shutil.copy(TINY, tmp_path / "tiny.fa"))


@pytest.fixture(params=["plain", "crlf", "bgzf", "bgzf_crlf"])
def any_tiny(request, tmp_path) -> Path:
    """tiny.fa as plain, CRLF, BGZF and BGZF CRLF."""
    data = TINY.read_bytes()
    if "crlf" in request.param:
        data = data.replace(b"\n", b"\r\n")
    if "bgzf" in request.param:
        return write_bgzf(tmp_path / "tiny.fa.gz", data)
    (tmp_path / "tiny.fa").write_bytes(data)
    return tmp_path / "tiny.fa"


def test_contigs_in_file_order(any_tiny):
    with Genome(any_tiny) as genome:
        assert genome.contigs == {"chr1": 28, "chr2": 7}
        assert list(genome.contigs) == ["chr1", "chr2"]
        assert genome.path == any_tiny


@pytest.mark.parametrize(
    ("chrom", "start", "end", "plus", "minus"),
    [
        ("chr1", 8, 14, "AACCGG", "CCGGTT"),  # across a line break
        ("chr1", 18, 28, "NNACGTRYKM", "KMRYACGTNN"),  # soft-masked and IUPAC, to the end
        ("chr1", 0, 1, "A", "T"),
        ("chr2", 0, 7, "GATTACA", "TGTAATC"),
        ("chr2", 3, 3, "", ""),
    ],
)
def test_fetch_both_strands(any_tiny, chrom, start, end, plus, minus):
    with Genome(any_tiny) as genome:
        assert genome.fetch(chrom, start, end) == plus
        assert genome.fetch(chrom, start, end, strand="-") == minus
        assert genome.fetch_region(Region(chrom, start, end), "-") == minus


def test_whole_contig_and_region_text(tiny):
    with Genome(tiny) as genome:
        assert genome.fetch("chr1", 0, 28) == CHR1
        assert genome.region("chr1:9-14") == Region("chr1", 8, 14)
        assert genome.region("chr2") == Region("chr2", 0, 7)
        records = list(genome.records([(Region("chr1", 8, 14), "+"), (Region("chr1", 8, 14), "-")]))
        assert [(r.id, r.seq) for r in records] == [("chr1:9-14", "AACCGG"), ("chr1:9-14(-)", "CCGGTT")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("chr1", 20, 29), r"region chr1:21-29 ends past the end of chr1 \(length 28\)"),
        (("chr1", -1, 5), "region chr1:0-5 starts before position 1"),
        (("chr1", 5, 4), "ends before it starts"),
        (("1", 0, 5), "contig '1' not in tiny.fa; did you mean 'chr1'?"),
        (("chr1", 0, 5, "+1"), "strand must be '\\+' or '-'"),
    ],
)
def test_fetch_errors(tiny, args, message):
    with Genome(tiny) as genome, pytest.raises(InputError, match=message):
        genome.fetch(*args)


def test_fetch_reports_invalid_base_position(tmp_path):
    path = tmp_path / "bad.fa"
    path.write_text(">chr1\nACGTA\nCGUAC\n")
    with Genome(path) as genome:
        assert genome.fetch("chr1", 0, 5) == "ACGTA"
        with pytest.raises(InputError) as err:
            genome.fetch("chr1", 4, 10)
    assert str(err.value) == f"{path}, record 'chr1', position 8: invalid DNA character 'U' " \
        "(allowed: ACGT, N and IUPAC codes RYSWKMBDHV)"


def test_index_built_beside_fasta(any_tiny):
    Genome(any_tiny).close()
    assert Path(f"{any_tiny}.fai").exists()
    assert Path(f"{any_tiny}.gzi").exists() == any_tiny.name.endswith(".gz")


def test_read_only_folder_without_index(tiny, monkeypatch):
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tiny.parent else real_access(p, mode))
    with pytest.raises(InputError, match=r"index tiny.fa.fai is missing and the folder is read-only; .*samtools faidx"):
        Genome(tiny)
    assert not Path(f"{tiny}.fai").exists()


def test_read_only_folder_with_index(tiny, monkeypatch):
    Genome(tiny).close()
    monkeypatch.setattr(os, "access", lambda p, mode: False)
    with Genome(tiny) as genome:
        assert genome.fetch("chr2", 0, 3) == "GAT"


def test_plain_gzip_is_refused_with_bgzip_advice(tmp_path):
    path = tmp_path / "tiny.fa.gz"
    path.write_bytes(gzip.compress(TINY.read_bytes()))
    with pytest.raises(InputError, match=r"plain gzip, .*BGZF.*`zcat tiny.fa.gz \| bgzip > tiny.bgz.fa.gz`"):
        Genome(path)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("missing.fa", None, "file not found"),
        ("empty.fa", b"", "file is empty"),
        ("blank.fa", b"\n  \n", "file is empty"),
        ("text.fa", b"chr1 ACGT\n", "not a FASTA file: it starts with 'c', not '>'"),
        ("noseq.fa", b">chr1\nACGT\n>chr2\n>chr3\nAC\n", "record 'chr2': record 2 has no sequence"),
        ("ragged.fa", b">chr1\nACGT\nAC\nACGT\n", "cannot index: .*same length"),
        ("dup.fa", b">chr1\nACGT\n>chr1\nAC\n", "cannot index: .*chr1"),
        ("plain.fa.gz", b">chr1\nACGT\n", "not compressed, but its name ends in .gz"),
    ],
)
def test_bad_fasta(tmp_path, name, data, message):
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        Genome(path)
    assert not Path(f"{path}.fai").exists()  # no index left behind


def test_bgzf_without_gz_name(tmp_path):
    path = write_bgzf(tmp_path / "tiny.fa", TINY.read_bytes())
    with pytest.raises(InputError, match="BGZF-compressed, but its name does not end in .gz"):
        Genome(path)


def test_bgzf_reads_starting_at_a_block_boundary(tmp_path):
    """Biopython writes 64 KiB blocks; pyfaidx alone fails on a read starting a block."""
    seq = "".join(random.Random(0).choices("ACGT", k=130_000))
    data = (">chr1\n" + "\n".join(seq[i:i + 63] for i in range(0, len(seq), 63)) + "\n").encode()
    path = write_bgzf(tmp_path / "big.fa.gz", data)
    start = len(data[:65536].split(b"\n", 1)[1].replace(b"\n", b""))  # the base at byte 65536
    assert data[65536:65537].decode() == seq[start]
    with Genome(path) as genome:
        assert genome.fetch("chr1", start, start + 100) == seq[start:start + 100]
        assert genome.fetch("chr1", 0, len(seq)) == seq


def test_pickle_reopens(tiny):
    with Genome(tiny) as genome:
        clone = pickle.loads(pickle.dumps(genome))
    assert clone.fetch("chr1", 8, 14) == "AACCGG"
    clone.close()
