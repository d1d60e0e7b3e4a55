"""Promoter track models: per-base TSS targets, training tiles, the token classifier, the tile scan
(stitching against brute force, a real model against one forward pass), its outputs, fine-tuning
(``finetune promoter-track``) and ``predict promoters`` with a track model, and their CLI errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import cli_error, cli_ok, runner

from seqformer.cli import app
from seqformer.data.tss_track import TileSampler, TrackIntervals, tss_sites, tss_targets
from seqformer.io.regions import subtract_ranges
from seqformer.errors import InputError
from seqformer.io import Genome, read_bed, reverse_complement
from seqformer.io.regions import Region
from seqformer.models import EncoderConfig, load_model
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.models.token_classifier import TokenClassifier, TokenClassifierConfig, token_to_base
from seqformer.predict.scan import Segment, scan_genome
from seqformer.predict.tiles import (
    check_tiles,
    moving_mean,
    scan_track_region,
    smooth_tokens,
    tile_plan,
    track_scorer,
    track_segments,
)
from seqformer.tasks.track import build_track_model, encode_tiles, finetune_track, track_config, validation_tiles
from seqformer.tokenizers import KmerTokenizer


def bed_frame(rows) -> pd.DataFrame:
    """A TSS BED (chrom, start, end, name, score, strand) from (chrom, position, strand) rows."""
    return pd.DataFrame([(c, p, p + 1, f"t{i}", 0, s) for i, (c, p, s) in enumerate(rows)],
                        columns=["chrom", "start", "end", "name", "score", "strand"])


def labels(text: str) -> np.ndarray:
    return np.array([float(ch) for ch in text], dtype=np.float32)


# --- 1. per-base targets ---------------------------------------------------------------------------
def test_tss_targets_by_hand():
    tss = bed_frame([("c1", 25, "+"), ("c1", 10, "+"), ("c1", 3, "+"), ("c1", 30, "+"),  # unsorted on purpose
                     ("c1", 20, "-"), ("c1", 10, "-"),  # 10 is bidirectional
                     ("c2", 12, "+"), ("c2", 13, "-")])  # another contig: ignored
    sites = tss_sites(tss, "c1")
    assert sites["+"].tolist() == [3, 10, 25, 30] and sites["-"].tolist() == [10, 20]
    # bases [4, 24), radius 2 (edges inclusive):
    #   + TSS 3 (before the stretch) covers bases 1..5 -> idx 0,1; 10 covers 8..12 -> idx 4..8;
    #   25 (after the stretch) covers 23..27 -> idx 19; 30 reaches no base of it.
    #   - TSS 10 covers idx 4..8 and 20 covers 18..22 -> idx 14..18, in forward order; read on -, reversed.
    plus = tss_targets(sites, 4, 24, "+", radius=2)
    minus = tss_targets(sites, 4, 24, "-", radius=2)
    assert plus.dtype == np.float32 and minus.dtype == np.float32
    np.testing.assert_array_equal(plus, labels("11001111100000000001"))
    np.testing.assert_array_equal(minus[::-1], labels("00001111100000111110"))  # forward order
    np.testing.assert_array_equal(minus, labels("01111100000111110000"))  # as read on -
    # radius 0: only the TSS base; radius edges: base 8 and 12 are in at radius 2, 7 and 13 are not
    np.testing.assert_array_equal(tss_targets(sites, 8, 14, "+", radius=0), labels("001000"))
    np.testing.assert_array_equal(tss_targets(sites, 7, 14, "+", radius=2), labels("0111110"))
    # a stretch is a slice of a longer one's targets (on - the reversed slice)
    whole_plus, whole_minus = tss_targets(sites, 0, 40, "+", radius=2), tss_targets(sites, 0, 40, "-", radius=2)
    np.testing.assert_array_equal(whole_plus[4:24], plus)
    np.testing.assert_array_equal(whole_minus[::-1][4:24][::-1], minus)
    # an empty stretch, a strand without TSSs, and a BED without strands (all +)
    assert tss_targets(sites, 5, 5, "+").shape == (0,)
    assert not tss_targets(tss_sites(tss, "c3"), 0, 10, "-").any()
    unstranded = tss.loc[tss["chrom"] == "c2", ["chrom", "start", "end"]]
    assert tss_sites(unstranded, "c2")["+"].tolist() == [12, 13] and tss_sites(unstranded, "c2")["-"].size == 0
    with pytest.raises(ValueError, match="strand"):
        tss_targets(sites, 0, 10, ".")
    with pytest.raises(ValueError, match="radius"):
        tss_targets(sites, 0, 10, "+", radius=-1)


# --- 2. ranges and tiles ---------------------------------------------------------------------------
def test_subtract_ranges():
    region = Region("c", 0, 100)
    holes = [Region("c", 15, 30), Region("c", 10, 20), Region("d", 0, 50), Region("c", 90, 120),
             Region("c", 50, 60), Region("c", 200, 300)]
    assert subtract_ranges(region, holes) == [Region("c", 0, 10), Region("c", 30, 50), Region("c", 60, 90)]
    assert subtract_ranges(Region("c", 5, 40), [Region("c", 0, 10), Region("c", 40, 45)]) == [Region("c", 10, 40)]
    assert subtract_ranges(region, []) == [region]
    assert subtract_ranges(region, [Region("c", 0, 100)]) == []


def near(sites: np.ndarray, start: int, end: int, radius: int) -> np.ndarray:
    """Brute force: 1 where a base of [start, end) lies within ``radius`` of a site, forward order."""
    return np.array([float(any(abs(p - s) <= radius for s in sites)) for p in range(start, end)], np.float32)


@pytest.fixture(scope="module")
def sampler_genome(tmp_path_factory):
    rng = random.Random(5)
    seq = list("".join(rng.choice("ACGT") for _ in range(1200)))
    seq[300:340] = "N" * 40  # inside a training interval: tiles over it (> 10% N) are redrawn
    root = tmp_path_factory.mktemp("sampler")
    (root / "g.fa").write_text(f">c1\n{''.join(seq).lower()}\n")  # lower case: read back upper
    with Genome(root / "g.fa") as genome:
        yield genome


def test_tile_sampler(sampler_genome):
    genome, tile, radius = sampler_genome, 64, 5
    tss = bed_frame([("c1", 100, "+"), ("c1", 110, "-"), ("c1", 650, "-"), ("c1", 1000, "+"), ("c1", 1003, "-"),
                     ("c1", 450, "+"),  # in the hole
                     ("c1", 1190, "+")])  # in the short interval, which is dropped
    regions = subtract_ranges(Region("c1", 0, 1200), [Region("c1", 400, 500), Region("c1", 1150, 1180)])
    assert regions == [Region("c1", 0, 400), Region("c1", 500, 1150), Region("c1", 1180, 1200)]
    intervals = TrackIntervals.read(genome, regions, tss, tile)
    assert intervals.regions == regions[:2] and intervals.bases == 1050
    assert sorted(intervals.tss_in()) == [(0, 100, "+"), (0, 110, "-"), (1, 650, "-"), (1, 1000, "+"),
                                          (1, 1003, "-")]
    sites = intervals.sites["c1"]
    tss_positions = [p for _, p, _ in intervals.tss_in()]

    around = TileSampler(intervals, tile, radius=radius, tss_fraction=1.0, seed=3)
    drawn = [around.draw(i) for i in range(40)]
    again = TileSampler(intervals, tile, radius=radius, tss_fraction=1.0, seed=3)
    for i in (0, 7, 39, 7):  # a pure function of (seed, index), in any order
        seq, targets, where = again.draw(i)
        assert seq == drawn[i][0] and where == drawn[i][2]
        np.testing.assert_array_equal(targets, drawn[i][1])
    other = [TileSampler(intervals, tile, radius=radius, tss_fraction=1.0, seed=4).draw(i)[2] for i in range(40)]
    assert other != [d[2] for d in drawn]
    assert len({d[2] for d in drawn}) > 20  # indices give different tiles
    strands = set()
    for seq, targets, (chrom, start, end, strand) in drawn:
        assert chrom == "c1" and end - start == tile and len(seq) == tile and targets.shape == (tile,)
        assert any(r.start <= start and end <= r.end for r in intervals.regions)
        assert any(start <= p < end for p in tss_positions)  # tss_fraction 1: every tile holds a TSS
        forward = genome.fetch("c1", start, end).upper()
        expected = near(sites[strand], start, end, radius)
        if strand == "-":
            assert seq == reverse_complement(forward)
            np.testing.assert_array_equal(targets[::-1], expected)
        else:
            assert seq == forward
            np.testing.assert_array_equal(targets, expected)
        strands.add(strand)
    assert strands == {"+", "-"}
    assert any(t.any() for _, t, _ in drawn) and any(t[::-1].any() for _, t, w in drawn if w[3] == "-")

    anywhere = TileSampler(intervals, tile, radius=radius, tss_fraction=0.0, seed=3, max_n=0.1)
    starts = []
    for i in range(60):
        seq, targets, (chrom, start, end, strand) = anywhere.draw(i)
        assert any(r.start <= start and end <= r.end for r in intervals.regions)
        assert seq.count("N") <= 0.1 * tile
        forward = genome.fetch("c1", start, end).upper()
        assert seq == (reverse_complement(forward) if strand == "-" else forward)
        np.testing.assert_array_equal(targets if strand == "+" else targets[::-1],
                                      near(sites[strand], start, end, radius))
        starts.append(start)
    assert min(starts) < 400 <= 500 <= max(starts)  # both intervals are drawn from
    with pytest.raises(ValueError, match="as long as a tile"):
        TileSampler(TrackIntervals.read(genome, regions, tss, 5000), 5000)

    val = validation_tiles(intervals, tile, radius)  # one per TSS, as many anywhere, fixed
    assert len(val) == 10 and [s for s, _ in val] == [s for s, _ in validation_tiles(intervals, tile, radius)]


# --- 3. stitching against brute force ---------------------------------------------------------------
K, R = 4, 2  # bases per token; tokens either side the test scorer reads
WEIGHTS = np.arange(1, 2 * R + 2)  # asymmetric: the two strands differ


def g_neighbourhood(seq: str, k: int = K) -> np.ndarray:
    """Per token: weighted count of G in tokens j-R..j+R (clipped to the string), scaled to [0, 1]."""
    g = np.array([seq[i:i + k].count("G") for i in range(0, len(seq), k)], dtype=np.int64)
    padded = np.concatenate([np.zeros(R, np.int64), g, np.zeros(R, np.int64)])
    counts = sum(w * padded[d:d + len(g)] for d, w in enumerate(WEIGHTS))
    return counts / (WEIGHTS.sum() * k)


def g_scorer(seqs):
    assert len({len(s) for s in seqs}) == 1 and len(seqs[0]) % K == 0  # one batch: equal, whole tokens
    return [g_neighbourhood(s) for s in seqs]


def brute_force(contig: str, region: Region, scorer=g_neighbourhood, k: int = K) -> list[Segment]:
    """The segments of ``region`` from one pass over the whole contig on the region's token grid."""
    offset = region.start % k
    seq = contig[offset:]
    seq += "N" * (-len(seq) % k)
    plus, minus = scorer(seq), scorer(reverse_complement(seq))[::-1]
    out = []
    for j, (p, m) in enumerate(zip(plus, minus)):
        start = offset + j * k
        if region.start <= start < region.end and set(seq[j * k:(j + 1) * k]) != {"N"}:
            out.append(Segment(start, min(start + k, region.end), float(max(p, m)), float(max(p, m)),
                               "+" if p >= m else "-"))
    return out


