"""BED and bedGraph reading, sorting and writing."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from seqformer.errors import InputError
from seqformer.io import BED_COLUMNS, Region, bed_regions, read_bed, sort_bed, write_bed, write_bedgraph

TINY = Path(__file__).parent / "data" / "io" / "tiny.bed"


def test_read_bed6():
    df = read_bed(TINY)
    assert list(df.columns) == BED_COLUMNS
    assert df["start"].dtype == "int64" and df["end"].dtype == "int64"
    assert df["chrom"].tolist() == ["chr10", "chr2", "chr1", "chrX"]
    assert df["start"].tolist() == [5, 0, 3, 1]
    assert df["strand"].tolist() == ["-", "+", ".", "+"]
    assert df["score"].tolist()[0] == 7 and math.isnan(df["score"].tolist()[1])


def test_sort_natural_order():
    df = pd.DataFrame({"chrom": ["chrX", "chr10", "chr2", "chr1", "chr2"], "start": [0, 0, 9, 5, 3],
                       "end": [1, 1, 10, 6, 4]})
    out = sort_bed(df)
    assert list(zip(out["chrom"], out["start"])) == [("chr1", 5), ("chr2", 3), ("chr2", 9), ("chr10", 0), ("chrX", 0)]
    assert list(out.index) == [0, 1, 2, 3, 4]


def test_write_bed_sorted_round_trip(tmp_path):
    path = tmp_path / "out.bed"
    write_bed(read_bed(TINY), path)
    assert path.read_text() == (
        "chr1\t3\t6\tp1\t1.5\t.\n"
        "chr2\t0\t4\tp2\t.\t+\n"
        "chr10\t5\t9\tp3\t7.0\t-\n"
        "chrX\t1\t2\tp4\t0.0\t+\n"
    )
    pd.testing.assert_frame_equal(read_bed(path), sort_bed(read_bed(TINY)))


def test_bed3_extra_columns_and_gap_filling(tmp_path):
    source = tmp_path / "in.bed"
    source.write_text("chr1 10 20\nchr1 0 5\n")  # whitespace-separated
    df = read_bed(source)
    assert list(df.columns) == ["chrom", "start", "end"]
    (tmp_path / "scored.bed").write_text("chr1\t0\t5\tn\t7\nchr1\t0\t5\tn\t.\n")
    scored = read_bed(tmp_path / "scored.bed")
    assert scored["score"].dtype == "Int64" and scored["score"].tolist()[0] == 7
    write_bed(scored, tmp_path / "scored_out.bed")
    assert (tmp_path / "scored_out.bed").read_text() == "chr1\t0\t5\tn\t7\nchr1\t0\t5\tn\t.\n"
    write_bed(df.assign(strand=["+", "-"], signal=[1, 2]), tmp_path / "out.bed")
    assert (tmp_path / "out.bed").read_text() == "chr1\t0\t5\t.\t0\t-\t2\nchr1\t10\t20\t.\t0\t+\t1\n"


def test_wide_bed_names_extra_columns(tmp_path):
    path = tmp_path / "wide.bed"
    path.write_text("chr1\t0\t5\tn\t0\t+\t0\t5\n")
    assert list(read_bed(path).columns) == BED_COLUMNS + ["col7", "col8"]


def test_write_bedgraph(tmp_path):
    df = pd.DataFrame({"chrom": ["chr10", "chr2"], "start": [0, 5], "end": [5, 10], "value": [0.5, 2.0]})
    write_bedgraph(df, tmp_path / "x.bedgraph", track_name="signal")
    assert (tmp_path / "x.bedgraph").read_text() == (
        'track type=bedGraph name="signal"\nchr2\t5\t10\t2.0\nchr10\t0\t5\t0.5\n'
    )


def test_header_only_bed_is_empty_frame(tmp_path):
    path = tmp_path / "h.bed"
    path.write_text("track name=x\nbrowser position chr1:1-10\n")
    df = read_bed(path)
    assert len(df) == 0 and list(df.columns) == ["chrom", "start", "end"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("chr1\t5\n", "line 1: 2 columns, expected at least 3"),
        ("#h\nchr1\t0\t5\nchr1\t0\t5\tx\n", "line 3: 4 columns, expected 3 as on line 2"),
        ("chr1\t0\t5\nchr1\t-1\t5\n", "line 2: start '-1' is not a whole number >= 0"),
        ("chr1\t0\t5.5\n", "line 1: end '5.5' is not a whole number >= 0"),
        ("chr1\t9\t5\n", "line 1: end 5 is before start 9"),
        ("chr1\t0\t5\tn\t0\t+\nchr1\t0\t5\tn\t0\tx\n", "line 2: strand 'x' is not \\+, - or ."),
    ],
)
def test_bad_bed(tmp_path, text, message):
    path = tmp_path / "bad.bed"
    path.write_text(text)
    with pytest.raises(InputError, match=f"bad.bed: {message}"):
        read_bed(path)


def test_bed_regions_checks_against_contigs():
    df = read_bed(TINY)
    targets = bed_regions(df, {"chr1": 10, "chr2": 10, "chr10": 10, "chrX": 10}, strand="-")
    assert targets[0] == (Region("chr10", 5, 9), "-")
    assert targets[2] == (Region("chr1", 3, 6), "-")  # '.' takes the default strand
    with pytest.raises(InputError, match=r"tiny.bed: interval chr10:6-9: contig 'chr10' not in g.fa"):
        bed_regions(df, {"chr1": 10}, path=TINY, source="g.fa")
