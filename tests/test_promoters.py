"""The promoter dataset builder (data_prep.promoters): windows, background kinds, GC matching, splits, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_prep.background import GC_BINS
from data_prep.background import match_gc as _match_gc
from data_prep.promoters import (
    BACKGROUND_KINDS,
    PromoterDataParams,
    background_kind,
    build_promoter_dataset,
    parse_mix,
    window_bounds,
)
from helpers import cli_error, cli_ok

from seqformer.data.windows import LEGACY_PROMOTER_FORMAT, read_window_data
from seqformer.errors import InputError
from seqformer.io import Genome, read_bed

SPLIT_OPTIONS = {"region": "chr20:1-6000", "val_region": "chr20:2001-4000", "test_region": "chr20:4001-6000"}
CLI_SPLITS = ["--region", "chr20:1-6000", "--val-region", "chr20:2001-4000", "--test-region", "chr20:4001-6000",
              "--min-distance", "300"]


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
    # 1,200-base windows: the validation range widened so its two TSSs' windows lie inside it
    _, table, meta = build(fixture, tmp_path / "d", upstream=999, downstream=200, val_region="chr20:1801-4100",
                           test_region="chr20:4101-6000")
    plus = table[table["name"] == "TSS_3767418_+"].iloc[0]
    assert (plus["start"], plus["end"], meta["window"]) == (19, 1219, 1200)
    assert ((table["end"] - table["start"]) == 1200).all()


def _kinds(table):
    return table["name"].map(lambda name: background_kind(name) or "promoter")


def _distance_to_nearest_tss(fixture, start, end):
    sites = read_bed(fixture[1])["start"].to_numpy()
    return np.where((sites >= start) & (sites < end), 0, np.minimum(abs(sites - start), abs(sites - (end - 1)))).min()


def test_random_and_gc_background_far_from_every_tss_and_seeded(fixture, tmp_path):
    result, table, meta = build(fixture, tmp_path / "a", negatives_per_positive=2)
    negatives = table[table["promoter"] == 0]
    assert len(negatives) == 12 and result.short == {}
    far = negatives[_kinds(negatives).isin(["random", "gc"])]
    assert len(far) == 9  # 4 per split shared 1 : 1 : 1: 1 each, the window left over to random (first in order)
    for start, end in zip(far["start"], far["end"]):
        assert _distance_to_nearest_tss(fixture, start, end) >= 300
    assert set(negatives["strand"]) == {"+", "-"}  # a random strand per window
    _, again, again_meta = build(fixture, tmp_path / "b", negatives_per_positive=2)
    assert again.equals(table) and again_meta["counts"] == meta["counts"]
    assert (tmp_path / "a" / "windows.tsv").read_bytes() == (tmp_path / "b" / "windows.tsv").read_bytes()
    _, other, _ = build(fixture, tmp_path / "c", negatives_per_positive=2, seed=1)
    assert not other.equals(table)


@pytest.mark.parametrize("per_positive, mix, expected", [
    (3, "random=1,gc=1,flank=1", {"random": 2, "gc": 2, "flank": 2}),  # the default mix
    (2, "random=1,gc=1,flank=2", {"random": 1, "gc": 1, "flank": 2}),
    (3, "random=2,gc=1", {"random": 4, "gc": 2, "flank": 0}),  # a kind left out gets 0
    (1, "random=1,gc=1,flank=1", {"random": 1, "gc": 1, "flank": 0}),  # 2 windows: ties go random, gc, flank
    (2.5, "flank=1", {"random": 0, "gc": 0, "flank": 5}),
])
def test_each_kind_in_its_share_per_split(fixture, tmp_path, per_positive, mix, expected):
    result, table, meta = build(fixture, tmp_path / "d", negatives_per_positive=per_positive, background_mix=mix,
                                flank_min=400, flank_max=900)
    assert result.short == {}
    weights = parse_mix(mix)
    assert meta["background"]["mix"] == {k: w / sum(weights.values()) for k, w in weights.items()}
    assert meta["parameters"]["background_mix"] == mix
    for split in ("train", "val", "test"):
        rows = table[table["split"] == split]
        drawn = _kinds(rows).value_counts().to_dict()
        assert {kind: drawn.get(kind, 0) for kind in BACKGROUND_KINDS} == expected
        assert meta["counts"][split] == {"promoter": 2, "background": sum(expected.values()),
                                         **{f"background_{k}": n for k, n in expected.items()}}
    # every background name carries its kind; promoters keep their TSS names
    negatives = table[table["promoter"] == 0]
    assert all(name.startswith(f"bg-{kind}:chr20_{start}") for name, kind, start in
               zip(negatives["name"], _kinds(negatives), negatives["start"]))
    assert table.loc[table["promoter"] == 1, "name"].str.startswith("TSS_").all()
    assert not table.duplicated(["chrom", "start", "end"]).any()  # no window drawn twice


def test_flank_windows_lie_near_a_tss_and_off_every_promoter_window(fixture, tmp_path):
    _, table, meta = build(fixture, tmp_path / "d", negatives_per_positive=3, background_mix="flank=1",
                           flank_min=400, flank_max=900)
    assert meta["background"]["flank"] == {"min": 400, "max": 900}
    tss = read_bed(fixture[1])
    p_starts, p_ends = window_bounds(tss["start"].to_numpy(), tss["strand"].to_numpy(), 249, 50)
    flanks = table[table["promoter"] == 0]
    assert len(flanks) == 18 and (_kinds(flanks) == "flank").all()
    for name, start, end in zip(flanks["name"], flanks["start"], flanks["end"]):
        centre = start + 150
        offset = int(name.rsplit(":", 1)[1])  # centre minus its TSS, on the TSS's strand
        assert 400 <= abs(offset) <= 900
        anchors = tss[((tss["strand"] == "+") & (tss["start"] == centre - offset))
                      | ((tss["strand"] == "-") & (tss["start"] == centre + offset))]
        assert len(anchors) >= 1, name
        assert not ((p_starts < end) & (p_ends > start)).any(), name  # overlaps no promoter window (so holds no TSS)
    assert {n[0] for n in flanks["name"].str.rsplit(":", n=1).str[1]} == {"+", "-"}  # up- and downstream


def test_random_background_does_not_use_gc_matching(fixture, tmp_path, monkeypatch):
    import data_prep.promoters as promoters

    def refuse(*args, **kwargs):
        raise AssertionError("GC matching was used")

    monkeypatch.setattr(promoters, "match_gc", refuse)
    _, table, _ = build(fixture, tmp_path / "d", background_mix="random=1,flank=1", flank_min=400, flank_max=900)
    assert set(_kinds(table[table["promoter"] == 0])) == {"random", "flank"}
    with pytest.raises(AssertionError, match="GC matching was used"):
        build(fixture, tmp_path / "e", background_mix="gc=1")


def test_a_short_kind_is_not_made_up_from_another(fixture, tmp_path):
    # flank centres at most 100 bases from a TSS: every such window overlaps a promoter window
    result, _, meta = build(fixture, tmp_path / "d", negatives_per_positive=3, flank_min=0, flank_max=100)
    assert meta["background"]["short"] == result.short == {s: {"flank": 2} for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        assert meta["counts"][split] == {"promoter": 2, "background": 4, "background_random": 2, "background_gc": 2,
                                         "background_flank": 0}
    genome, tss = fixture
    from helpers import runner

    from seqformer.cli import app

    argv = ("data", "promoters", "--genome", genome, "--tss", tss, "--out", tmp_path / "cli", *CLI_SPLITS,
            "--flank-min", "0", "--flank-max", "100")
    ran = runner.invoke(app, [str(a) for a in argv])
    assert ran.exit_code == 0 and "train: 2 promoter / 4 background (2 random, 2 gc, 0 flank)" in ran.stdout
    assert ran.stderr.strip() == ("warning: too few candidate windows for the background mix, fewer drawn "
                                  "(train: 2 flank; val: 2 flank; test: 2 flank)")


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

    _, matched, _ = build(fixture, tmp_path / "m", negatives_per_positive=2, background_mix="gc=1")
    _, uniform, _ = build(fixture, tmp_path / "u", negatives_per_positive=2, background_mix="random=1")
    assert gc_gap(matched) < 0.08 and gc_gap(matched) < gc_gap(uniform)
    # --no-gc-match draws the gc share as random windows: the same windows as a random-only mix
    _, folded, meta = build(fixture, tmp_path / "f", negatives_per_positive=2, background_mix="gc=1", gc_match=False)
    assert meta["background"]["mix"] == {"random": 1.0, "gc": 0.0, "flank": 0.0}
    assert folded.equals(uniform)


def test_no_window_in_two_splits(fixture, tmp_path):
    # a test range cutting through the + strand window [769, 1069) drops it
    _, table, _ = build(fixture, tmp_path / "d", val_region="chr20:2001-4000", test_region="chr20:801-2000",
                        negatives_per_positive=3, flank_min=400, flank_max=900)
    assert "TSS_3767418_+" not in set(table["name"]) and "TSS_3767336_-" in set(table["name"])
    ranges = {"val": (2000, 4000), "test": (800, 2000)}
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
    # the default: 3 background windows per promoter, a third of each kind
    assert meta["counts"] == result.counts == {
        s: {"promoter": 2, "background": 6, "background_random": 2, "background_gc": 2, "background_flank": 2}
        for s in ("train", "val", "test")}
    assert meta["background"]["mix"] == {"random": 1 / 3, "gc": 1 / 3, "flank": 1 / 3}
    assert meta["background"]["flank"] == {"min": 1000, "max": 3000} and meta["background"]["short"] == {}
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["parameters"]["min_distance"] == 300


def test_default_splits_are_the_last_tenths(fixture, tmp_path):
    genome, tss = fixture
    # the last tenth, chr20:5401-6000, lies past the fixture's last TSS (4955): refused at build time
    with pytest.raises(InputError, match="the test range chr20:5401-6000 holds no TSS of tss.bed; "
                                         "set --test-region to a range that does"):
        build_promoter_dataset(genome, tss, tmp_path / "d", PromoterDataParams(min_distance=300))
    assert not (tmp_path / "d").exists()
    (tmp_path / "more.bed").write_text(tss.read_text() + "chr20\t5700\t5701\tlate\t0\t+\n")
    build_promoter_dataset(genome, tmp_path / "more.bed", tmp_path / "d", PromoterDataParams(min_distance=300))
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["splits"]["val"] == ["chr20:4801-5400"] and meta["splits"]["test"] == ["chr20:5401-6000"]


def test_off_contig_windows_are_dropped_and_counted(fixture, tmp_path):
    # + strand TSS at 1018 starts at 1018 - 1050 < 0; - strand TSS at 4955 ends at 4955 + 1051 > 6000
    result, table, meta = build(fixture, tmp_path / "d", region=None, val_region="chr20:2981-4080",
                                test_region="chr20:4901-6000", upstream=1050, downstream=10)
    assert result.dropped["off_contig"] == meta["dropped_positives"]["off_contig"] == 2
    assert sorted(table.loc[table["promoter"] == 1, "name"]) == ["TSS_3140531_-", "TSS_3767336_-", "TSS_3898140_+",
                                                              "TSS_3898209_-"]
    assert ((table["start"] >= 0) & (table["end"] <= 6000)).all()  # no background window off the contig either


@pytest.mark.parametrize("bed, message", [
    ("20\t100\t101\tt\t0\t+\n", "contig '20' not in genome.fa; did you mean 'chr20'?"),
    ("chr20\t100\t101\tt\t0\t+\n", "no windows left"),
])
def test_errors_write_nothing(fixture, tmp_path, bed, message):
    (tmp_path / "tss.bed").write_text(bed)
    with pytest.raises(InputError, match=message.replace("?", r"\?")):
        build_promoter_dataset(fixture[0], tmp_path / "tss.bed", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tss.bed"]


@pytest.mark.parametrize("options, message", [
    (["--val-region", "chr20:1-600", "--test-region", "chr20:4001-6000"],
     "the validation range chr20:1-600 holds no TSS of tss.bed; set --val-region to a range that does"),
    (["--val-region", "chr20:2001-4000", "--test-region", "chr20:5401-6000"],
     "the test range chr20:5401-6000 holds no TSS of tss.bed; set --test-region to a range that does"),
    (["--region", "chr20:2001-6000", "--val-region", "chr20:2001-4000", "--test-region", "chr20:4001-6000"],
     "the training part of chr20:2001-6000 (outside the validation and test ranges) holds no TSS of tss.bed; "
     "set --region, --val-region or --test-region so that it does"),
    # TSSs at 2940 and 3009 lie in chr20:2901-3100, but their 300-base windows cross its edges
    (["--val-region", "chr20:2901-3100", "--test-region", "chr20:4001-6000"],
     "the validation range chr20:2901-3100 holds 2 TSS(s) of tss.bed but none of their windows was kept"),
])
def test_a_split_without_a_promoter_is_refused(fixture, tmp_path, options, message):
    genome, tss = fixture
    line = cli_error("data", "promoters", "--genome", genome, "--tss", tss, "--out", tmp_path / "d", *options)
    assert message in line
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("options, message", [
    (["--background-mix", "random=1,gc=1,exon=1"], "--background-mix: unknown kind 'exon'; the kinds are random, "
                                                     "gc, flank"),
    (["--background-mix", "random=0,gc=0,flank=0"], "--background-mix: every weight is 0"),
    (["--background-mix", "random=-1,gc=1"], "--background-mix: the weight of 'random' must be a number, 0 or more, "
                                              "got '-1'"),
    (["--background-mix", "gc=lots"], "the weight of 'gc' must be a number, 0 or more, got 'lots'"),
    (["--background-mix", "random"], "--background-mix: 'random' is not KIND=WEIGHT (e.g. random=1,gc=1,flank=1)"),
    (["--background-mix", "gc=1,gc=2"], "--background-mix: 'gc' is given twice"),
    (["--flank-min", "3000", "--flank-max", "1000"], "--flank-min (3000) is more than --flank-max (1000)"),
    (["--flank-min", "-5"], "--flank-min must be 0 or more, got -5"),
])
def test_bad_background_options_are_one_line(fixture, tmp_path, options, message):
    genome, tss = fixture
    line = cli_error("data", "promoters", "--genome", genome, "--tss", tss, "--out", tmp_path / "d", *CLI_SPLITS,
                     *options)
    assert message in line
    assert not (tmp_path / "d").exists()


def test_the_cli_prints_each_kind(fixture, tmp_path):
    genome, tss = fixture
    printed = cli_ok("data", "promoters", "--genome", genome, "--tss", tss, "--out", tmp_path / "d", *CLI_SPLITS,
                     "--background-mix", "random=1,gc=2,flank=3", "--flank-min", "400", "--flank-max", "900")
    assert "val: 2 promoter / 6 background (1 random, 2 gc, 3 flank)" in printed
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["background"]["mix"] == {"random": 1 / 6, "gc": 2 / 6, "flank": 3 / 6}


def test_helpers():
    from data_prep.background import allocate, overlaps_any

    assert allocate(4, {"random": 1, "gc": 1, "flank": 1}) == {"random": 2, "gc": 1, "flank": 1}
    assert allocate(7, {"random": 0, "gc": 1, "flank": 3}) == {"random": 0, "gc": 2, "flank": 5}
    assert allocate(0, {"random": 1}) == {"random": 0}
    hits = overlaps_any(np.array([0, 10, 30, 99]), np.array([5, 20, 40, 100]), np.array([19, 60, 5]),
                        np.array([25, 100, 6]))
    assert hits.tolist() == [False, True, False, True]
    assert [background_kind(n) for n in ("bg-flank:chr1_5:-1200", "bg-gc:chr1_9", "bg-x:1", "TSS_1_+")] == [
        "flank", "gc", None, None]
    assert parse_mix("gc=1") == {"random": 0.0, "gc": 1.0, "flank": 0.0}


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