@pytest.fixture(scope="module")
def contigs():
    rng = random.Random(11)
    c1 = list("".join(rng.choice("ACGGT") for _ in range(203)))
    c1[90:110] = "N" * 20
    c1[146:166] = "GGAGGCGGTGGAGGGCGGTG"  # G-rich just past regions ending at 141 and 150: mid-token ends show
    c2 = "".join(rng.choice("ACGT") for _ in range(30))
    return {"c1": "".join(c1), "c2": c2}


@pytest.fixture(scope="module")
def genome(contigs, tmp_path_factory):
    root = tmp_path_factory.mktemp("tiles")
    (root / "g.fa").write_text("".join(f">{name}\n{seq}\n" for name, seq in contigs.items()))
    with Genome(root / "g.fa") as opened:
        yield opened


def test_tile_plan_cores_cover_the_region_once():
    plans = list(tile_plan(Region("c", 37, 150), 203, tile=40, context=8, k=4))
    cores = [(p.core_start, p.core_end) for p in plans]
    assert cores == [(37, 61), (61, 85), (85, 109), (109, 133), (133, 150)]
    assert [(p.in_start, p.in_end) for p in plans[:2]] == [(29, 69), (53, 93)]
    assert all((p.core_start - p.in_start) % 4 == 0 and p.in_end - p.in_start <= 40 for p in plans)
    assert (plans[-1].in_start, plans[-1].in_end) == (125, 161)  # last token [149, 153) + 8 bases of context
    first = next(tile_plan(Region("c", 5, 30), 203, tile=40, context=8, k=4))
    assert (first.in_start, first.core_start) == (1, 5)  # the left widening is whole tokens
    last = list(tile_plan(Region("c", 180, 203), 203, tile=40, context=8, k=4))[-1]
    assert last.in_end == 203  # clipped to the contig
    assert check_tiles(40, 8, 4) == 24
    for bad in ((42, 8, 4), (40, 6, 4), (40, 20, 4), (0, 0, 4)):
        with pytest.raises(InputError):
            check_tiles(*bad)


