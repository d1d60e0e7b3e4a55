"""Promoter calls against TSSs (seqformer.evaluation.scan and `seqformer evaluate scan`), exact."""

from __future__ import annotations

import json
import math

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
