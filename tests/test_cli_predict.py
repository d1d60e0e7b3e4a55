"""`seqformer predict promoters|windows` and `seqformer bench scan` with a tiny SequenceClassifier."""

from __future__ import annotations

import itertools
import json
import random
import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import cli_error, cli_ok, runner

from seqformer.cli import app
from seqformer.io import Genome, read_bed, reverse_complement
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.models import load_model
from seqformer.predict.scorer import classifier_probs
from seqformer.predict.windows import fit_to_window
from seqformer.tokenizers import KmerTokenizer

WINDOW = 60


def encoder_config(tok):
    return EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A 400-base chr1 and a 100-base chr2, a tiny promoter classifier, a 2-label one, an MLM and an encoder."""
    root = tmp_path_factory.mktemp("predict")
    rng = random.Random(0)
    chr1 = "".join(rng.choice("ACGT") for _ in range(400))
    (root / "g.fa").write_text(f">chr1\n{chr1}\n>chr2\n{'N' * 50 + 'ACGT' * 13 + 'AC'}\n")
    tok = KmerTokenizer(3)
    SequenceClassifier(ClassifierConfig(encoder=encoder_config(tok), labels=("promoter",), window=WINDOW),
                       tokenizer=tok).save_pretrained(root / "clf")
    SequenceClassifier(ClassifierConfig(encoder=encoder_config(tok), labels=("enhancer", "promoter"), window=WINDOW),
                       tokenizer=tok).save_pretrained(root / "clf2")
    SequenceClassifier(ClassifierConfig(encoder=encoder_config(tok), labels=("enhancer",), window=WINDOW),
                       tokenizer=tok).save_pretrained(root / "enh")
    mlm = MaskedLM(MaskedLMConfig(encoder_config(tok)), tokenizer=tok)
    mlm.save_pretrained(root / "mlm")
    mlm.encoder.save_pretrained(root / "encoder")
    return root


def scan(files, out_dir, *extra):
    return cli_ok("predict", "promoters", "--genome", files / "g.fa", "--model", files / "clf",
                  "--out", out_dir / "calls.bed", "--bedgraph", out_dir / "track.bedgraph", "--quiet", *extra)


def test_promoters_whole_region_at_threshold_zero(files, tmp_path):
    summary = json.loads(scan(files, tmp_path, "--region", "chr1:11-390", "--threshold", "0", "--stride", "20"))
    assert (summary["windows"], summary["scored"], summary["skipped"]) == (17, 17, 0)  # 10..310 by 20, then 320
    calls = read_bed(tmp_path / "calls.bed")
    assert calls[["chrom", "start", "end", "name", "strand"]].values.tolist()[0][:4] == ["chr1", 10, 390, "promoter"]
    assert len(calls) == 1 and 0 <= int(calls["score"][0]) <= 1000
    track = (tmp_path / "track.bedgraph").read_text().splitlines()
    assert track[0].startswith("track type=bedGraph")
    rows = [line.split("\t") for line in track[1:]]
    assert rows[0][1] == "10" and rows[-1][2] == "390"
    assert all(a[2] == b[1] for a, b in itertools.pairwise(rows))  # contiguous, no gaps
    assert all(0.0 <= float(r[3]) <= 1.0 for r in rows)


def test_promoters_matches_model_on_both_strands(files, tmp_path):
    """One window (region = window): the track value is max(p(+), p(-)) and the call takes its strand."""
    scan(files, tmp_path, "--region", "chr1:101-160", "--threshold", "0")
    model = load_model(files / "clf", expect=SequenceClassifier)
    with Genome(files / "g.fa") as genome:
        seq = genome.fetch("chr1", 100, 160)
    plus, minus = classifier_probs(model, [seq, reverse_complement(seq)])[:, 0]
    rows = [line.split("\t") for line in (tmp_path / "track.bedgraph").read_text().splitlines()[1:]]
    assert rows == [["chr1", "100", "160", f"{round(max(plus, minus), 4):g}"]]
    call = (tmp_path / "calls.bed").read_text().split()
    assert call == ["chr1", "100", "160", "promoter", str(round(max(plus, minus) * 1000)),
                    "+" if plus >= minus else "-"]


def test_promoters_skips_n_windows(files, tmp_path):
    summary = json.loads(scan(files, tmp_path, "--region", "chr2"))
    assert (summary["windows"], summary["skipped"]) == (3, 1)  # starts 0, 30, 40; [0,60) is 50/60 N
    assert json.loads(scan(files, tmp_path, "--region", "chr2", "--max-n", "1"))["skipped"] == 0


def test_promoters_threshold_default_calibrated_and_given(files, tmp_path):
    """No calibration.json: 0.5, said so; with one: its threshold and rate; --threshold wins over both."""
    from seqformer.tasks.calibration import Calibration, write_calibration

    model = tmp_path / "clf"
    shutil.copytree(files / "clf", model)
    args = ["predict", "promoters", "--genome", files / "g.fa", "--model", model, "--region", "chr1:11-390",
            "--out", tmp_path / "c.bed", "--bedgraph", tmp_path / "t.bg", "--quiet"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["threshold"], summary["threshold_source"]) == (0.5, "default") and "calibration" not in summary
    assert "threshold 0.5 (default: the model has no calibration.json" in result.stderr
    values = [float(line.split("\t")[3]) for line in (tmp_path / "t.bg").read_text().splitlines()[1:]]
    middle = sorted(values)[len(values) // 2]
    write_calibration(Calibration(threshold=middle, target_false_per_100kb=1.0, false_per_100kb=0.96, recall=0.5,
                                  calls=3, false_calls=1, tss_found=2, tss=4, regions=["chr1:1-400"], bases=400,
                                  tss_file=None, genome=None, stride=30, window=WINDOW), model)
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["threshold"], summary["threshold_source"]) == (middle, "calibrated")
    assert summary["calibration"]["regions"] == ["chr1:1-400"]
    assert result.stderr.startswith(f"threshold {middle:.3f} (calibrated: 1.0 false calls per 100 kb on chr1:1-400, "
                                    "measured 0.96)")
    calls = read_bed(tmp_path / "c.bed", allow_empty=True)
    assert len(calls) >= 1 and (calls["score"] >= round(middle * 1000)).all()
    result = runner.invoke(app, [str(a) for a in args] + ["--threshold", "0"])
    summary = json.loads(result.stdout)
    assert (summary["threshold"], summary["threshold_source"]) == (0.0, "--threshold")
    assert len(read_bed(tmp_path / "c.bed")) == 1  # everything called: one region
    printed = cli_ok(*args[:-1])
    assert f"at threshold {middle:.3g} (calibrated)" in printed


def test_promoters_narrowpeak_and_bigwig(files, tmp_path):
    import pyBigWig

    summary = json.loads(scan(files, tmp_path, "--region", "chr1:11-390", "--threshold", "0.4", "--narrowpeak",
                              tmp_path / "calls.narrowPeak", "--bigwig", tmp_path / "track.bw"))
    bed = (tmp_path / "calls.bed").read_text().splitlines()
    peaks = [line.split("\t") for line in (tmp_path / "calls.narrowPeak").read_text().splitlines()]
    assert len(peaks) == len(bed) == summary["calls"] >= 1
    for line, peak in zip(bed, peaks):
        assert peak[:6] == line.split("\t") and peak[7:9] == ["-1", "-1"]
        assert 0 <= int(peak[9]) < int(peak[2]) - int(peak[1]) and float(peak[6]) >= 0.4
    track = [line.split("\t") for line in (tmp_path / "track.bedgraph").read_text().splitlines()[1:]]
    handle = pyBigWig.open(str(tmp_path / "track.bw"))
    assert handle.chroms() == {"chr1": 400, "chr2": 104}
    got = handle.intervals("chr1")
    handle.close()
    assert [(s, e) for s, e, _ in got] == [(int(r[1]), int(r[2])) for r in track]
    np.testing.assert_allclose([v for *_, v in got], [float(r[3]) for r in track], rtol=1e-6)


def test_promoters_with_progress_prints_a_summary(files, tmp_path):
    out = cli_ok("predict", "promoters", "--genome", files / "g.fa", "--model", files / "clf",
                 "--region", "chr1:1-200", "--out", tmp_path / "c.bed")
    assert "windows scored" in out and (tmp_path / "c.bed").exists()


def test_promoters_uses_the_promoter_output_of_a_multi_label_model(files, tmp_path):
    cli_ok("predict", "promoters", "--genome", files / "g.fa", "--model", files / "clf2", "--region", "chr1:1-120",
           "--out", tmp_path / "c.bed", "--quiet")
    assert (tmp_path / "c.bed").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--model", "mlm"), "not a sequence classifier"),
    (("--model", "encoder"), "not a sequence classifier"),
    (("--model", "enh"), "no output 'promoter'"),
    (("--region", "chr1:100-99"), "start 100 is after end 99"),
    (("--region", "chr1:1-30"), "fewer than the model's window"),
    (("--region", "chr1:1-1000"), "ends past the end of chr1"),
    (("--region", "chr9:1-100"), "not in g.fa"),
    (("--genome", "missing.fa"), "missing.fa"),
    (("--device", "tpu"), "--device"),
    (("--threshold", "2"), "--threshold"),
])
def test_promoters_errors_leave_no_outputs(files, tmp_path, args, message):
    options = {"--genome": files / "g.fa", "--model": files / "clf", "--region": "chr1"}
    key, value = args
    options[key] = value if key in ("--region", "--device", "--threshold") else files / value
    out = tmp_path / "out"
    argv = [x for pair in options.items() for x in pair]
    line = cli_error("predict", "promoters", *argv, "--out", out / "calls.bed", "--bedgraph", out / "t.bg",
                     "--narrowpeak", out / "c.narrowPeak", "--bigwig", out / "t.bw", "--quiet")
    assert message in line
    assert not out.exists() or list(out.iterdir()) == []


def test_windows_rows_columns_and_centre_fit(files, tmp_path):
    bed = tmp_path / "in.bed"
    bed.write_text("chr1\t200\t260\tw1\t0\t+\n"  # exactly a window
                   "chr1\t0\t100\tw2\t5\t-\n"  # longer: centre-cropped, on the minus strand
                   "chr1\t50\t81\tw3\t0\t+\n")  # shorter: N-padded both sides
    cli_ok("predict", "windows", "--genome", files / "g.fa", "--bed", bed, "--model", files / "clf2",
           "--out", tmp_path / "out.tsv", "--batch-size", "2")
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert list(table.columns) == ["chrom", "start", "end", "name", "score", "strand", "prob_enhancer", "prob_promoter"]
    assert table["name"].tolist() == ["w1", "w2", "w3"]
    model = load_model(files / "clf2", expect=SequenceClassifier)
    with Genome(files / "g.fa") as genome:
        seqs = [genome.fetch("chr1", 200, 260), genome.fetch("chr1", 20, 80, "-"),
                "N" * 14 + genome.fetch("chr1", 50, 81) + "N" * 15]
        assert seqs[1] == fit_to_window(genome.fetch("chr1", 0, 100, "-"), WINDOW)
    expected = classifier_probs(model, seqs)
    np.testing.assert_allclose(table[["prob_enhancer", "prob_promoter"]].to_numpy(), expected, rtol=1e-4, atol=1e-5)


def test_windows_errors(files, tmp_path):
    bed = tmp_path / "in.bed"
    bed.write_text("chr1\t350\t450\n")
    out = tmp_path / "out.tsv"
    assert "ends past the end of chr1" in cli_error("predict", "windows", "--genome", files / "g.fa", "--bed", bed,
                                                    "--model", files / "clf", "--out", out)
    bed.write_text("chr1\t0\t60\n")
    assert "not a sequence classifier" in cli_error("predict", "windows", "--genome", files / "g.fa", "--bed", bed,
                                                    "--model", files / "mlm", "--out", out)
    assert not out.exists()


def test_bench_scan_random_model(files, tmp_path):
    (tmp_path / "g.fa").write_text(">chr1\n" + "ACGTTGCA" * 100 + "\n")
    result = json.loads(cli_ok("bench", "scan", "--genome", tmp_path / "g.fa", "--random-model", "--region", "chr1",
                               "--device", "cpu", "--json", "--repeats", "2"))
    # starts 0, 150, 300, 450, then 500 (flush with the end)
    assert (result["window"], result["stride"], result["windows"], result["scored"]) == (300, 150, 5, 5)
    assert result["scan_seconds"] > 0 and result["forward_seconds"] > 0 and "overhead_pct" in result
    assert len(result["scan_seconds_runs"]) == len(result["forward_seconds_runs"]) == 2
    assert "either --model or --random-model" in cli_error("bench", "scan", "--genome", tmp_path / "g.fa",
                                                           "--region", "chr1")


def test_scan_progress_outside_a_terminal_is_plain_unwrapped_lines(files, tmp_path):
    """No live bar in a log: one `scan: N%` line per tenth crossed, each whole, the last at 100%."""
    result = runner.invoke(app, ["predict", "promoters", "--genome", str(files / "g.fa"), "--model",
                                 str(files / "clf"), "--out", str(tmp_path / "c.bed"), "--region", "chr1:11-390",
                                 "--stride", "20", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("scan:")]
    assert lines and lines[-1].startswith("scan: 100%") and all("windows/s" in line for line in lines)
    percents = [int(line.split()[1].rstrip("%")) for line in lines]
    assert percents == sorted(set(percents))
