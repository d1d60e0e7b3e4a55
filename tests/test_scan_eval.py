"""Promoter calls against TSSs (seqformer.evaluation.scan and `seqformer evaluate scan`), exact."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import cli_error, cli_ok

from seqformer.errors import InputError
from seqformer.evaluation.scan import evaluate_calls
from seqformer.io import read_bed
from seqformer.io.regions import Region

TSS = "chr1\t500\t501\nchr1\t1100\t1101\nchr1\t1500\t1501\nchr1\t2900\t2901\nchr1\t3050\t3051\nchr2\t1200\t1201\n"
CALLS = (
    "chr1\t1150\t1200\tpromoter\t900\t+\n"  # 50 from TSS 1100: near
    "chr1\t1700\t1800\tpromoter\t800\t-\n"  # 200 from TSS 1500: false
    "chr1\t2990\t3010\tpromoter\t700\t+\n"  # 90 from 2900 (and 41 from 3050, outside the region): near
    "chr1\t3200\t3300\tpromoter\t600\t+\n"  # outside the region: ignored
    "chr2\t1200\t1300\tpromoter\t600\t+\n"  # another contig: ignored
    "chr1\t900\t1001\tpromoter\t500\t+\n"  # overlaps the region by one base; exactly 100 from TSS 1100
)


@pytest.fixture
def beds(tmp_path):
    (tmp_path / "tss.bed").write_text(TSS)
    (tmp_path / "calls.bed").write_text(CALLS)
    return tmp_path / "calls.bed", tmp_path / "tss.bed"


def test_metrics_exact(beds):
    calls, tss = (read_bed(p) for p in beds)
    m = evaluate_calls(calls, tss, Region("chr1", 1000, 3000), distance=100)
    assert (m.tss, m.tss_found, m.calls, m.calls_near_tss, m.false_calls) == (3, 2, 4, 3, 1)
    assert m.sensitivity == pytest.approx(2 / 3) and m.precision == 0.75
    assert m.false_per_100kb == pytest.approx(1 / 2000 * 100_000)  # 50.0


def test_distance_bound_is_inclusive(beds):
    calls, tss = (read_bed(p) for p in beds)
    m = evaluate_calls(calls, tss, Region("chr1", 1000, 3000), distance=99)
    assert (m.tss_found, m.calls_near_tss, m.false_calls) == (2, 2, 2)


def test_tss_inside_a_call_is_distance_zero():
    import pandas as pd

    calls = pd.DataFrame({"chrom": ["c"], "start": [100], "end": [200]})
    tss = pd.DataFrame({"chrom": ["c"] * 4, "start": [99, 100, 199, 200], "end": [100, 101, 200, 201]})
    m = evaluate_calls(calls, tss, Region("c", 0, 1000), distance=0)
    assert (m.tss, m.tss_found, m.calls_near_tss) == (4, 2, 1)


def test_no_calls_give_undefined_precision():
    import pandas as pd

    empty = pd.DataFrame({"chrom": [], "start": [], "end": []})
    tss = pd.DataFrame({"chrom": ["c"], "start": [10], "end": [11]})
    m = evaluate_calls(empty, tss, Region("c", 0, 1000))
    assert (m.calls, m.tss, m.sensitivity) == (0, 1, 0.0) and math.isnan(m.precision)
    assert m.false_per_100kb == 0.0


@pytest.mark.parametrize("tss_text, calls_text, region, message", [
    ("20\t500\t501\n", "chr1\t1\t2\n", "chr20:1-1000", "contig 'chr20' not in tss.bed; did you mean '20'?"),
    (TSS, "1\t1150\t1200\n", "chr1:1001-3000", "contig 'chr1' not in calls.bed; did you mean '1'?"),
    (TSS, CALLS, "chr1:5001-6000", "no TSS of tss.bed lies in chr1:5001-6000; sensitivity is undefined"),
    ("", CALLS, "chr1:1001-3000", "tss.bed has no TSS; sensitivity is undefined"),
])
def test_an_evaluation_with_nothing_to_compare_is_one_line_and_exit_2(tmp_path, tss_text, calls_text, region,
                                                                      message):
    """Contig names that do not meet, or a region without TSSs, never give an empty report with exit 0."""
    (tmp_path / "tss.bed").write_text(tss_text)
    (tmp_path / "calls.bed").write_text(calls_text)
    line = cli_error("evaluate", "scan", "--calls", tmp_path / "calls.bed", "--tss", tmp_path / "tss.bed",
                     "--region", region, "--out", tmp_path / "m.json")
    assert message in line
    assert not (tmp_path / "m.json").exists()


def test_cli_json(beds):
    calls, tss = beds
    out = json.loads(cli_ok("evaluate", "scan", "--calls", calls, "--tss", tss, "--region", "chr1:1001-3000",
                            "--distance", "100", "--json"))
    assert out["sensitivity"] == pytest.approx(2 / 3) and out["precision"] == 0.75
    assert out["false_per_100kb"] == pytest.approx(50.0) and out["region"] == "chr1:1001-3000"
    assert "sensitivity" in cli_ok("evaluate", "scan", "--calls", calls, "--tss", tss, "--region", "chr1:1001-3000")


def test_cli_writes_the_metrics_file(beds, tmp_path):
    calls, tss = beds
    printed = json.loads(cli_ok("evaluate", "scan", "--calls", calls, "--tss", tss, "--region", "chr1:1001-3000",
                                "--distance", "100", "--json", "--out", tmp_path / "m" / "scan.json"))
    assert json.loads((tmp_path / "m" / "scan.json").read_text()) == printed


def test_cli_errors(beds, tmp_path):
    calls, tss = beds
    assert "malformed region" in cli_error("evaluate", "scan", "--calls", calls, "--tss", tss, "--region", "chr1:x")
    cli_error("evaluate", "scan", "--calls", tmp_path / "missing.bed", "--tss", tss, "--region", "chr1:1-10")


def test_an_empty_calls_file_is_no_calls(beds, tmp_path):
    _, tss = beds
    (tmp_path / "none.bed").write_text("")
    out = json.loads(cli_ok("evaluate", "scan", "--calls", tmp_path / "none.bed", "--tss", tss,
                            "--region", "chr1:1001-3000", "--json"))
    assert out["calls"] == 0 and out["tss_found"] == 0 and out["sensitivity"] == 0.0


def _brute_sweep(starts, ends, values, tss, region, distance):
    """Calls at each threshold by call_peaks, scored by evaluate_calls: the sweep's reference."""
    import pandas as pd

    from seqformer.predict.scan import Segment, call_peaks

    segments = [Segment(int(s), int(e), float(v), float(v), "+") for s, e, v in zip(starts, ends, values)]
    rows = []
    tss_frame = pd.DataFrame({"chrom": ["c"] * len(tss), "start": tss, "end": [p + 1 for p in tss]})
    for t in sorted(set(values), reverse=True):
        calls = list(call_peaks("c", iter(segments), t))
        frame = pd.DataFrame({"chrom": ["c"] * len(calls), "start": [c.start for c in calls],
                              "end": [c.end for c in calls]})
        m = evaluate_calls(frame, tss_frame, region, distance)
        rows.append((t, m.calls, m.false_calls, m.tss_found))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_threshold_sweep_equals_calling_at_each_threshold(seed):
    """Every threshold at once (union-find) against call_peaks + evaluate_calls at each one."""
    import numpy as np

    from seqformer.evaluation.scan import threshold_sweep

    rng = np.random.default_rng(seed)
    bounds = np.sort(rng.choice(np.arange(300, 4801), size=60, replace=False))  # a scan track of the region
    starts, ends = bounds[:-1], bounds[1:]
    keep = rng.random(len(starts)) > 0.15  # gaps: bases no scored window covers
    starts, ends = starts[keep], ends[keep]
    values = np.round(rng.random(len(starts)), 2)
    tss = np.sort(rng.choice(np.arange(0, 5200), size=8, replace=False))
    region = Region("c", 300, 4800)
    sweep = threshold_sweep(starts, ends, values, tss, region, distance=150)
    expected = _brute_sweep(starts, ends, values, tss, region, 150)
    got = list(zip(sweep["threshold"], sweep["calls"], sweep["false_calls"], sweep["tss_found"]))
    assert got == expected
    inside = ((tss >= 300) & (tss < 4800)).sum()
    assert np.allclose(sweep["recall"], sweep["tss_found"] / inside)
    assert np.allclose(sweep["false_per_100kb"], sweep["false_calls"] / 4500 * 100_000)


