"""Pre-cut FASTA headers, peak coverage, and the chromatin window builder (data_prep.chromatin)."""

from __future__ import annotations

import random
import re

import numpy as np
import pandas as pd
import pytest

from data_prep.chromatin import ChromatinDataParams, PeakCoverage, build_chromatin_dataset, target_name
from seqformer.io.precut import read_precut
from seqformer.data.windows import load_window_splits, read_window_data
from seqformer.errors import InputError
from seqformer.io import reverse_complement

rng = random.Random(7)
CHR2L = "".join(rng.choice("ACGT") for _ in range(300))
CHRX = "".join(rng.choice("ACGT") for _ in range(100))
CHRU = "".join(rng.choice("ACGT") for _ in range(60))


def write_fasta(path, records):
    path.write_text("".join(f">{header}\n{seq}\n" for header, seq in records))
    return path


@pytest.fixture
def precut(tmp_path):
    """Biostrings-style upstream records (1-based inclusive headers, _f/_r ids) over three contigs."""
    return write_fasta(tmp_path / "up.fa", [
        ("a_up_f chr2L:1-100", CHR2L[0:100].lower()),
        ("b_up_r chr2L:51-150", reverse_complement(CHR2L[50:150])),
        ("c_up_f chr2L:201-300", CHR2L[200:300]),
        ("d_up_f chrX:1-100", CHRX),
        ("e_up_f chrU:1-60", CHRU),
        ("f_up_f chr2L:-9-40", CHR2L[0:40]),  # ran off the contig start: clipped to [0, 40)
    ])


@pytest.fixture
def peaks(tmp_path):
    (tmp_path / "A.bed").write_text('track name="A"\nchr2L\t50\t52\nchr2L\t228\t233\n')
    (tmp_path / "B.bed.gz").write_bytes(__import__("gzip").compress(b"chr2L\t100\t101\nchr2L\t120\t140\n"))
    return [tmp_path / "A.bed", tmp_path / "B.bed.gz"]


PARAMS = ChromatinDataParams(window=50, bin=10, stride=25, holdout_chroms=("chrX",),
                             val_regions=("chr2L:76-150",), test_regions=("chr2L:201-300",))


def test_headers_one_based_clipped_and_minus_strand(precut):
    records, coords = read_precut(precut)
    assert coords == "one-based"
    by_id = {r.id: r for r in records}
    assert (by_id["a_up_f"].start, by_id["a_up_f"].end, by_id["a_up_f"].strand) == (0, 100, "+")
    assert (by_id["b_up_r"].start, by_id["b_up_r"].end, by_id["b_up_r"].strand) == (50, 150, "-")
    assert (by_id["f_up_f"].start, by_id["f_up_f"].end) == (0, 40) and by_id["f_up_f"].clipped
    assert reverse_complement(by_id["b_up_r"].seq) == CHR2L[50:150]


def test_headers_zero_based_and_bedtools_strand(tmp_path):
    path = write_fasta(tmp_path / "p.fa", [("chr1:10-20", "ACGTACGTAC"), ("x chr1:30-34(-)", "ACGT")])
    records, coords = read_precut(path)
    assert coords == "zero-based"
    assert [(r.start, r.end, r.strand) for r in records] == [(10, 20, "+"), (30, 34, "-")]


@pytest.mark.parametrize(("records", "message"), [
    ([("r1", "ACGT")], "carries no coordinates"),
    ([("r1 chr1:1-10", "ACGT")], "spans neither 10 bases (1-based, inclusive) nor 9"),
    ([("r1 chr1:1-4", "ACGT"), ("r2 chr1:10-14", "ACGT")], "records disagree"),
])
def test_header_errors_name_the_record(tmp_path, records, message):
    with pytest.raises(InputError, match=re.escape(message)) as err:
        read_precut(write_fasta(tmp_path / "p.fa", records))
    assert "p.fa" in str(err.value)


def test_forced_convention_checks_lengths(tmp_path):
    path = write_fasta(tmp_path / "p.fa", [("r1 chr1:1-4", "ACGT")])
    with pytest.raises(InputError, match="spans 3 bases, but the record holds 4"):
        read_precut(path, coords="zero-based")


def test_peak_coverage_matches_a_per_base_count():
    r = np.random.default_rng(3)
    starts = r.integers(0, 500, 40)
    peaks = pd.DataFrame({"chrom": "c", "start": starts, "end": starts + r.integers(1, 30, 40)})
    covered = np.zeros(600, bool)
    for s, e in zip(peaks["start"], peaks["end"]):
        covered[s:e] = True
    a = r.integers(0, 550, 200)
    b = a + r.integers(0, 50, 200)
    expected = [covered[x:y].sum() for x, y in zip(a, b)]
    np.testing.assert_array_equal(PeakCoverage(peaks).covered("c", a, b), expected)
    assert PeakCoverage(peaks).covered("other", a[:3], b[:3]).tolist() == [0, 0, 0]


