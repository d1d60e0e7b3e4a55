"""The promoter dataset builder (data_prep.promoters): windows, negatives, GC matching, splits, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_prep.background import GC_BINS
from data_prep.background import match_gc as _match_gc
from data_prep.promoters import (
    PromoterDataParams,
    build_promoter_dataset,
    window_bounds,
)
from seqformer.data.windows import LEGACY_PROMOTER_FORMAT, read_window_data
from seqformer.errors import InputError
from seqformer.io import Genome, read_bed

SPLIT_OPTIONS = {"region": "chr20:1-6000", "val_region": "chr20:2001-4000", "test_region": "chr20:4001-6000"}


@pytest.fixture
def fixture(data_dir):
    folder = data_dir / "promoters"
    return folder / "genome.fa", folder / "tss.bed"


def build(fixture, out, **options):
    genome, tss = fixture
    params = PromoterDataParams(**{**SPLIT_OPTIONS, "min_distance": 300, **options})
    result = build_promoter_dataset(genome, tss, out, params)
    data = read_window_data(out)
    return result, data.table, data.meta


def test_window_bounds_are_strand_aware():
    starts, ends = window_bounds(np.array([1000, 1000]), np.array(["+", "-"]), 249, 50)
    assert starts.tolist() == [751, 950] and ends.tolist() == [1051, 1250]


def test_positive_windows_hand_computed(fixture, tmp_path):
    _, table, meta = build(fixture, tmp_path / "d")
    positives = table[table["promoter"] == 1].set_index("name")
    # + strand TSS at 1018: [1018 - 249, 1018 + 51); - strand TSS at 936: [936 - 50, 936 + 250).
    assert tuple(positives.loc["TSS_3767418_+", ["start", "end", "strand", "split"]]) == (769, 1069, "+", "train")
    assert tuple(positives.loc["TSS_3767336_-", ["start", "end", "strand", "split"]]) == (886, 1186, "-", "train")
    assert tuple(positives.loc["TSS_3898140_+", ["start", "end", "split"]]) == (2691, 2991, "val")
    assert tuple(positives.loc["TSS_3140531_-", ["start", "end", "split"]]) == (4881, 5181, "test")
    assert len(positives) == 6 and meta["window"] == 300
    # read on its strand, every window has its TSS at offset 249 (249 bases upstream of it)
    with Genome(fixture[0]) as genome:
        assert genome.fetch("chr20", 886, 1186, "-")[249] == genome.fetch("chr20", 936, 937, "-")
        assert genome.fetch("chr20", 769, 1069, "+")[249] == genome.fetch("chr20", 1018, 1019, "+")


def test_longer_windows(fixture, tmp_path):
    _, table, meta = build(fixture, tmp_path / "d", upstream=999, downstream=200)
    plus = table[table["name"] == "TSS_3767418_+"].iloc[0]
    assert (plus["start"], plus["end"], meta["window"]) == (19, 1219, 1200)
    assert ((table["end"] - table["start"]) == 1200).all()


def test_negatives_far_from_every_tss_and_seeded(fixture, tmp_path):
    _, table, _ = build(fixture, tmp_path / "a", negatives_per_positive=2)
    sites = read_bed(fixture[1])["start"].to_numpy()
    negatives = table[table["promoter"] == 0]
    assert len(negatives) == 12
    for start, end in zip(negatives["start"], negatives["end"]):
        distance = np.where((sites >= start) & (sites < end), 0, np.minimum(abs(sites - start), abs(sites - (end - 1))))
        assert distance.min() >= 300
    _, again, _ = build(fixture, tmp_path / "b", negatives_per_positive=2)
    assert again.equals(table)
    _, other, _ = build(fixture, tmp_path / "c", negatives_per_positive=2, seed=1)
    assert not other.equals(table)


def test_gc_matching_fills_each_bin_like_the_positives():
    rng = np.random.default_rng(0)
    pool = rng.random(5000)  # candidates' GC fractions, uniform
    targets = np.array([0.31, 0.32, 0.33, 0.71, 0.72, 0.74])
    picked = _match_gc(targets, pool, 2, True, rng)
    bins = np.minimum((pool[picked] * GC_BINS).astype(int), GC_BINS - 1)
    assert sorted(bins.tolist()) == [6] * 6 + [14] * 6
    assert len(_match_gc(targets, pool, 2, False, rng)) == 12


def test_negatives_are_closer_in_gc_when_matched(fixture, tmp_path):
    def gc_gap(table):
        with Genome(fixture[0]) as genome:
            gc = np.array([(s.count("G") + s.count("C")) / len(s) for s in
                           (genome.fetch(c, a, b) for c, a, b in zip(table["chrom"], table["start"], table["end"]))])
        return abs(gc[table["promoter"].to_numpy() == 1].mean() - gc[table["promoter"].to_numpy() == 0].mean())

    _, matched, _ = build(fixture, tmp_path / "m", negatives_per_positive=2)
    _, uniform, _ = build(fixture, tmp_path / "u", negatives_per_positive=2, gc_match=False)
    assert gc_gap(matched) < 0.08 and gc_gap(matched) < gc_gap(uniform)


def test_no_window_in_two_splits(fixture, tmp_path):
    # a validation range cutting through the + strand window [769, 1069) drops it
    _, table, _ = build(fixture, tmp_path / "d", val_region="chr20:1001-4000", negatives_per_positive=3)
    assert "TSS_3767418_+" not in set(table["name"])
    ranges = {"val": (1000, 4000), "test": (4000, 6000)}
    for split, (lo, hi) in ranges.items():
        rows = table[table["split"] == split]
        assert ((rows["start"] >= lo) & (rows["end"] <= hi)).all()
        others = table[table["split"] != split]
        assert not ((others["start"] < hi) & (others["end"] > lo)).any()


def test_files_and_counts(fixture, tmp_path):
    result, _, meta = build(fixture, tmp_path / "d")
    header = (tmp_path / "d" / "windows.tsv").read_text().splitlines()[0]
    assert header == "#chrom\tstart\tend\tname\tstrand\tsource\trecord\toffset\tsplit\tpromoter"
    assert meta["genome"] == str(fixture[0].resolve())
    assert meta["counts"] == result.counts == {s: {"promoter": 2, "background": 2} for s in ("train", "val", "test")}
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["parameters"]["min_distance"] == 300


def test_default_splits_are_the_last_tenths(fixture, tmp_path):
    genome, tss = fixture
    build_promoter_dataset(genome, tss, tmp_path / "d", PromoterDataParams(min_distance=300))
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["splits"]["val"] == ["chr20:4801-5400"] and meta["splits"]["test"] == ["chr20:5401-6000"]


def test_off_contig_windows_are_dropped_and_counted(fixture, tmp_path):
    # + strand TSS at 1018 starts at 1018 - 1050 < 0; - strand TSS at 4955 ends at 4955 + 1051 > 6000
    result, table, _ = build(fixture, tmp_path / "d", region=None, val_region="chr20:1-2", test_region="chr20:3-4",
                             upstream=1050, downstream=10)
    assert result.dropped["off_contig"] == 2
    assert sorted(table.loc[table["promoter"] == 1, "name"]) == ["TSS_3140531_-", "TSS_3767336_-", "TSS_3898140_+",
                                                              "TSS_3898209_-"]


@pytest.mark.parametrize("bed, message", [
    ("20\t100\t101\tt\t0\t+\n", "contig '20' not in genome.fa; did you mean 'chr20'?"),
    ("chr20\t100\t101\tt\t0\t+\n", "no windows left"),
])
def test_errors_write_nothing(fixture, tmp_path, bed, message):
    (tmp_path / "tss.bed").write_text(bed)
    with pytest.raises(InputError, match=message.replace("?", r"\?")):
        build_promoter_dataset(fixture[0], tmp_path / "tss.bed", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tss.bed"]


def test_the_folder_is_a_labelled_window_folder(fixture, tmp_path):
    """Written in the one window format: one ``promoter`` target, every row read from the genome."""
    _, table, meta = build(fixture, tmp_path / "d")
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["format"] == "seqformer-windows"
    assert meta["task"] == "promoter" and meta["targets"] == ["promoter"]
    assert set(table["source"]) == {"genome"} and (table["record"] == table["chrom"]).all()
    assert (table["offset"] == table["start"]).all()


def test_a_folder_of_the_earlier_promoter_format_still_loads(fixture, tmp_path):
    """The earlier ``seqformer-promoters`` layout reads as the same windows and targets."""
    from seqformer.data.windows import load_window_splits

    _, table, meta = build(fixture, tmp_path / "d")
    old = tmp_path / "old"
    old.mkdir()
    legacy = table.assign(score=0, label=table["promoter"])[
        ["chrom", "start", "end", "name", "score", "strand", "label", "split"]]
    with open(old / "windows.tsv", "w") as handle:
        handle.write("#" + "\t".join(legacy.columns) + "\n")
        legacy.to_csv(handle, sep="\t", header=False, index=False)
    kept = {k: meta[k] for k in ("genome", "window", "counts")}
    (old / "dataset.json").write_text(json.dumps({"format": LEGACY_PROMOTER_FORMAT, "version": 1, **kept}))
    new_splits, old_splits = load_window_splits(tmp_path / "d"), load_window_splits(old)
    for split in ("train", "val", "test"):
        assert old_splits[split].seqs == new_splits[split].seqs
        assert (old_splits[split].labels == new_splits[split].labels).all()
    (old / "windows.tsv").write_text("#chrom\tstart\n")
    with pytest.raises(InputError, match="rebuild it with `seqformer data promoters`"):
        read_window_data(old)