def test_threshold_for_rate_stops_before_the_first_excess():
    import pandas as pd

    from seqformer.evaluation.scan import threshold_for_rate

    sweep = pd.DataFrame({"threshold": [0.9, 0.8, 0.7, 0.6], "false_per_100kb": [0.0, 0.5, 1.5, 0.9],
                          "calls": [1, 2, 3, 3], "false_calls": [0, 1, 3, 2], "tss_found": [1, 1, 2, 2],
                          "recall": [0.5, 0.5, 1.0, 1.0]})
    assert threshold_for_rate(sweep, 1.0) == (0.8, 0.5)  # 0.6 meets the rate again, but past an excess
    assert threshold_for_rate(sweep, 2.0) == (0.6, 0.9)
    assert threshold_for_rate(sweep.assign(false_per_100kb=5.0), 1.0) == (0.9, 5.0)
    with pytest.raises(InputError, match="above 0"):
        threshold_for_rate(sweep, 0)


# --- a scan's track: recall at false-call rates, summits, the k-mer scanner beside the model -------
# A 200-kb region, so one false call is 0.5 per 100 kb; TSSs at 10, 50, 90, 130 kb (and 250 kb, outside).
TRACK_TSS = (10_000, 50_000, 90_000, 130_000, 250_000)
SEGMENTS = [  # (start, end, value); what each adds as the threshold comes down to its value
    (9_800, 10_000, 0.9),  # joins the 0.95 segment: still one call at TSS 10,000
    (10_000, 10_200, 0.95),  # near TSS 10,000; its call's summit 10,100 (100 bp away)
    (20_000, 20_300, 0.85),  # false; summit 20,150 (10,150 from TSS 10,000)
    (49_600, 49_800, 0.8),  # near TSS 50,000 (last base 49,799: 201 bp); summit 49,700 (300 bp)
    (70_000, 70_100, 0.75),  # false; summit 70,050 (19,950 from TSS 90,000)
    (89_000, 89_200, 0.7),  # false alone (801 bp from TSS 90,000); summit 89,100 (900 bp)
    (89_200, 89_800, 0.6),  # joins the 0.7 segment into a call near TSS 90,000: one false call less
    (130_400, 130_500, 0.55),  # near TSS 130,000 (400 bp); summit 130,450 (450 bp)
    (150_000, 150_100, 0.65),  # false; summit 150,050 (20,050 bp)
    (180_000, 180_100, 0.5),  # false; summit 180,050 (50,050 bp)
]
TRACK_REGION = "c:1-200000"