@pytest.mark.parametrize("region", [Region("c1", 0, 203), Region("c1", 37, 150), Region("c1", 5, 203),
                                    Region("c1", 101, 203), Region("c1", 60, 198), Region("c1", 60, 141),
                                    Region("c2", 0, 30),
                                    Region("c2", 3, 29)])
@pytest.mark.parametrize("context", [R * K, R * K + K])
def test_track_segments_equal_brute_force(genome, contigs, region, context):
    stats = {}
    got = list(track_segments(g_scorer, genome, region, tile=40, context=context, k=K, batch_size=2, stats=stats))
    expected = brute_force(contigs[region.chrom], region)
    assert got == expected
    # the segments tile the region but for all-N tokens; the last one is clipped to the region
    contig = contigs[region.chrom]
    bounds = [region.start] + [x for s in got for x in (s.start, s.end)] + [region.end]
    assert all(set(contig[a:b]) <= {"N"} for a, b in zip(bounds[::2], bounds[1::2]))
    assert {s.strand for s in got} == {"+", "-"} or region.chrom == "c2"
    assert stats["tiles"] + stats["skipped"] == -(-len(region) // (40 - 2 * context)) and stats["max_batch"] <= 2


def naive_mean(values: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    out = np.full(len(values), np.nan)
    for j in range(len(values)):
        window = [values[i] for i in range(max(0, j - half), min(len(values), j + half + 1)) if valid[i]]
        if window:
            out[j] = sum(window) / len(window)
    return out


def test_moving_mean_against_a_loop():
    rng = np.random.default_rng(3)
    values, valid = rng.random(23), rng.random(23) > 0.3
    valid[5:12] = False  # a run longer than a half window: some means have no valid token
    for width in (1, 3, 5, 31, 61):  # 31 and 61: wider than the array
        np.testing.assert_allclose(moving_mean(values, valid, width), naive_mean(values, valid, width), rtol=1e-12)
    assert np.isnan(moving_mean(values, valid, 3)[8])  # tokens 7..9 all invalid
    assert [smooth_tokens(b, 4) for b in (0, 4, 12, 500, 502)] == [1, 1, 3, 125, 127]
    with pytest.raises(InputError, match="--smooth"):
        smooth_tokens(-1, 4)


@pytest.mark.parametrize("region", [Region("c1", 0, 203), Region("c1", 37, 150), Region("c1", 60, 141),
                                    Region("c2", 3, 29)])
def test_smoothed_track_segments_equal_brute_force(genome, contigs, region):
    """Smoothing over 3 tokens (12 bases) within tiles equals smoothing the whole contig's max over strands (the
    strand: the larger of the strands' means), given context for the scorer's reach plus half the window."""
    contig = contigs[region.chrom]
    offset = region.start % K
    seq = contig[offset:] + "N" * (-len(contig[offset:]) % K)
    valid = np.array([set(seq[i:i + K]) != {"N"} for i in range(0, len(seq), K)])
    plus = naive_mean(g_neighbourhood(seq), valid, 3)
    minus = naive_mean(g_neighbourhood(reverse_complement(seq))[::-1], valid, 3)
    kept = [j for j in range(len(plus)) if region.start <= offset + j * K < region.end and valid[j]]
    raw_plus, raw_minus = g_neighbourhood(seq), g_neighbourhood(reverse_complement(seq))[::-1]
    top = naive_mean(np.maximum(raw_plus, raw_minus), valid, 3)
    expected = [Segment(offset + j * K, min(offset + j * K + K, region.end), float(top[j]), float(top[j]),
                        "+" if plus[j] >= minus[j] else "-") for j in kept]
    got = list(track_segments(g_scorer, genome, region, tile=40, context=(R + 1) * K, k=K, smooth=12, batch_size=2))
    assert [(s.start, s.end) for s in got] == [(s.start, s.end) for s in expected]
    np.testing.assert_allclose([s.value for s in got], [s.value for s in expected], rtol=1e-12)
    clear = [abs(plus[j] - minus[j]) > 1e-9 for j in kept]  # ties in exact arithmetic may round either way
    assert [s.strand for s, c in zip(got, clear) if c] == [s.strand for s, c in zip(expected, clear) if c]
    assert got != list(track_segments(g_scorer, genome, region, tile=40, context=(R + 1) * K, k=K))  # it smooths


def test_cores_of_only_n_are_not_run(genome, contigs):
    calls = []

    def counting(seqs):
        calls.append(len(seqs))
        return g_scorer(seqs)

    region, stats = Region("c1", 88, 112), {}
    got = list(track_segments(counting, genome, region, tile=24, context=R * K, k=K, batch_size=1, stats=stats))
    assert got == brute_force(contigs["c1"], region)  # cores [88, 96), [96, 104) (all N), [104, 112)
    assert stats["skipped"] == 1 and stats["tiles"] == 2 and calls == [2, 2]


def test_all_n_tokens_have_no_segments(genome, contigs):
    got = list(track_segments(g_scorer, genome, Region("c1", 80, 120), tile=40, context=8, k=K))
    starts = [s.start for s in got]
    assert starts == [80, 84, 88, 108, 112, 116]  # [92, 108) is four all-N tokens; [88, 92) and [108, 112) are not
    assert all(b.start == a.end for a, b in zip(got, got[1:]) if b.start != 108)


def test_too_little_context_is_not_brute_force(genome, contigs):
    """The reference check can fail: with context below the scorer's reach the tiles differ."""
    region = Region("c1", 0, 203)
    got = list(track_segments(g_scorer, genome, region, tile=40, context=0, k=K))
    assert got != brute_force(contigs["c1"], region)


# --- 4. a real token classifier: tiles equal one forward pass --------------------------------------
LAYERS, WINDOW, TK = 2, 3, 2  # receptive field: LAYERS * WINDOW tokens = 12 bases


def tiny_track_model(seed: int = 0, k: int = TK, tile: int = 64, context: int = 12) -> TokenClassifier:
    tokenizer = KmerTokenizer(k, k)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=LAYERS, num_heads=2, ffn_size=32,
                                          attention="longformer",
                                          attention_options={"window": WINDOW, "global_tokens": ()})
    torch.manual_seed(seed)
    model = TokenClassifier(TokenClassifierConfig(encoder, ("promoter",), tile=tile, context=context),
                            tokenizer=tokenizer)
    with torch.no_grad():  # wide weights, so each token's value depends strongly on its neighbours
        for name, param in model.named_parameters():
            param.normal_(0.0, 1.0 if name.startswith("head") else 0.4)
    return model.eval()


@pytest.fixture(scope="module")
def track_model():
    return tiny_track_model()


def whole_pass(model, seq: str) -> np.ndarray:
    """Per-token probabilities of one forward pass over ``seq`` (whole tokens) on one strand."""
    tokenizer = model.tokenizer
    with torch.no_grad():
        enc = tokenizer.batch_encode([seq])
        probs = torch.sigmoid(model(enc.input_ids, enc.attention_mask).logits[0, :, 0]).numpy()
    body = tokenizer.token_spans(len(seq))[:, 0] >= 0
    assert body.sum() == len(seq) // model.config.k
    return probs[body].astype(np.float64)


def compare(got: list[Segment], expected: list[Segment], atol: float = 1e-5) -> None:
    assert [(s.start, s.end) for s in got] == [(s.start, s.end) for s in expected]
    np.testing.assert_allclose([s.value for s in got], [s.value for s in expected], atol=atol, rtol=0)
    assert [s.strand for s in got] == [s.strand for s in expected]


@pytest.mark.parametrize("region", [Region("c1", 0, 203), Region("c1", 40, 171), Region("c1", 2, 203)])
def test_tiled_scan_equals_one_forward_pass(track_model, genome, contigs, region):
    model = track_model
    expected = brute_force(contigs["c1"], region, scorer=lambda s: whole_pass(model, s), k=TK)
    scorer = track_scorer(model)
    for tile, context in ((64, 12), (40, 14), (96, 24)):  # context >= the receptive field (12 bases)
        got = list(track_segments(scorer, genome, region, tile=tile, context=context, k=TK, batch_size=3))
        compare(got, expected)
    # too little context: the tiles no longer see what one pass sees
    got = list(track_segments(scorer, genome, region, tile=64, context=4, k=TK, batch_size=3))
    assert np.abs(np.array([s.value for s in got]) - np.array([s.value for s in expected])).max() > 1e-3


def test_track_scorer_reads_each_token(track_model):
    scorer = track_scorer(track_model)
    seqs = ["ACGTACGTAA", "NNNNCCGGTT"]
    values = scorer(seqs)
    assert [v.shape for v in values] == [(5,), (5,)]
    np.testing.assert_allclose(values[0], whole_pass(track_model, seqs[0]), atol=1e-6)
    np.testing.assert_allclose(values[1], whole_pass(track_model, seqs[1]), atol=1e-6)
    np.testing.assert_array_equal(token_to_base(np.array([1.0, 2.0, 3.0]), 2, 5), [1, 1, 2, 2, 3])


# --- 5. outputs of a track scan ----------------------------------------------------------------------
def test_scan_track_region_calls_are_the_thresholded_track(genome, contigs, tmp_path):
    region = Region("c1", 37, 203)
    truth = brute_force(contigs["c1"], region)
    threshold = 0.3
    result = scan_track_region(g_scorer, genome, region, tmp_path / "c.bed", tile=40, context=8, k=K,
                               batch_size=2, threshold=threshold, bedgraph=tmp_path / "t.bg", name="tss")
    assert (result.window, result.stride, result.windows, result.scored) == (40, 24, 7, 7)
    above = [b for s in truth if s.value >= threshold for b in range(s.start, s.end)]
    runs = []  # maximal runs of bases at or above the threshold
    for b in above:
        if runs and runs[-1][1] == b:
            runs[-1][1] = b + 1
        else:
            runs.append([b, b + 1])
    calls = [line.split("\t") for line in (tmp_path / "c.bed").read_text().splitlines()]
    assert len(runs) >= 3 and [(int(c[1]), int(c[2])) for c in calls] == [tuple(r) for r in runs]
    assert {c[3] for c in calls} == {"tss"}
    for call in calls:
        inside = [s for s in truth if int(call[1]) <= s.start < int(call[2])]
        best = max(inside, key=lambda s: s.value)
        assert (int(call[4]), call[5]) == (round(best.value * 1000), best.strand)
    per_base = {}
    for _, start, end, value in (line.split("\t") for line in (tmp_path / "t.bg").read_text().splitlines()[1:]):
        per_base.update({b: float(value) for b in range(int(start), int(end))})
    assert per_base == {b: round(s.value, 4) for s in truth for b in range(s.start, s.end)}


def test_scan_genome_with_a_track_model_writes_every_output(track_model, genome, tmp_path):
    import pyBigWig

    region = Region("c1", 10, 195)
    segments = list(track_segments(track_scorer(track_model), genome, region, tile=64, context=12, k=TK))
    values = sorted(s.value for s in segments)
    threshold = round((values[len(values) // 2] + values[len(values) // 2 + 1]) / 2, 6)
    paths = {"out": tmp_path / "calls.bed", "bedgraph": tmp_path / "t.bedgraph", "narrowpeak": tmp_path / "c.np",
             "bigwig": tmp_path / "t.bw"}
    result = scan_genome(track_model, genome, region, paths.pop("out"), tile=64, context=12, threshold=threshold,
                         batch_size=2, **paths)
    assert (result.window, result.stride, result.windows, result.scored, result.skipped) == (64, 40, 5, 5, 0)
    assert result.threshold == threshold and result.bases == 185

    # calls: maximal runs of touching segments at or above the threshold, strand of their best segment
    runs: list[list[Segment]] = []
    for seg in segments:
        if seg.value < threshold:
            continue
        if runs and runs[-1][-1].end == seg.start:
            runs[-1].append(seg)
        else:
            runs.append([seg])
    expected = []
    for run in runs:
        best = max(run, key=lambda s: s.value)  # the first of the highest
        expected.append(["c1", str(run[0].start), str(run[-1].end), "promoter", str(round(best.value * 1000)),
                         best.strand])
    calls = [line.split("\t") for line in (tmp_path / "calls.bed").read_text().splitlines()]
    assert len(runs) >= 2 and calls == expected
    assert (result.calls, result.called_bases) == (len(runs), sum(r[-1].end - r[0].start for r in runs))
    assert list(read_bed(tmp_path / "calls.bed").columns) == ["chrom", "start", "end", "name", "score", "strand"]
    peaks = [line.split("\t") for line in (tmp_path / "c.np").read_text().splitlines()]
    assert [p[:6] for p in peaks] == calls
    for peak, run in zip(peaks, runs):
        assert float(peak[6]) == pytest.approx(max(s.value for s in run), abs=1e-4) and peak[7:9] == ["-1", "-1"]
        assert 0 <= int(peak[9]) < int(peak[2]) - int(peak[1])

    # the track: bedGraph runs = the segments' values rounded to 4 decimals, base by base; bigWig = bedGraph
    lines = (tmp_path / "t.bedgraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    rows = [line.split("\t") for line in lines[1:]]
    per_base = {}
    for chrom, start, end, value in rows:
        assert chrom == "c1"
        per_base.update({b: float(value) for b in range(int(start), int(end))})
    truth = {b: round(s.value, 4) for s in segments for b in range(s.start, s.end)}
    assert sorted(per_base) == sorted(truth) and 92 not in truth  # the N run has no track
    np.testing.assert_allclose([per_base[b] for b in sorted(truth)], [truth[b] for b in sorted(truth)], atol=1e-9)
    handle = pyBigWig.open(str(tmp_path / "t.bw"))
    try:
        assert handle.chroms() == {"c1": 203, "c2": 30}
        got = handle.intervals("c1")
    finally:
        handle.close()
    assert [(s, e) for s, e, _ in got] == [(int(r[1]), int(r[2])) for r in rows]
    np.testing.assert_allclose([v for *_, v in got], [float(r[3]) for r in rows], rtol=1e-6)

    # every track value is what the tiles give; window-model options are errors
    with pytest.raises(InputError, match="--stride applies to window models"):
        scan_genome(track_model, genome, region, tmp_path / "x.bed", stride=10)
    with pytest.raises(InputError, match="multiples of the model's k-mer"):
        scan_genome(track_model, genome, region, tmp_path / "x.bed", tile=63)
    assert not (tmp_path / "x.bed").exists()


# --- 6. save/load, the loss -------------------------------------------------------------------------
def test_round_trip_and_config(track_model, tmp_path):
    track_model.save_pretrained(tmp_path / "m")
    loaded = load_model(tmp_path / "m", expect=TokenClassifier)
    assert isinstance(loaded, TokenClassifier) and loaded.config == track_model.config
    assert loaded.config.k == TK and loaded.config.tile == 64 and loaded.config.context == 12
    assert json.loads((tmp_path / "m" / "config.json").read_text())["model_type"] == "token-classifier"
    enc = track_model.tokenizer.batch_encode(["ACGTTGCA" * 5, "NNACGTGG" * 5])
    with torch.no_grad():
        a = track_model(enc.input_ids, enc.attention_mask).logits
        b = loaded(enc.input_ids, enc.attention_mask).logits
    assert a.shape == (2, 22, 1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert TokenClassifierConfig.from_dict(track_model.config.to_dict()) == track_model.config
    with pytest.raises(ValueError, match="non-overlapping"):
        TokenClassifierConfig(EncoderConfig.for_tokenizer(KmerTokenizer(3, 1), hidden_size=16, num_heads=2),
                              ("promoter",))
    with pytest.raises(ValueError, match="less than half the tile"):
        TokenClassifierConfig(track_model.config.encoder, ("promoter",), tile=64, context=32)
    with pytest.raises(InputError, match="not a sequence classifier"):
        load_model(tmp_path / "m", expect=SequenceClassifier)


def test_loss_masks_framing_tokens_by_hand(track_model):
    def bce(x: float, y: float) -> float:
        return max(x, 0.0) - x * y + np.log1p(np.exp(-abs(x)))  # -y log σ(x) - (1 - y) log(1 - σ(x)), stable

    # tokens: [CLS] body body body [SEP]; the framing tokens are wildly wrong but masked out
    logits = torch.tensor([[[40.0], [0.0], [np.log(3.0)], [-2.0], [-40.0]]])
    targets = torch.tensor([[[0.0], [1.0], [1.0], [0.0], [1.0]]])
    mask = torch.tensor([[False, True, True, True, False]])
    expected = (np.log(2.0) + np.log(4 / 3) + bce(-2.0, 0.0)) / 3
    assert float(track_model.loss(logits, targets, mask)) == pytest.approx(expected, rel=1e-6)
    everything = np.mean([bce(x, y) for x, y in zip([40.0, 0.0, np.log(3.0), -2.0, -40.0], [0, 1, 1, 0, 1])])
    assert float(track_model.loss(logits, targets)) == pytest.approx(everything, rel=1e-6)
    weighted = (2 * np.log(2.0) + 2 * np.log(4 / 3) + bce(-2.0, 0.0)) / 3  # positives count twice
    assert float(track_model.loss(logits, targets, mask, pos_weight=torch.tensor([2.0]))) == pytest.approx(
        weighted, rel=1e-6)
    # through forward: labels and token_mask from encode_tiles (a token's target = max of its k bases)
    batch = encode_tiles(track_model.tokenizer, ["ACGTAC", "GGTTAA"],
                         [labels("010000"), labels("000011")])
    assert batch.labels[..., 0].tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]]
    assert batch.token_mask.tolist() == [[False, True, True, True, False]] * 2
    with torch.no_grad():
        out = track_model(batch.input_ids, batch.attention_mask, labels=batch.labels, token_mask=batch.token_mask)
    body = out.logits[:, 1:4, 0].double()
    by_hand = np.mean([bce(float(x), float(y)) for x, y in zip(body.flatten(), batch.labels[:, 1:4, 0].flatten())])
    assert float(out.loss) == pytest.approx(by_hand, rel=1e-5)


# --- 7. fine-tuning and the CLI ---------------------------------------------------------------------
SPLITS = ["--region", "chr20:1-6000", "--val-region", "chr20:2001-4000", "--test-region", "chr20:4001-6000",
          "--min-distance", "300", "--negatives-per-positive", "2"]
TINY_TRACK = {"model": {"arch": "longformer", "hidden_size": 16, "num_layers": 1, "num_heads": 2,
                        "attention_options": {"window": 8}},
              "train": {"batch_size": 4, "max_steps": 4, "device": "cpu"},
              "finetune": {"kmer": 4, "kmer_stride": 4, "tile": 256, "context": 32, "tiles_per_epoch": 8,
                           "false_calls_per_100kb": 50.0}}


@pytest.fixture(scope="module")
def promoter_data(tmp_path_factory):
    from conftest import DATA

    root = tmp_path_factory.mktemp("track")
    genome, tss = DATA / "promoters" / "genome.fa", DATA / "promoters" / "tss.bed"
    cli_ok("data", "promoters", "--genome", genome, "--tss", tss, "--out", root / "data", *SPLITS)
    return root, genome, tss


@pytest.fixture(scope="module")
def trained(promoter_data):
    root, _, _ = promoter_data
    result = finetune_track(root / "data", root / "model", track_config(overrides=TINY_TRACK), quiet=True)
    return root / "model", result


def test_finetune_track_writes_a_calibrated_model(promoter_data, trained):
    _, genome, tss = promoter_data
    model_dir, result = trained
    assert sorted(p.name for p in model_dir.iterdir()) == ["calibration.json", "config.json", "finetune.json",
                                                           "finetune.yaml", "metrics.csv", "model.safetensors",
                                                           "tokenizer.json"]
    assert result.model_dir == model_dir and result.steps == 4 and result.best_step in (2, 4)
    assert sorted(result.validation) == ["val_auprc", "val_auroc", "val_loss"]
    model = load_model(model_dir, expect=TokenClassifier)
    assert (model.config.tile, model.config.context, model.config.k, model.config.labels) == (256, 32, 4,
                                                                                            ("promoter",))
    assert model.config.encoder.attention == "longformer" and model.config.encoder.hidden_size == 16
    saved = json.loads((model_dir / "calibration.json").read_text())
    assert (saved["window"], saved["stride"], saved["label"]) == (256, 192, "promoter")
    assert saved["regions"] == ["chr20:2001-4000"] and saved["tss"] == 2 and 0.0 <= saved["threshold"] <= 1.0
    assert saved["genome"] == str(genome.resolve()) and saved["tss_file"] == str(tss.resolve())
    record = json.loads((model_dir / "finetune.json").read_text())
    assert record["task"] == "promoter-track" and record["steps"] == 4 and record["steps_per_epoch"] == 2
    assert record["train_ranges"] == ["chr20:1-2000"] and record["val_ranges"] == ["chr20:2001-4000"]
    assert record["train_tss"] == 2 and record["val_tiles"] == 4  # 2 validation TSSs + as many anywhere
    assert record["calibration"]["threshold"] == saved["threshold"]
    assert record["model"]["model_type"] == "token-classifier"


def test_predict_promoters_with_a_track_model(promoter_data, trained, tmp_path):
    import pyBigWig

    _, genome, _ = promoter_data
    model_dir, _ = trained
    base = ["predict", "promoters", "--genome", genome, "--model", model_dir, "--region", "chr20:2001-4000",
            "--device", "cpu", "--quiet"]
    out = tmp_path / "calls.bed"
    result = runner.invoke(app, [str(a) for a in base + ["--out", out, "--bigwig", tmp_path / "t.bw",
                                                         "--bedgraph", tmp_path / "t.bg", "--threshold", "0"]])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["window"], summary["stride"], summary["windows"], summary["scored"]) == (256, 192, 11, 11)
    assert (summary["threshold"], summary["threshold_source"], summary["calls"]) == (0.0, "--threshold", 1)
    assert out.read_text().split("\t")[:3] == ["chr20", "2000", "4000"]
    handle = pyBigWig.open(str(tmp_path / "t.bw"))
    try:
        intervals = handle.intervals("chr20")
    finally:
        handle.close()
    rows = [line.split("\t") for line in (tmp_path / "t.bg").read_text().splitlines()[1:]]
    assert intervals[0][0] == 2000 and intervals[-1][1] == 4000
    assert [(s, e) for s, e, _ in intervals] == [(int(r[1]), int(r[2])) for r in rows]

    # the calibrated threshold by default; --tile/--context change the tiling
    result = runner.invoke(app, [str(a) for a in base + ["--out", out]])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    saved = json.loads((model_dir / "calibration.json").read_text())
    assert (summary["threshold"], summary["threshold_source"]) == (saved["threshold"], "calibrated")
    assert summary["calls"] == saved["calls"]  # the region, tiling and threshold calibration used
    summary = json.loads(cli_ok(*base, "--out", out, "--tile", "128", "--context", "16", "--threshold", "0.5"))
    assert (summary["window"], summary["stride"], summary["windows"]) == (128, 96, 21)


def test_track_cli_errors(promoter_data, trained, tmp_path):
    root, genome, _ = promoter_data
    model_dir, _ = trained
    tok = KmerTokenizer(3)
    window_model = tmp_path / "clf"
    SequenceClassifier(ClassifierConfig(EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=1, num_heads=2,
                                                                    ffn_size=32), ("promoter",), window=60),
                       tokenizer=tok).save_pretrained(window_model)
    out = tmp_path / "out"
    scan = ["predict", "promoters", "--genome", genome, "--region", "chr20:2001-4000", "--out", out / "c.bed",
            "--bigwig", out / "t.bw", "--quiet"]
    line = cli_error(*scan, "--model", model_dir, "--stride", "50")
    assert "--stride applies to window models" in line
    line = cli_error(*scan, "--model", window_model, "--tile", "256")
    assert "--tile, --context and --smooth apply to track models" in line
    for option in ("--context", "--smooth"):
        assert "--tile, --context and --smooth apply to track models" in cli_error(*scan, "--model", window_model,
                                                                                   option, "8")
    line = cli_error(*scan, "--model", model_dir, "--tile", "250")
    assert "must be multiples of the model's k-mer length 4" in line
    line = cli_error(*scan, "--model", model_dir, "--tile", "64", "--context", "32")
    assert "leaves no core" in line
    assert not out.exists() or list(out.iterdir()) == []

    data = root / "data"
    track = ["finetune", "promoter-track", "--data", data, "--hidden", "16", "--layers", "1", "--heads", "2",
             "--device", "cpu", "--quiet", "--max-steps", "1", "--tile", "256", "--context", "32"]
    line = cli_error(*track, "--out", tmp_path / "m1", "--kmer", "4", "--kmer-stride", "1")
    assert "--kmer-stride must equal --kmer (4), got 1" in line
    line = cli_error(*track[:-4], "--out", tmp_path / "m2", "--kmer", "4", "--kmer-stride", "4", "--tile", "250",
                     "--context", "32")
    assert "finetune.tile (250) and finetune.context (32) must be multiples of the model's k-mer length 4" in line
    line = cli_error("finetune", "promoter", "--data", data, "--out", tmp_path / "m3", "--tss-radius", "50",
                     "--device", "cpu", "--quiet")
    assert "--tss-radius apply to promoter-track only" in line
    line = cli_error("finetune", "promoter", "--data", data, "--out", tmp_path / "m4", "--tile", "256",
                     "--tiles-per-epoch", "8", "--device", "cpu", "--quiet")
    assert "--tiles-per-epoch apply to promoter-track only" in line
    line = cli_error("finetune", "promoter", "--data", data, "--out", tmp_path / "m4", "--tile", "256",
                     "--device", "cpu", "--quiet")
    assert "--tile applies to promoter-track and chromatin-track only" in line
    assert not any((tmp_path / name).exists() for name in ("m1", "m2", "m3", "m4"))


def test_finetune_promoter_track_cli(promoter_data, tmp_path):
    root, _, _ = promoter_data
    model_dir = tmp_path / "model"
    printed = cli_ok("finetune", "promoter-track", "--data", root / "data", "--out", model_dir, "--arch", "longformer",
                     "--kmer", "4", "--kmer-stride", "4", "--hidden", "16", "--layers", "1", "--heads", "2",
                     "--tile", "128", "--context", "16", "--tss-radius", "20", "--tiles-per-epoch", "4",
                     "--batch-size", "4", "--max-steps", "2", "--no-calibrate", "--device", "cpu", "--quiet")
    assert "best epoch" in printed and "(step" in printed and "of 2)" in printed
    assert not (model_dir / "calibration.json").exists()
    record = json.loads((model_dir / "finetune.json").read_text())
    assert record["config"]["finetune"]["tss_radius"] == 20 and record["config"]["finetune"]["tile"] == 128
    assert record["steps_per_epoch"] == 1 and record["calibration"] is None
    assert load_model(model_dir, expect=TokenClassifier).config.tile == 128


def test_recipe_tiles_fill_whole_bigbird_blocks():
    # the presets' tile is chosen so a tile's tokens ([CLS] and [SEP] included) fill whole BigBird blocks:
    # no padded block, so the attention kernel adds no mask inside a tile (docs/tasks.md, "Track models")
    model = build_track_model(track_config(None))
    tokens = model.tokenizer.num_tokens(model.config.tile)
    block = model.encoder.blocks[0].attention.attention.config.block_size
    assert model.config.encoder.attention == "bigbird" and model.config.k == 6
    assert tokens % block == 0 and tokens == model.config.tile // 6 + 2
    assert model.config.tile % 6 == 0 and model.config.context % 6 == 0
