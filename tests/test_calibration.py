"""Calibrated promoter calls (seqformer.tasks.calibration): the threshold meeting a false-call rate on
synthetic background scanned with plain scorer functions, pooling regions, the edge cases, and
calibration.json."""

from __future__ import annotations

import json
import math
import random
import zlib

import numpy as np
import pandas as pd
import pytest

from seqformer.errors import InputError
from seqformer.evaluation.scan import evaluate_calls, threshold_sweep
from seqformer.io import Genome, read_bed
from seqformer.predict.scan import scan_genome
from seqformer.tasks.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibrate,
    calibration_inputs,
    pool_sweeps,
    read_calibration,
    scan_threshold,
    write_calibration,
)

WINDOW, STRIDE = 50, 25
MOTIF = "TATAATGCGCATTA"
TSS = {"chrA": [10_000, 30_000, 55_000, 80_000], "chrB": []}  # chrB: background only


def noisy(seqs):
    """Background: a pseudo-random score per window string in [0, 0.9); a window holding MOTIF: 0.99."""
    return np.array([0.99 if MOTIF in s else zlib.crc32(s.encode()) / 2**32 * 0.9 for s in seqs])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibration")
    rng = random.Random(1)
    contigs = {"chrA": 100_000, "chrB": 60_000, "chrN": 300}
    records = []
    for name, length in contigs.items():
        seq = ["N"] * length if name == "chrN" else [rng.choice("ACGT") for _ in range(length)]
        for site in TSS.get(name, []):
            seq[site:site + len(MOTIF)] = MOTIF
        records.append(f">{name}\n{''.join(seq)}\n")
    (root / "g.fa").write_text("".join(records))
    (root / "tss.bed").write_text("".join(f"{c}\t{p}\t{p + 1}\tt{i}\t0\t+\n" for c, sites in TSS.items()
                                          for i, p in enumerate(sites)))
    return root


@pytest.fixture
def genome(files):
    with Genome(files / "g.fa") as opened:
        yield opened


@pytest.mark.parametrize("target", [0.5, 2.0, 5.0])
def test_calibration_meets_its_target_on_background(files, genome, target):
    cal = calibrate(noisy, genome, "chrA", files / "tss.bed", target=target, window=WINDOW, stride=STRIDE)
    sweep = cal.sweep
    chosen = int(np.flatnonzero(sweep["threshold"].to_numpy() == cal.threshold)[0])
    assert cal.met and cal.false_per_100kb <= target
    assert sweep["false_per_100kb"].iloc[chosen + 1] > target  # one step lower breaks the budget
    assert (sweep["false_per_100kb"].iloc[:chosen + 1] <= target).all()
    # calling at that threshold and scoring the calls independently gives the same numbers
    out = files / f"calls_{target}.bed"
    scan_genome(noisy, genome, "chrA", out, window=WINDOW, stride=STRIDE, threshold=cal.threshold)
    metrics = evaluate_calls(read_bed(out, allow_empty=True), read_bed(files / "tss.bed"), genome.region("chrA"))
    assert (metrics.calls, metrics.false_calls, metrics.tss_found) == (cal.calls, cal.false_calls, cal.tss_found)
    assert metrics.false_per_100kb == pytest.approx(cal.false_per_100kb)
    assert metrics.sensitivity == pytest.approx(cal.recall) and cal.recall == 1.0  # the motif windows score 0.99
    assert (cal.tss, cal.bases, cal.regions, cal.window, cal.stride, cal.distance) == (
        4, 100_000, ["chrA:1-100000"], WINDOW, STRIDE, 500)
    assert [r["target_false_per_100kb"] for r in cal.at_rates] == [0.5, 1.0, 2.0]