@pytest.fixture
def track_files(tmp_path):
    lines = ['track type=bedGraph name="promoter" description="promoter probability"']
    lines += [f"c\t{s}\t{e}\t{v:g}" for s, e, v in SEGMENTS]
    (tmp_path / "t.bedgraph").write_text("\n".join(lines) + "\n")
    (tmp_path / "tss.bed").write_text("".join(f"c\t{p}\t{p + 1}\tTSS{i}\t0\t+\n" for i, p in enumerate(TRACK_TSS)))
    return tmp_path / "t.bedgraph", tmp_path / "tss.bed"


def test_read_track_skips_the_header_clips_to_the_region_and_sorts(tmp_path):
    from seqformer.evaluation.scan import read_track

    (tmp_path / "t.bg").write_text("browser position c:1-10\ntrack type=bedGraph\n# note\n\n"
                                   "c 300 400 0.5\nc\t0\t100\t0.25\nd\t0\t50\t1\nc\t100\t300\t0.75\n")
    frame = read_track(tmp_path / "t.bg", Region("c", 50, 350))
    assert frame.to_dict("list") == {"chrom": ["c"] * 3, "start": [50, 100, 300], "end": [100, 300, 350],
                                     "value": [0.25, 0.75, 0.5]}


def test_recall_at_each_rate_and_the_summits_by_hand(track_files):
    from seqformer.evaluation.scan import evaluate_track, read_track

    track, tss = track_files
    region = Region("c", 0, 200_000)
    result = evaluate_track(read_track(track, region), read_bed(tss), region, 500)
    assert (result.tss, result.bases, result.segments) == (4, 200_000, 10)
    sweep = result.sweep
    assert list(sweep["threshold"]) == [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]
    assert list(sweep["calls"]) == [1, 1, 2, 3, 4, 5, 6, 6, 7, 8]
    assert list(sweep["false_calls"]) == [0, 0, 1, 1, 2, 3, 4, 3, 3, 4]  # the merge at 0.6 takes one back
    assert list(sweep["tss_found"]) == [1, 1, 1, 2, 2, 2, 2, 3, 4, 4]
    points = {p["target_false_per_100kb"]: p for p in result.operating_points}
    # 0.5 per 100 kb: 0.75 would make 1.0, so 0.8 (3 calls, 1 false); 1.0: 0.7 would make 1.5, so 0.75;
    # 2.0: never exceeded, so the lowest threshold, 0.5
    assert [(p["threshold"], p["false_per_100kb"], p["calls"], p["tss_found"], p["recall"], p["met"])
            for p in points.values()] == [(0.8, 0.5, 3, 2, 0.5, True), (0.75, 1.0, 4, 2, 0.5, True),
                                          (0.5, 2.0, 8, 4, 1.0, True)]
    # summits to the nearest TSS: at 0.8 [100, 10150, 300]; at 0.75 + 19950; at 0.5 eight calls
    assert points[0.5]["summit_to_tss"] == {"calls": 3, "median": 300.0, "within_100": pytest.approx(1 / 3),
                                            "within_250": pytest.approx(1 / 3), "within_500": pytest.approx(2 / 3)}
    assert points[1.0]["summit_to_tss"] == {"calls": 4, "median": (300 + 10_150) / 2, "within_100": 0.25,
                                            "within_250": 0.25, "within_500": 0.5}
    assert points[2.0]["summit_to_tss"] == {"calls": 8, "median": (900 + 10_150) / 2, "within_100": 0.125,
                                            "within_250": 0.125, "within_500": 0.375}
    # TSS by TSS (10,000, 50,000, 90,000, 130,000): the first two at 0.8 and 0.75, all four at 0.5
    assert [f.tolist() for f in result.found] == [[True, True, False, False]] * 2 + [[True] * 4]
    # the Wilson interval by hand: 2 of 4, z = 1.959964
    z, n, p = 1.959964, 4, 0.5
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert points[0.5]["recall_ci95"] == pytest.approx([centre - half, centre + half], abs=1e-6)
    assert points[2.0]["recall_ci95"][1] == pytest.approx(1.0) and points[2.0]["recall_ci95"][0] < 1


