"""VCF records to checked alleles: multi-allelic splits, skip reasons, REF checks, contig matching."""

from __future__ import annotations

import pytest
from variants_helpers import copy_fixtures

from seqformer.io import Genome, read_vcf
from seqformer.variants.alleles import AlleleCounts, ContigMatcher, checked_alleles, skip_report


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    return copy_fixtures(tmp_path_factory.mktemp("alleles"))


def run(fixtures, vcf="variants.vcf", window=20, max_allele=50):
    counts = AlleleCounts()
    with Genome(fixtures / "genome.fa") as genome:
        matcher = ContigMatcher(genome.contigs)
        records = list(checked_alleles(read_vcf(fixtures / vcf), genome, counts, matcher, window=window,
                                       max_allele=max_allele))
    return records, counts, matcher


def test_checked_alleles(fixtures):
    records, counts, matcher = run(fixtures)
    scored = [(a.vcf_chrom, a.pos + 1, a.id, a.ref, a.alt, a.alt_index, a.trimmed())
              for _, alleles in records for a in alleles]
    assert scored == [
        ("chr1", 30, "sym", "A", "C", 0, (29, "A", "C")),  # its <DEL> ALT is skipped
        ("chr1", 40, "multi", "GA", "AA", 0, (39, "G", "A")),  # split, and trimmed to the SNV
        ("chr1", 40, "multi", "GA", "G", 1, (39, "GA", "G")),
        ("chr1", 50, "rs1", "C", "A", 0, (49, "C", "A")),
        ("chr1", 60, "ins1", "T", "TTT", 0, (59, "T", "TTT")),
        ("chr1", 70, "del1", "TCA", "T", 0, (69, "TCA", "T")),
        ("chr2", 2, "start", "T", "A", 0, (1, "T", "A")),
        ("chr2", 29, "end", "C", "A", 0, (28, "C", "A")),
    ]
    assert [len(v.alts) for v, _ in records] == [1, 1, 2, 2, 1, 1, 1, 0, 1, 1, 1]
    assert (counts.records, counts.alleles, counts.scored) == (11, 13, 8)
    assert dict(counts.skipped) == {"long": 1, "ref_mismatch": 1, "symbolic": 1, "no_alt": 1, "contig": 1}
    assert counts.mismatches == ["chr1:20 REF A but the genome has G"]
    assert matcher.missing == {"chr3"} and matcher.renamed == {}


def test_short_limit(fixtures):
    """The 26-base deletion is scored once the limit and the window allow it; the window alone limits too."""
    _, counts, _ = run(fixtures, window=30, max_allele=26)
    assert counts.scored == 9 and "long" not in counts.skipped
    _, counts, _ = run(fixtures, window=25, max_allele=50)
    assert counts.scored == 8 and counts.skipped["long"] == 1


def test_ref_past_contig_end(tmp_path, fixtures):
    (tmp_path / "genome.fa").write_bytes((fixtures / "genome.fa").read_bytes())
    (tmp_path / "v.vcf").write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                                    "chr2\t30\t.\tCA\tC\t.\t.\t.\nchr2\t31\t.\tA\tC\t.\t.\t.\n")
    records, counts, _ = run(tmp_path, "v.vcf")
    assert counts.skipped == {"off_contig": 2} and counts.scored == 0 and counts.mismatches == []
    assert "skipped 2 allele(s): REF runs past the end of its contig in genome.fa" in skip_report(
        counts, ContigMatcher({"chr2": 30}), "genome.fa")


def test_contig_rename(tmp_path, fixtures):
    (tmp_path / "genome.fa").write_bytes((fixtures / "genome.fa").read_bytes())
    (tmp_path / "v.vcf").write_text((fixtures / "variants.vcf").read_text().replace("chr", ""))
    records, counts, matcher = run(tmp_path, "v.vcf")
    assert matcher.renamed == {"1": "chr1", "2": "chr2"} and matcher.missing == {"3"}
    assert counts.scored == 8
    alleles = [a for _, scorable in records for a in scorable]
    assert {(a.vcf_chrom, a.chrom) for a in alleles} == {("1", "chr1"), ("2", "chr2")}
    report = skip_report(counts, matcher, "genome.fa")
    assert report[:2] == ["contig '1' in the VCF read as 'chr1' of genome.fa",
                          "contig '2' in the VCF read as 'chr2' of genome.fa"]
    assert "skipped 1 allele(s): on contigs not in genome.fa: 3 (the genome has chr1, chr2)" in report


@pytest.mark.parametrize("name, contigs, expected", [
    ("20", ["chr20"], "chr20"),
    ("chr20", ["20"], "20"),
    ("chr20", ["chr20", "20"], "chr20"),  # the exact name wins
    ("MT", ["chrM"], "chrM"),
    ("chrM", ["MT", "chr1"], "MT"),
    ("MT", ["chrM", "M"], None),  # two aliases present: ambiguous
    ("X", ["chr1"], None),
    ("chr2", ["chr22"], None),  # no fuzzy matching
])
def test_contig_matcher(name, contigs, expected):
    matcher = ContigMatcher(dict.fromkeys(contigs, 100))
    assert matcher(name) == expected
    assert matcher.renamed == ({name: expected} if expected not in (None, name) else {})
