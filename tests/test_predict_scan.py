"""Scanning with plain scorer functions: stitching, strands, N windows, outputs, streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqformer.io import Genome, read_bed
from seqformer.io.regions import Region
from seqformer.predict.scan import Stitcher, scan_genome, scan_segments
from seqformer.predict.windows import tile

CONTIGS = {
    # window 8, stride 4: windows [0,8) G*8, [4,12) G4A4, [8,16) A*8, [12,20) A4C4
    "chr1": "G" * 8 + "A" * 8 + "C" * 4,
    # [0,8) all N and [4,12) 6/8 N are skipped; [8,16) 2/8 N and [12,20) are scored
    "chr2": "N" * 10 + "G" * 10,
    # TATAAT only on the minus strand (ATTATA on +), in the middle
    "chr3": "C" * 10 + "ATTATA" + "C" * 10,
    # three G- or C-rich stretches -> three calls
    "chr4": "G" * 8 + "A" * 8 + "C" * 4 + "A" * 10 + "G" * 10,
}


def g_fraction(seqs):
    """Probability = fraction of G; on the reverse complement that is the forward strand's C."""
    return np.array([s.count("G") / len(s) for s in seqs])


@pytest.fixture
def genome(tmp_path) -> Genome:
    fasta = tmp_path / "g.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in CONTIGS.items()))
    with Genome(fasta) as opened:
        yield opened


def lines(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_stitching_merging_and_calls_exact(genome, tmp_path):
    out, track = tmp_path / "calls.bed", tmp_path / "track.bedgraph"
    result = scan_genome(g_fraction, genome, "chr1", out, window=8, stride=4, threshold=0.5, bedgraph=track,
                         batch_size=3)
    # windows: 1.0 (+), 0.5 (+), 0.0 (+), 0.5 (-); per base mean of covering windows
    assert lines(track)[1:] == [["chr1", "0", "4", "1"], ["chr1", "4", "8", "0.75"],
                                ["chr1", "8", "16", "0.25"], ["chr1", "16", "20", "0.5"]]
    assert lines(out) == [["chr1", "0", "8", "promoter", "1000", "+"],
                          ["chr1", "16", "20", "promoter", "500", "-"]]
    assert (result.windows, result.scored, result.skipped, result.calls, result.called_bases) == (4, 4, 0, 2, 12)
    assert result.max_batch == 3


def test_bed_output_is_sorted_bed6_with_int_scores(genome, tmp_path):
    out = tmp_path / "calls.bed"
    scan_genome(g_fraction, genome, "chr4:1-40", out, window=8, stride=2, threshold=0.3)
    bed = read_bed(out)
    assert list(bed.columns) == ["chrom", "start", "end", "name", "score", "strand"]
    assert bed["score"].between(0, 1000).all() and str(bed["score"].dtype) == "Int64"
    starts, ends = bed["start"].to_numpy(), bed["end"].to_numpy()
    assert (starts[1:] >= ends[:-1]).all()  # sorted, disjoint
    assert lines(out) == [["chr4", "0", "10", "promoter", "1000", "+"], ["chr4", "14", "22", "promoter", "438", "-"],
                          ["chr4", "28", "40", "promoter", "1000", "+"]]
    assert set(bed["strand"]) <= {"+", "-"}


def test_mostly_n_windows_are_skipped_unscored(genome, tmp_path):
    seen = []

    def scorer(seqs):
        seen.extend(seqs)
        return g_fraction(seqs)

    track = tmp_path / "t.bedgraph"
    result = scan_genome(scorer, genome, "chr2", tmp_path / "c.bed", window=8, stride=4, bedgraph=track)
    assert (result.scored, result.skipped) == (2, 2)
    assert seen == ["NNGGGGGG", "GGGGGG" + "G" * 2, "CCCCCCNN", "CCCCCCCC"]  # + batch, then - batch
    # windows [8,16) = 0.75 and [12,20) = 1.0; nothing before base 8 has a score
    assert lines(track)[1:] == [["chr2", "8", "12", "0.75"], ["chr2", "12", "16", "0.875"], ["chr2", "16", "20", "1"]]


def test_motif_on_one_strand_calls_that_strand(genome, tmp_path):
    def tataat(seqs):
        return np.array([1.0 if "TATAAT" in s else 0.0 for s in seqs])

    out = tmp_path / "c.bed"
    scan_genome(tataat, genome, "chr3", out, window=8, stride=2, threshold=0.5)
    # only windows starting at 8 and 10 hold all of ATTATA ([10,16)), and only on the - strand; each
    # base is covered by 4 windows, so bases [10,16) (covered by both) score 2/4 and [8,10), [16,18) 1/4
    assert lines(out) == [["chr3", "10", "16", "promoter", "500", "-"]]


def test_scan_is_streaming_with_bounded_buffers():
    class LongGenome:
        def fetch(self, chrom, start, end, strand="+"):
            return "ACGT" * ((end - start) // 4) + "ACGT"[: (end - start) % 4]

    batches = []

    def scorer(seqs):
        batches.append(len(seqs))
        return np.full(len(seqs), 0.25)

    stitcher_sizes = []
    original = Stitcher.add

    def spy(self, *args):
        stitcher_sizes.append(len(self.active))
        return original(self, *args)

    Stitcher.add = spy
    try:
        segments = scan_segments(scorer, tile(LongGenome(), Region("c", 0, 200_000), 100, 25), batch_size=16)
        first = next(segments)  # a generator: the first segment comes before the region is read
        assert first.start == 0 and len(batches) == 2
        total = first.end - first.start + sum(s.end - s.start for s in segments)
    finally:
        Stitcher.add = original
    assert total == 200_000
    assert max(batches) == 16 and len(batches) == 2 * (7997 // 16 + 1)
    assert max(stitcher_sizes) <= 100 // 25 + 1


def test_failed_scan_leaves_no_outputs(genome, tmp_path):
    def broken(seqs):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        scan_genome(broken, genome, "chr1", tmp_path / "c.bed", window=8, bedgraph=tmp_path / "t.bg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.fa.fai"]