def test_paired_recall_counts_discordant_tsss_and_gives_mcnemars_exact_p():
    from seqformer.evaluation.scan import paired_recall, recall_interval

    a = np.array([True] * 7 + [False] * 3)
    b = np.array([True, False, False, False, False, False, False, True, False, False])
    rows = paired_recall([a, a, b], [b, a, a])
    assert [(r["both"], r["only_first"], r["only_second"]) for r in rows] == [(1, 6, 1), (7, 0, 0), (1, 1, 6)]
    assert rows[0]["mcnemar_p"] == pytest.approx(2 * 8 / 2 ** 7)  # P(X <= 1 or X >= 6), X ~ Bin(7, 1/2)
    assert rows[1]["mcnemar_p"] == 1.0 and rows[2]["mcnemar_p"] == pytest.approx(rows[0]["mcnemar_p"])
    assert recall_interval(0, 0) is None  # undefined without TSSs


def test_a_rate_no_threshold_meets_is_flagged():
    import pandas as pd

    from seqformer.evaluation.scan import evaluate_track

    track = pd.DataFrame({"chrom": ["c"], "start": [5_000], "end": [5_100], "value": [0.9]})  # one false call
    tss = pd.DataFrame({"chrom": ["c"], "start": [50_000], "end": [50_001]})
    result = evaluate_track(track, tss, Region("c", 0, 100_000), 500, rates=(0.5,))
    (point,) = result.operating_points
    assert (point["threshold"], point["false_per_100kb"], point["met"], point["recall"]) == (0.9, 1.0, False, 0.0)


def test_calls_at_joins_touching_segments_and_finds_the_summit():
    import numpy as np

    from seqformer.evaluation.scan import calls_at

    starts = np.array([0, 10, 20, 40, 50])
    ends = np.array([10, 20, 30, 50, 60])  # a gap between 30 and 40
    values = np.array([0.6, 0.9, 0.9, 0.7, 0.8])
    calls = calls_at(starts, ends, values, 0.6)
    assert calls.to_dict("list") == {"start": [0, 40], "end": [30, 60], "peak": [0.9, 0.8], "summit": [15, 55]}
    assert calls_at(starts, ends, values, 0.95).empty
    assert calls_at(starts, ends, values, 0.85)[["start", "end", "summit"]].to_dict("list") == {
        "start": [10], "end": [30], "summit": [15]}  # a tie: the leftmost top segment's middle


def test_nearest_tss_distance():
    import numpy as np

    from seqformer.evaluation.scan import nearest_tss_distance

    assert list(nearest_tss_distance(np.array([0, 99, 150, 400]), np.array([300, 100]))) == [100, 1, 50, 100]
    assert np.isinf(nearest_tss_distance(np.array([5]), np.array([], int))).all()