def test_target_names():
    assert [target_name(p) for p in ("x/CTCF_Kc.bed", "y.narrowPeak.gz", "z.bed.gz")] == ["CTCF_Kc", "y", "z"]


def test_windows_labels_splits_and_drops_by_hand(precut, peaks, tmp_path):
    result = build_chromatin_dataset(precut, peaks, tmp_path / "data", PARAMS)
    data = read_window_data(tmp_path / "data")
    table = data.table
    assert data.targets == ("A", "B") and data.window == 50
    # chr2L windows [0,50) [25,75) [50,100) | [50,100) again from b | [75,125) [100,150) | [200,250) [225,275) [250,300)
    assert list(zip(table["start"], table["end"], table["split"])) == [
        (0, 50, "train"), (25, 75, "train"), (75, 125, "val"), (100, 150, "val"),
        (200, 250, "test"), (225, 275, "test"), (250, 300, "test")]
    assert result.dropped == {"records_shorter_than_window": 1, "duplicate_windows": 1, "holdout_contigs": 3,
                              "unassayed_contigs": 2, "too_many_n": 0, "straddling_splits": 1}
    # central bins [20,30) [45,55) [95,105) [120,130) [220,230) [245,255) [270,280)
    assert table["A"].tolist() == [0, 1, 0, 0, 1, 0, 0]
    assert table["B"].tolist() == [0, 0, 1, 1, 0, 0, 0]
    assert result.counts["val"] == {"windows": 2, "A": 0, "B": 2}


def test_minus_strand_records_are_read_on_the_forward_strand(precut, peaks, tmp_path):
    build_chromatin_dataset(precut, peaks, tmp_path / "data", PARAMS)
    splits = load_window_splits(tmp_path / "data")
    for split in splits.values():
        for seq, (start, end) in zip(split.seqs, zip(split.rows["start"], split.rows["end"])):
            assert seq == CHR2L[start:end]
    rows = splits["val"].rows
    assert rows["record"].tolist() == ["b_up_r", "b_up_r"] and rows["strand"].tolist() == ["-", "-"]


def test_min_overlap(precut, peaks, tmp_path):
    params = ChromatinDataParams(**{**PARAMS.__dict__, "min_overlap": 3})
    build_chromatin_dataset(precut, peaks, tmp_path / "data", params)
    table = read_window_data(tmp_path / "data").table
    assert table["A"].tolist() == [0] * 7  # both A overlaps are 2 bases
    assert table["B"].tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_genome_mode_tiles_regions(tmp_path, peaks):
    genome = write_fasta(tmp_path / "g.fa", [("chr2L", CHR2L)])
    params = ChromatinDataParams(window=50, bin=10, stride=50, regions=("chr2L:1-200",),
                                 val_regions=("chr2L:101-150",), test_regions=("chr2L:151-200",))
    build_chromatin_dataset(genome, peaks, tmp_path / "data", params)
    splits = load_window_splits(tmp_path / "data")
    assert [len(splits[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert splits["val"].seqs == [CHR2L[100:150]] and splits["val"].labels.tolist() == [[0, 1]]


def test_errors_write_nothing(precut, peaks, tmp_path):
    (tmp_path / "C.bed").write_text("2L\t5\t9\n")
    out = tmp_path / "data"
    with pytest.raises(InputError, match="contig '2L' not in up.fa; did you mean 'chr2L'"):
        build_chromatin_dataset(precut, [*peaks, tmp_path / "C.bed"], out, PARAMS)
    (tmp_path / "D.bed").write_text("track name=x\n")
    with pytest.raises(InputError, match="no peaks"):
        build_chromatin_dataset(precut, [tmp_path / "D.bed"], out, PARAMS)
    with pytest.raises(InputError, match="same target name 'A'"):
        build_chromatin_dataset(precut, [peaks[0], peaks[0]], out, PARAMS)
    with pytest.raises(InputError, match="--bin must be between 1 and the window"):
        build_chromatin_dataset(precut, peaks, out, ChromatinDataParams(window=50, bin=60))
    with pytest.raises(InputError, match="no windows left"):
        build_chromatin_dataset(precut, peaks, out, ChromatinDataParams(window=500))
    assert not out.exists()