def test_calibration_equals_evaluate_scan_on_the_written_track(files, genome):
    """The sweep runs on the scores as the bedGraph holds them (4 decimals), so reading the written track back
    gives the calibration's threshold, calls, false calls and TSSs at every reported rate."""
    from seqformer.evaluation.scan import evaluate_track, read_track

    def bumpy(seqs):  # sparse bumps with many decimals near 0.0128, where rounding to 4 decimals bites
        out = []
        for seq in seqs:
            h = zlib.crc32(seq.encode())
            out.append(0.0128 + h % 1000 / 1e7 if MOTIF in seq else 0.0127 + h % 3001 / 1e7 if h % 40 == 0 else 0.0)
        return np.array(out)

    cal = calibrate(bumpy, genome, "chrA", files / "tss.bed", target=2.0, window=WINDOW, stride=STRIDE)
    bedgraph, calls = files / "fine.bedgraph", files / "fine.bed"
    scan_genome(bumpy, genome, "chrA", calls, window=WINDOW, stride=STRIDE, threshold=cal.threshold, bedgraph=bedgraph)
    region = genome.region("chrA")
    read = evaluate_track(read_track(bedgraph, region), read_bed(files / "tss.bed"), region, 500)
    assert [(p["threshold"], p["calls"], p["false_calls"], p["tss_found"]) for p in read.operating_points] == [
        (r["threshold"], r["calls"], round(r["false_per_100kb"]), round(r["recall"] * 4)) for r in cal.at_rates]  # 100 kb
    metrics = evaluate_calls(read_bed(calls, allow_empty=True), read_bed(files / "tss.bed"), region)
    assert (metrics.calls, metrics.false_calls, metrics.tss_found) == (cal.calls, cal.false_calls, cal.tss_found)
    assert cal.threshold == round(cal.threshold, 4) and cal.false_calls > 0  # a level the track can hold

def test_regions_are_pooled(files, genome):
    regions = ["chrA:1-50000", "chrB"]
    cal = calibrate(noisy, genome, regions, files / "tss.bed", target=2.0, window=WINDOW, stride=STRIDE)
    assert cal.bases == 110_000 and cal.tss == 2 and cal.regions == ["chrA:1-50000", "chrB:1-60000"]
    false = calls = 0
    for region in regions:
        out = files / "pooled.bed"
        scan_genome(noisy, genome, region, out, window=WINDOW, stride=STRIDE, threshold=cal.threshold)
        tss = read_bed(files / "tss.bed")
        found = read_bed(out, allow_empty=True)
        frame = pd.DataFrame({"chrom": found["chrom"], "start": found["start"], "end": found["end"]}) \
            if len(found) else pd.DataFrame(columns=["chrom", "start", "end"])
        region_ = genome.region(region)
        near = [any(s - 500 <= p <= e - 1 + 500 for p in tss.loc[tss["chrom"] == region_.chrom, "start"])
                for s, e in zip(frame["start"], frame["end"])]
        calls += len(frame)
        false += near.count(False)
    assert (cal.calls, cal.false_calls) == (calls, false)
    assert cal.false_per_100kb == pytest.approx(false / 110_000 * 100_000) and cal.false_per_100kb <= 2.0


def test_pooling_one_sweep_is_that_sweep():
    rng = np.random.default_rng(0)
    bounds = np.arange(0, 2001, 50)
    values = rng.random(len(bounds) - 1).round(2)
    from seqformer.io.regions import Region

    region = Region("c", 0, 2000)
    sweep = threshold_sweep(bounds[:-1], bounds[1:], values, np.array([500, 1500]), region)
    pooled = pool_sweeps([sweep], [2000], [2])
    pd.testing.assert_frame_equal(pooled.reset_index(drop=True), sweep.reset_index(drop=True), check_dtype=False)
    twice = pool_sweeps([sweep, sweep], [2000, 2000], [2, 2])
    np.testing.assert_array_equal(twice["calls"], 2 * sweep["calls"])
    np.testing.assert_allclose(twice["false_per_100kb"], sweep["false_per_100kb"])


def test_a_region_without_tss_calibrates_on_false_calls_only(files, genome, tmp_path):
    cal = calibrate(noisy, genome, "chrB", files / "tss.bed", target=4.0, window=WINDOW, stride=STRIDE)
    assert cal.tss == 0 and math.isnan(cal.recall) and "recall undefined" in cal.note
    assert cal.met and 0 < cal.false_per_100kb <= 4.0 and cal.false_calls == cal.calls
    write_calibration(cal, tmp_path)
    saved = json.loads((tmp_path / CALIBRATION_FILE).read_text())  # strict JSON: null, never NaN
    assert saved["recall"] is None and saved["threshold"] == cal.threshold and "sweep" not in saved
    again = read_calibration(tmp_path)
    assert math.isnan(again.recall) and again.threshold == cal.threshold and again.regions == cal.regions