def test_cli_track_mode_writes_metrics_sweep_and_figure(track_files, tmp_path):
    track, tss = track_files
    printed = json.loads(cli_ok("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION,
                                "--json", "--out", tmp_path / "m.json", "--sweep", tmp_path / "sweep.tsv",
                                "--figure", tmp_path / "curve"))
    assert json.loads((tmp_path / "m.json").read_text()) == printed
    assert (printed["region"], printed["tss"], printed["distance"], list(printed["predictors"])) == (
        TRACK_REGION, 4, 500, ["model"])
    points = printed["predictors"]["model"]["operating_points"]
    assert [p["recall"] for p in points] == [0.5, 0.5, 1.0]
    lines = (tmp_path / "sweep.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["predictor", "threshold", "calls", "false_calls", "false_per_100kb",
                                    "tss_found", "recall"]
    assert len(lines) == 11 and lines[4].split("\t") == ["model", "0.8", "3", "1", "0.5", "2", "0.5"]
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in (tmp_path / "curve.svg").read_text()
    table = cli_ok("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION)
    assert "300 bp; 33/33/67%" in table and "50.0% (2;" in table and "15–85%" in table  # may wrap


def test_a_bigwig_track_gives_the_same_numbers(track_files, tmp_path):
    import pyBigWig

    track, tss = track_files
    bw = pyBigWig.open(str(tmp_path / "t.bw"), "w")
    bw.addHeader([("c", 300_000)])
    ordered = sorted(SEGMENTS)
    bw.addEntries(["c"] * len(ordered), [s for s, _, _ in ordered], ends=[e for _, e, _ in ordered],
                  values=[v for _, _, v in ordered])
    bw.close()
    args = ("--tss", tss, "--region", TRACK_REGION, "--json")
    from_bedgraph = json.loads(cli_ok("evaluate", "scan", "--track", track, *args))["predictors"]["model"]
    from_bigwig = json.loads(cli_ok("evaluate", "scan", "--track", tmp_path / "t.bw", *args))["predictors"]["model"]
    assert from_bigwig["operating_points"] == from_bedgraph["operating_points"]
    line = cli_error("evaluate", "scan", "--track", tmp_path / "t.bw", "--tss", tss, "--region", "chrc:1-1000")
    assert "contig 'chrc' not in t.bw; did you mean 'c'?" in line


@pytest.mark.parametrize("text, message", [
    ("track type=bedGraph\nc\t0\t100\t0.5\nc\t100\t200\n", "t.bedgraph: line 3: 3 columns, expected 4"),
    ("c\t0\t100\t0.5\nc\t1x0\t200\t0.5\n", "t.bedgraph: line 2: start '1x0' is not a whole number >= 0"),
    ("c\t0\t100\t0.5\nc\t200\t200\t0.5\n", "t.bedgraph: line 2: end 200 is not above start 200"),
    ("c\t0\t100\thigh\n", "t.bedgraph: line 1: value 'high' is not a finite number"),
    ("c\t0\t100\t0.5\nc\t50\t200\t0.5\n", "t.bedgraph: intervals c:0-100 and c:50-200 overlap"),
    ("chrc\t0\t100\t0.5\n", "contig 'c' not in t.bedgraph; did you mean 'chrc'?"),
    ("chr1\t0\t100\t0.5\n", "contig 'c' not in t.bedgraph; it has chr1"),
    ("c\t190000\t199000\t0.5\n", "t.bedgraph has no interval in c:1-100000"),
])
def test_a_bad_track_is_one_line_and_exit_2(track_files, tmp_path, text, message):
    track, tss = track_files
    track.write_text(text)
    line = cli_error("evaluate", "scan", "--track", track, "--tss", tss, "--region", "c:1-100000",
                     "--out", tmp_path / "m.json", "--sweep", tmp_path / "s.tsv", "--figure", tmp_path / "f")
    assert message in line
    assert not any((tmp_path / name).exists() for name in ("m.json", "s.tsv", "f.png", "f.svg"))


def test_track_on_a_contig_other_than_the_tss_bed_reuses_the_calls_checks(track_files, tmp_path):
    track, _ = track_files
    (tmp_path / "tss20.bed").write_text("20\t500\t501\n")
    line = cli_error("evaluate", "scan", "--track", track, "--tss", tmp_path / "tss20.bed", "--region", "c:1-1000")
    assert "contig 'c' not in tss20.bed" in line


@pytest.mark.parametrize("extra, message", [
    ((), "give --calls (promoter calls) or --track"),
    (("--calls", "C", "--track", "T"), "not both"),
    (("--calls", "C", "--sweep", "s.tsv"), "--sweep needs --track"),
    (("--calls", "C", "--figure", "f"), "--figure needs --track"),
    (("--track", "T", "--genome", "g.fa"), "needs both --genome and --baseline-data"),
])
def test_option_combinations_are_checked(track_files, extra, message):
    track, tss = track_files
    argv = [track if a == "T" else tss.parent / "calls.bed" if a == "C" else a for a in extra]
    assert message in cli_error("evaluate", "scan", *argv, "--tss", tss, "--region", TRACK_REGION)


# the k-mer logistic regression scanning the promoter fixture (tests/data/promoters: chr20, 6 kb, 6 TSSs)
PROMOTER_TSS = (936, 1018, 2940, 3009, 4931, 4955)
BACKGROUND_STARTS = (100, 300, 1500, 1700, 2200, 2500, 3500, 3700, 4200, 4500, 5200, 5600)
SCAN_WINDOW = 100


def promoter_folder(out, data_dir, test_names=None):
    """A promoter data folder over the fixture genome: 100-bp windows, positives centred on each TSS.

    ``test_names``: names of extra test windows (positives for TSS names, background otherwise) placed
    at fixed starts; without it every window is in the train split.
    """
    import pandas as pd

    from seqformer.data.windows import write_window_data

    rows = [(p - 50, f"TSS_{p}", 1, "train") for p in PROMOTER_TSS]
    rows += [(s, f"bg-random:chr20:{s + 1}-{s + SCAN_WINDOW}", 0, "train") for s in BACKGROUND_STARTS]
    for i, name in enumerate(test_names or ()):
        rows.append((150 + 400 * i, name, int(name.startswith("TSS")), "test"))
    table = pd.DataFrame({"chrom": "chr20", "start": [r[0] for r in rows],
                          "end": [r[0] + SCAN_WINDOW for r in rows], "name": [r[1] for r in rows], "strand": "+",
                          "source": "genome", "record": "chr20", "offset": [r[0] for r in rows],
                          "split": [r[3] for r in rows], "promoter": [r[2] for r in rows]})
    genome = str((data_dir / "promoters" / "genome.fa").resolve())
    write_window_data(out, table, {"task": "promoter", "targets": ["promoter"], "window": SCAN_WINDOW,
                                   "sources": {"genome": {"kind": "genome", "path": genome}}})
    return out


def test_the_kmer_scanner_gives_the_model_scans_track(tmp_path, data_dir):
    """Both strands (max), mean over the covering windows, one value per segment, as the model's scan."""
    import numpy as np

    from seqformer.evaluation.scan import kmer_scanner, scan_track
    from seqformer.io import Genome, reverse_complement

    scorer, window, about = kmer_scanner(promoter_folder(tmp_path / "data", data_dir), k=3)
    assert window == SCAN_WINDOW and about["train_windows"] == 18 and about["k"] == 3
    with Genome(data_dir / "promoters" / "genome.fa") as genome:
        region = genome.region("chr20:1-1000")
        track = scan_track(scorer, genome, region, window, 50)
        bases = genome.fetch("chr20", 0, 1000)
    starts = list(range(0, 901, 50))
    seqs = [bases[s:s + window] for s in starts]
    scores = np.maximum(scorer(seqs), scorer([reverse_complement(s) for s in seqs]))
    per_base = np.zeros(1000)
    cover = np.zeros(1000)
    for s, score in zip(starts, scores):
        per_base[s:s + window] += score
        cover[s:s + window] += 1
    expected = np.round(per_base / cover, 4)
    assert track["start"].iloc[0] == 0 and track["end"].iloc[-1] == 1000
    assert (track["start"].to_numpy()[1:] == track["end"].to_numpy()[:-1]).all()  # contiguous, no overlap
    got = np.repeat(track["value"].to_numpy(), (track["end"] - track["start"]).to_numpy())
    assert np.array_equal(got, expected)
    assert (np.diff(track["value"].to_numpy()) != 0).all()  # equal neighbours merged: one value per segment


def test_cli_scores_the_kmer_scanner_beside_the_model(tmp_path, data_dir):
    genome = data_dir / "promoters" / "genome.fa"
    data = promoter_folder(tmp_path / "data", data_dir)
    (tmp_path / "model.bedgraph").write_text("track type=bedGraph\n" + "".join(
        f"chr20\t{s}\t{s + 100}\t{0.9 if any(s <= p < s + 100 for p in PROMOTER_TSS) else 0.1}\n"
        for s in range(0, 6000, 100)))
    printed = json.loads(cli_ok(
        "evaluate", "scan", "--track", tmp_path / "model.bedgraph", "--tss", data_dir / "promoters" / "tss.bed",
        "--region", "chr20:1-6000", "--genome", genome, "--baseline-data", data, "--baseline-k", "3",
        "--json", "--sweep", tmp_path / "sweep.tsv", "--figure", tmp_path / "curve"))
    assert list(printed["predictors"]) == ["model", "3-mer logistic regression"]
    paired = printed["paired"]["3-mer logistic regression"]
    for row, point, other in zip(paired, printed["predictors"]["model"]["operating_points"],
                                 printed["predictors"]["3-mer logistic regression"]["operating_points"]):
        assert row["both"] + row["only_first"] == point["tss_found"]
        assert row["both"] + row["only_second"] == other["tss_found"]
        assert 0 < row["mcnemar_p"] <= 1
    model, baseline = printed["predictors"].values()
    assert [p["recall"] for p in model["operating_points"]] == [1.0, 1.0, 1.0]  # every TSS, no false call
    assert [p["false_per_100kb"] for p in model["operating_points"]] == [0.0, 0.0, 0.0]
    assert baseline["baseline"]["stride"] == 50 and baseline["baseline"]["window"] == 100
    assert len(baseline["operating_points"]) == 3 and baseline["segments"] > 1
    predictors = {line.split("\t")[0] for line in (tmp_path / "sweep.tsv").read_text().splitlines()[1:]}
    assert predictors == {"model", "3-mer logistic regression"}
    assert (tmp_path / "curve.png").exists() and (tmp_path / "curve.svg").exists()
    printed = cli_ok("evaluate", "scan", "--track", tmp_path / "model.bedgraph", "--tss",
                     data_dir / "promoters" / "tss.bed", "--region", "chr20:1-6000", "--genome", genome,
                     "--baseline-data", data, "--baseline-k", "3", "--stride", "100")
    assert "3-mer logistic regression" in printed and "scanned here" in printed


# --- split by CpG island (seqformer.evaluation.islands, `evaluate scan --cpg-islands`) --------------------
# Islands for the track fixture above: one at TSS 10,000; two without a TSS, each with a false call
# within 500 bp (20,000-20,300 overlaps the first; 150,000-150,100 ends 451 bp before the second);
# one without a TSS or a call; one outside the region.
ISLANDS = "c\t9500\t10400\nc\t20100\t20200\nc\t150550\t150700\nc\t195000\t195500\nc\t300000\t300500\n"


def _brute_meet(starts, ends, other_starts, other_ends, distance):
    """The naive reference: the gap between each pair's nearest bases."""
    out = []
    for s, e in zip(starts, ends):
        gaps = [max(0, os - (e - 1), s - (oe - 1)) for os, oe in zip(other_starts, other_ends)]
        out.append(bool(gaps) and min(gaps) <= distance)
    return np.array(out, dtype=bool)


@pytest.mark.parametrize("seed", range(5))
def test_intervals_meet_equals_the_naive_pairwise_gap(seed):
    from seqformer.evaluation.scan import intervals_meet

    rng = np.random.default_rng(seed)
    starts = rng.integers(0, 1_000, 40)
    ends = starts + rng.integers(1, 60, 40)
    other_starts = rng.integers(0, 1_000, 15)
    other_ends = other_starts + rng.integers(1, 200, 15)
    for distance in (0, 1, 25, 100):
        assert (intervals_meet(starts, ends, other_starts, other_ends, distance)
                == _brute_meet(starts, ends, other_starts, other_ends, distance)).all()
    assert not intervals_meet(starts, ends, np.zeros(0, int), np.zeros(0, int), 10).any()


def test_recall_and_false_calls_split_by_island_by_hand(track_files, tmp_path):
    from seqformer.evaluation.islands import island_intervals, island_summary, split_track_by_islands
    from seqformer.evaluation.scan import evaluate_track, read_track

    track, tss = track_files
    (tmp_path / "cgi.bed").write_text(ISLANDS)
    region = Region("c", 0, 200_000)
    tss_frame = read_bed(tss)
    islands = island_intervals(read_bed(tmp_path / "cgi.bed"), region)
    result = evaluate_track(read_track(track, region), tss_frame, region, 500)
    splits = split_track_by_islands(result, tss_frame, islands, region)
    # TSS 10,000 is at an island; 50,000, 90,000 and 130,000 are not (130,000 has none within 500 bp)
    # 0.5 per 100 kb (threshold 0.8): TSSs 10,000 and 50,000; one false call, at the island 20,100-20,200
    # 1 per 100 kb (0.75): the same, and the false call 70,000-70,100 elsewhere
    # 2 per 100 kb (0.5): all four; false calls 20,000 and 150,000 at islands, 70,000 and 180,000 elsewhere
    assert [(s["at_islands"]["found"], s["at_islands"]["tss"], s["elsewhere"]["found"], s["elsewhere"]["tss"],
             s["false_calls_at_islands"], s["false_calls_elsewhere"]) for s in splits] == [
        (1, 1, 1, 3, 1, 0), (1, 1, 1, 3, 1, 1), (1, 1, 3, 3, 2, 2)]
    for split, point in zip(splits, result.operating_points):  # the split adds up to the whole
        assert split["at_islands"]["found"] + split["elsewhere"]["found"] == point["tss_found"]
        assert split["false_calls_at_islands"] + split["false_calls_elsewhere"] == point["false_calls"]
    assert splits[0]["elsewhere"]["recall"] == pytest.approx(1 / 3) and splits[0]["at_islands"]["recall"] == 1.0
    sites = tss_frame["start"].to_numpy()
    assert island_summary(islands, sites, region, 500) == {"in_region": 4, "without_tss": 3,
                                                           "without_tss_per_100kb": 1.5}
    # a stratum without TSSs has an undefined recall, not 0
    only_far = island_intervals(read_bed(tmp_path / "cgi.bed").iloc[[3]], region)
    split = split_track_by_islands(result, tss_frame, only_far, region)[0]
    assert split["at_islands"] == {"tss": 0, "found": 0, "recall": None, "recall_ci95": None}


def test_stratum_sweeps_split_the_curve_by_hand(track_files, tmp_path):
    from seqformer.evaluation.islands import island_intervals, stratum_sweeps
    from seqformer.evaluation.scan import evaluate_track, read_track

    track, tss = track_files
    (tmp_path / "cgi.bed").write_text(ISLANDS)
    region = Region("c", 0, 200_000)
    result = evaluate_track(read_track(track, region), read_bed(tss), region, 500)
    strata = stratum_sweeps(result, island_intervals(read_bed(tmp_path / "cgi.bed"), region))
    # TSS 10,000 (at an island) is found from 0.95 down; of the others 50,000 from 0.8, 90,000 from 0.6
    # and 130,000 from 0.55 (the sweep's thresholds: 0.95, 0.9, ..., 0.5)
    assert list(strata["at_islands"]["tss_found"]) == [1] * 10
    assert list(strata["elsewhere"]["tss_found"]) == [0, 0, 0, 1, 1, 1, 1, 2, 3, 3]
    assert (strata["at_islands"]["tss_found"] + strata["elsewhere"]["tss_found"]).tolist() == list(
        result.sweep["tss_found"])
    assert strata["elsewhere"]["recall"].iloc[-1] == 1.0 and strata["elsewhere"]["recall"].iloc[3] == pytest.approx(1 / 3)
    assert list(strata["elsewhere"]["false_per_100kb"]) == list(result.sweep["false_per_100kb"])
    none_at = stratum_sweeps(result, island_intervals(read_bed(tmp_path / "cgi.bed").iloc[[3]], region))
    assert none_at["at_islands"]["recall"].isna().all()  # no TSS at an island: undefined, not 0
    # the figure's points: each stratum's recall at the operating points, as the split of their calls gives it
    from seqformer.evaluation.islands import split_track_by_islands, stratum_curves

    islands = island_intervals(read_bed(tmp_path / "cgi.bed"), region)
    curves, marks, counts = stratum_curves({"model": result}, islands)
    assert counts == {"at_islands": 1, "elsewhere": 3}
    assert curves["elsewhere"]["model"].equals(strata["elsewhere"])
    splits = split_track_by_islands(result, read_bed(tss), islands, region)
    for stratum in ("at_islands", "elsewhere"):
        assert [p["recall"] for p in marks[stratum]["model"]] == [s[stratum]["recall"] for s in splits]


def test_cli_splits_a_track_by_island(track_files, tmp_path):
    track, tss = track_files
    (tmp_path / "cgi.bed").write_text(ISLANDS)
    printed = json.loads(cli_ok("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION,
                                "--cpg-islands", tmp_path / "cgi.bed", "--json"))
    assert printed["cpg_islands"]["without_tss"] == 3 and printed["cpg_islands"]["in_region"] == 4
    points = printed["predictors"]["model"]["operating_points"]
    assert [p["cpg_islands"]["elsewhere"]["found"] for p in points] == [1, 1, 3]
    table = cli_ok("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION,
                   "--cpg-islands", tmp_path / "cgi.bed")
    assert "split by CpG island" in table and "33.3% (1 of 3)" in table and "100.0% (3 of 3)" in table
    cli_ok("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION, "--cpg-islands",
           tmp_path / "cgi.bed", "--island-figure", tmp_path / "strata")
    assert (tmp_path / "strata.png").read_bytes()[:4] == b"\x89PNG" and "<svg" in (tmp_path / "strata.svg").read_text()
    assert "--island-figure needs --cpg-islands" in cli_error("evaluate", "scan", "--track", track, "--tss", tss,
                                                              "--region", TRACK_REGION, "--island-figure",
                                                              tmp_path / "f")


def test_cli_splits_calls_by_island(beds, tmp_path):
    # one island at TSS 1,100 and one within 100 bp of the false call 1,700-1,800
    calls, calls_tss = beds
    (tmp_path / "cgi1.bed").write_text("chr1\t1050\t1120\nchr1\t1850\t1900\n")
    printed = json.loads(cli_ok("evaluate", "scan", "--calls", calls, "--tss", calls_tss, "--region",
                                "chr1:1001-3000", "--distance", "100", "--cpg-islands", tmp_path / "cgi1.bed",
                                "--json"))
    split = printed["cpg_islands"]
    assert (split["at_islands"]["found"], split["at_islands"]["tss"], split["elsewhere"]["found"],
            split["elsewhere"]["tss"]) == (1, 1, 1, 2)
    assert (split["false_calls_at_islands"], split["false_calls_elsewhere"], split["without_tss"]) == (1, 0, 1)
    assert printed["sensitivity"] == pytest.approx(2 / 3)  # the whole is unchanged
    table = cli_ok("evaluate", "scan", "--calls", calls, "--tss", calls_tss, "--region", "chr1:1001-3000",
                   "--distance", "100", "--cpg-islands", tmp_path / "cgi1.bed")
    assert "other TSSs" in table and "50.0% (1 of 2)" in table


@pytest.mark.parametrize("text, message", [
    ("", "has no interval"),
    ("chr20\t1\t100\n", "contig 'c' not in cgi.bed"),
])
def test_a_bad_island_bed_is_one_line_and_exit_2(track_files, tmp_path, text, message):
    track, tss = track_files
    (tmp_path / "cgi.bed").write_text(text)
    line = cli_error("evaluate", "scan", "--track", track, "--tss", tss, "--region", TRACK_REGION,
                     "--cpg-islands", tmp_path / "cgi.bed", "--out", tmp_path / "m.json")
    assert message in line and not (tmp_path / "m.json").exists()
