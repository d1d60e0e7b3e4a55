"""Scanning with plain scorer functions: stitching, strands, N windows, calls and summits, outputs
(BED6, narrowPeak, bedGraph, bigWig), streaming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqformer.io import Genome, read_bed
from seqformer.io.regions import Region
from seqformer.predict.scan import Segment, Stitcher, call_peaks, scan_genome, scan_segments
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
        scan_genome(broken, genome, "chr1", tmp_path / "c.bed", window=8, bedgraph=tmp_path / "t.bg",
                    narrowpeak=tmp_path / "c.narrowPeak", bigwig=tmp_path / "t.bw")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.fa", "g.fa.fai"]


def track(*rows, strand="+"):
    """Hand-made segments: (start, end, value[, best window score, strand])."""
    return [Segment(r[0], r[1], r[2], r[3] if len(r) > 3 else r[2], r[4] if len(r) > 4 else strand) for r in rows]


def test_calls_merge_touching_segments_and_take_the_summit_of_the_first_top_stretch():
    segments = track((0, 4, 0.2), (4, 6, 0.6), (6, 10, 0.9, 0.95, "-"), (10, 12, 0.9), (12, 14, 0.7, 0.99, "+"),
                     (14, 16, 0.3), (16, 20, 0.8), (22, 25, 0.8))  # a gap at [20, 22): a separate call
    calls = list(call_peaks("c", iter(segments), 0.5))
    assert [(c.start, c.end, c.summit) for c in calls] == [(4, 14, 9), (16, 20, 18), (22, 25, 23)]
    # [6, 12) is the one stretch at 0.9 (two segments): its middle base (6 + 12) // 2
    assert calls[0].peak == 0.9 and calls[0].strand == "+"  # strand of the best window (0.99) covering the call
    assert calls[0].bed_score == 900


def test_summit_ties_and_rounding():
    # two stretches at the top score: the first one's middle
    calls = list(call_peaks("c", iter(track((0, 2, 0.9), (2, 4, 0.5), (4, 8, 0.9))), 0.5))
    assert [(c.start, c.end, c.summit) for c in calls] == [(0, 8, 1)]
    # scores equal at the track's 4 decimals are one stretch; the peak keeps the unrounded maximum
    calls = list(call_peaks("c", iter(track((10, 13, 0.70001), (13, 20, 0.700012), (20, 21, 0.6))), 0.5))
    assert [(c.start, c.end, c.summit, c.peak) for c in calls] == [(10, 21, 15, 0.700012)]
    # a one-base call, a call at the threshold exactly, and nothing below it
    calls = list(call_peaks("c", iter(track((0, 1, 0.5), (1, 5, 0.4), (5, 6, 0.45))), 0.45))
    assert [(c.start, c.end, c.summit) for c in calls] == [(0, 1, 0), (5, 6, 5)]
    assert list(call_peaks("c", iter(track((0, 5, 0.1))), 0.5)) == []


def test_narrowpeak_columns(genome, tmp_path):
    out, peaks, bedgraph = tmp_path / "calls.bed", tmp_path / "calls.narrowPeak", tmp_path / "t.bedgraph"
    scan_genome(g_fraction, genome, "chr4:1-40", out, window=8, stride=2, threshold=0.3, narrowpeak=peaks,
                bedgraph=bedgraph)
    rows = lines(peaks)
    assert rows == [["chr4", "0", "10", "promoter", "1000", "+", "1", "-1", "-1", "1"],
                    ["chr4", "14", "22", "promoter", "438", "-", "0.4375", "-1", "-1", "4"],
                    ["chr4", "28", "40", "promoter", "1000", "+", "1", "-1", "-1", "10"]]
    assert [row[:6] for row in rows] == lines(out)  # BED6 + 4
    track_rows = [(int(r[1]), int(r[2]), float(r[3])) for r in lines(bedgraph)[1:]]
    for row in rows:  # the summit: middle of the first track row at the call's top value
        start, end = int(row[1]), int(row[2])
        inside = [r for r in track_rows if start <= r[0] < end]
        top = max(r[2] for r in inside)
        first = next(r for r in inside if r[2] == top)
        assert start + int(row[9]) == (first[0] + first[1]) // 2 and float(row[6]) == top


def test_bigwig_reads_back_as_the_bedgraph(genome, tmp_path):
    import pyBigWig

    bedgraph, bigwig = tmp_path / "t.bedgraph", tmp_path / "t.bw"
    scan_genome(g_fraction, genome, "chr4:5-40", tmp_path / "c.bed", window=8, stride=2, bedgraph=bedgraph,
                bigwig=bigwig)
    expected = [(int(r[1]), int(r[2]), float(r[3])) for r in lines(bedgraph)[1:]]
    handle = pyBigWig.open(str(bigwig))
    try:
        assert handle.isBigWig() and handle.chroms() == {name: len(seq) for name, seq in CONTIGS.items()}
        got = handle.intervals("chr4")
        assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in expected] and expected[0][0] == 4
        np.testing.assert_allclose([v for *_, v in got], [v for *_, v in expected], rtol=1e-6)
        assert handle.intervals("chr1") is None
    finally:
        handle.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.bed", "g.fa", "g.fa.fai", "t.bedgraph", "t.bw"]


def test_bigwig_of_a_region_with_no_scored_window_is_empty_but_valid(genome, tmp_path):
    import pyBigWig

    result = scan_genome(g_fraction, genome, "chr2:1-12", tmp_path / "c.bed", window=8, stride=4,
                         bigwig=tmp_path / "t.bw", narrowpeak=tmp_path / "c.np")
    assert (result.scored, result.calls) == (0, 0) and (tmp_path / "c.np").read_text() == ""
    handle = pyBigWig.open(str(tmp_path / "t.bw"))
    assert handle.chroms("chr2") == 20 and handle.intervals("chr2") is None
    handle.close()