def test_no_scored_window_keeps_the_highest_threshold(files, genome):
    cal = calibrate(noisy, genome, "chrN", files / "tss.bed", window=WINDOW, stride=STRIDE)
    assert (cal.threshold, cal.calls, cal.false_per_100kb, cal.met) == (1.0, 0, 0.0, True)
    assert "no scored window" in cal.note


def test_a_background_too_busy_for_the_target_keeps_the_highest_threshold(files, genome):
    def flat(seqs):
        return np.full(len(seqs), 0.7)

    cal = calibrate(flat, genome, "chrB:1-1000", files / "tss.bed", target=1.0, window=WINDOW, stride=STRIDE)
    assert cal.threshold == 0.7 and cal.false_per_100kb == 100.0 and not cal.met  # one false call in 1 kb


def test_bad_targets_and_regions(files, genome):
    for target in (0.0, -1.0):
        with pytest.raises(InputError, match="above 0"):
            calibrate(noisy, genome, "chrA", files / "tss.bed", target=target, window=WINDOW)
    with pytest.raises(InputError, match="fewer than"):
        calibrate(noisy, genome, "chrA:1-10", files / "tss.bed", window=WINDOW)


def test_calibration_inputs_from_dataset_json(files, tmp_path):
    meta = {"genome": str(files / "g.fa"), "tss": str(files / "tss.bed"), "splits": {"val": ["chrA:1-5000"]}}
    found = calibration_inputs(meta, tmp_path)
    assert (found.genome, found.tss, found.regions) == (files / "g.fa", files / "tss.bed", ("chrA:1-5000",))
    with pytest.raises(InputError, match="no-calibrate"):
        calibration_inputs({**meta, "tss": None}, tmp_path)
    with pytest.raises(InputError, match="missing"):
        calibration_inputs({**meta, "genome": str(tmp_path / "gone.fa")}, tmp_path)
    with pytest.raises(InputError, match="splits.val"):
        calibration_inputs({**meta, "splits": {}}, tmp_path)


def _calibration(**changes) -> Calibration:
    values = dict(threshold=0.8731, target_false_per_100kb=1.0, false_per_100kb=0.96, recall=0.5, calls=10,
                  false_calls=2, tss_found=4, tss=8, regions=["chr20:40000001-45000000"], bases=5_000_000,
                  tss_file="tss.bed", genome="g.fa", stride=150, window=300)
    return Calibration(**{**values, **changes})


def test_scan_threshold_sources(tmp_path):
    given = scan_threshold(tmp_path, 0.3)
    assert (given.value, given.source) == (0.3, "--threshold")
    default = scan_threshold(tmp_path)
    assert (default.value, default.source) == (0.5, "default") and "no calibration.json" in default.message
    write_calibration(_calibration(), tmp_path)
    chosen = scan_threshold(tmp_path, stride=150)
    assert (chosen.value, chosen.source) == (0.8731, "calibrated")
    assert chosen.message == ("threshold 0.873 (calibrated: 1.0 false calls per 100 kb on chr20:40000001-45000000, "
                              "measured 0.96)")
    assert chosen.to_dict()["calibration"]["target_false_per_100kb"] == 1.0
    assert "stride 150, scanning at 20" in scan_threshold(tmp_path, stride=20).message
    assert scan_threshold(tmp_path, 0.25).value == 0.25
    assert scan_threshold(tmp_path, label="enhancer").source == "default"
    with pytest.raises(InputError, match="--threshold must be a probability"):
        scan_threshold(tmp_path, 1.5)
    (tmp_path / CALIBRATION_FILE).write_text("{not json")
    with pytest.raises(InputError, match="not a calibration file"):
        read_calibration(tmp_path)
