"""The promoter CLI end to end: data promoters → finetune promoter → evaluate promoter, and its errors."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers import cli_error, cli_ok, runner

from seqformer.cli import app
from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.models.classifier import SequenceClassifier
from seqformer.tokenizers import KmerTokenizer

SPLITS = ["--region", "chr20:1-6000", "--val-region", "chr20:2001-4000", "--test-region", "chr20:4001-6000",
          "--min-distance", "300", "--negatives-per-positive", "2"]
TINY = ["--kmer", "3", "--hidden", "16", "--layers", "1", "--heads", "2", "--batch-size", "4", "--device", "cpu",
        "--quiet"]


@pytest.fixture
def fixture(data_dir):
    return data_dir / "promoters" / "genome.fa", data_dir / "promoters" / "tss.bed"


@pytest.fixture
def dataset(fixture, tmp_path):
    genome, tss = fixture
    out = tmp_path / "data"
    cli_ok("data", "promoters", "--genome", genome, "--tss", tss, "--out", out, *SPLITS)
    return out


def test_build_finetune_evaluate(dataset, tmp_path):
    model_dir, eval_dir = tmp_path / "model", tmp_path / "eval"
    printed = cli_ok("finetune", "promoter", "--data", dataset, "--out", model_dir, "--max-steps", "2", *TINY)
    assert "best epoch 1 (step 2 of 2)" in printed
    assert sorted(p.name for p in model_dir.iterdir()) == ["calibration.json", "config.json", "finetune.json",
                                                           "finetune.yaml", "metrics.csv", "model.safetensors",
                                                           "tokenizer.json"]
    with open(model_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["1", "2"] and rows[1]["val_auroc"] != ""
    model = SequenceClassifier.from_pretrained(model_dir)
    assert model.config.labels == ("promoter",) and model.config.window == 300
    assert json.loads((model_dir / "finetune.json").read_text())["config"]["train"]["max_steps"] == 2

    printed = cli_ok("evaluate", "promoter", "--data", dataset, "--model", model_dir, "--out", eval_dir,
                     "--json", "--device", "cpu")
    result = json.loads(printed)
    assert sorted(p.name for p in eval_dir.iterdir()) == ["metrics.json", "pr.png", "pr.svg", "roc.png", "roc.svg"]
    assert json.loads((eval_dir / "metrics.json").read_text()) == result
    assert result["counts"] == {"promoter": 2, "background": 4} and result["strands"] == "both"
    assert sorted(result["metrics"]) == ["4-mer logistic regression", "model"]
    for scores in result["metrics"].values():
        assert sorted(scores) == ["auprc", "auroc", "f1", "mcc"]
    assert (eval_dir / "roc.png").read_bytes()[:4] == b"\x89PNG"
    assert "AUROC" in cli_ok("evaluate", "promoter", "--data", dataset, "--model", model_dir, "--device", "cpu")


def test_finetune_calibrates_and_predict_uses_the_threshold(dataset, fixture, tmp_path):
    """A promoter model is calibrated on the validation range; predict promoters calls at that threshold."""
    genome, tss = fixture
    model_dir = tmp_path / "model"
    printed = cli_ok("finetune", "promoter", "--data", dataset, "--out", model_dir, "--max-steps", "2",
                     "--false-calls-per-100kb", "40", *TINY)
    saved = json.loads((model_dir / "calibration.json").read_text())
    assert saved["regions"] == ["chr20:2001-4000"] and saved["target_false_per_100kb"] == 40.0
    assert saved["tss_file"] == str(tss.resolve()) and saved["genome"] == str(genome.resolve())
    assert (saved["window"], saved["stride"], saved["distance"], saved["label"]) == (300, 150, 500, "promoter")
    assert saved["tss"] == 2 and 0.0 <= saved["threshold"] <= 1.0
    assert saved["met"] == (saved["false_per_100kb"] <= 40.0)
    record = json.loads((model_dir / "finetune.json").read_text())
    assert record["calibration"]["threshold"] == saved["threshold"]
    assert record["config"]["finetune"]["false_calls_per_100kb"] == 40.0
    assert f"threshold {saved['threshold']:.3f} (calibrated: 40.0 false calls per 100 kb on chr20:2001-4000" in printed

    args = ["predict", "promoters", "--genome", genome, "--model", model_dir, "--region", "chr20:2001-4000",
            "--out", tmp_path / "calls.bed", "--device", "cpu", "--quiet"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["threshold"], summary["threshold_source"]) == (saved["threshold"], "calibrated")
    assert summary["calls"] == saved["calls"]  # the same region, stride and threshold: the calls calibration counted
    assert "(calibrated: 40.0 false calls per 100 kb on chr20:2001-4000, measured" in result.stderr
    summary = json.loads(cli_ok(*args, "--threshold", "0"))
    assert (summary["threshold"], summary["threshold_source"], summary["calls"]) == (0.0, "--threshold", 1)


def test_finetune_without_calibration_and_bad_rates(dataset, tmp_path):
    cli_ok("finetune", "promoter", "--data", dataset, "--out", tmp_path / "model", "--max-steps", "1",
           "--no-calibrate", *TINY)
    assert not (tmp_path / "model" / "calibration.json").exists()
    assert json.loads((tmp_path / "model" / "finetune.json").read_text())["calibration"] is None
    for rate in ("0", "-1"):
        line = cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "bad",
                         "--false-calls-per-100kb", rate, *TINY)
        assert f"--false-calls-per-100kb must be above 0, got {rate}" in line
    (tmp_path / "bad.yaml").write_text("finetune: {false_calls_per_100kb: 0}\n")
    line = cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "bad", "--config",
                     tmp_path / "bad.yaml", *TINY)
    assert "false_calls_per_100kb must be above 0" in line
    meta = json.loads((dataset / "dataset.json").read_text())
    (dataset / "dataset.json").write_text(json.dumps({**meta, "tss": str(tmp_path / "gone.bed")}))
    line = cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "bad", *TINY)
    assert "gone.bed is missing" in line and "--no-calibrate" in line
    assert not (tmp_path / "bad").exists()


def test_finetune_from_a_pretrained_encoder(dataset, tmp_path):
    tokenizer = KmerTokenizer(3, 1)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32)
    torch.manual_seed(3)
    MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer).save_pretrained(tmp_path / "mlm")
    cli_ok("finetune", "promoter", "--data", dataset, "--out", tmp_path / "model", "--init", tmp_path / "mlm",
           "--max-steps", "1", *TINY)
    assert SequenceClassifier.from_pretrained(tmp_path / "model").config.encoder == encoder


def test_data_errors_are_one_line_and_write_nothing(fixture, tmp_path):
    genome, tss = fixture
    out = tmp_path / "data"
    (tmp_path / "numeric.bed").write_text("20\t100\t101\tt\t0\t+\n")
    line = cli_error("data", "promoters", "--genome", genome, "--tss", tmp_path / "numeric.bed", "--out", out)
    assert "contig '20' not in genome.fa; did you mean 'chr20'?" in line
    line = cli_error("data", "promoters", "--genome", genome, "--tss", tss, "--out", out, "--region", "chr20:1-500")
    assert "no TSS of the BED lies in chr20:1-500" in line
    (tmp_path / "edge.bed").write_text("chr20\t100\t101\tt\t0\t+\nchr20\t5990\t5991\tu\t0\t-\n")
    line = cli_error("data", "promoters", "--genome", genome, "--tss", tmp_path / "edge.bed", "--out", out)
    assert "no windows left" in line and "2 off contig" in line
    assert "start 5 is after end 1" in cli_error("data", "promoters", "--genome", genome, "--tss", tss, "--out", out,
                                                 "--test-region", "chr20:5-1")
    assert "overlap" in cli_error("data", "promoters", "--genome", genome, "--tss", tss, "--out", out,
                                  "--test-region", "chr20")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edge.bed", "numeric.bed"]


def test_finetune_and_evaluate_errors(dataset, fixture, tmp_path):
    assert "not a data folder: dataset.json is missing" in cli_error("finetune", "promoter", "--data", tmp_path, "--out",
                                                      tmp_path / "m", *TINY)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert "not empty" in cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "full", *TINY)
    assert "--arch must be one of" in cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "m", *TINY,
                               "--arch", "lstm")
    tokenizer = KmerTokenizer(3, 1)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32)
    MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer).save_pretrained(tmp_path / "mlm")
    short = EncoderConfig.for_tokenizer(tokenizer, hidden_size=16, num_layers=1, num_heads=2, ffn_size=32,
                                        max_length=32)
    MaskedLM(MaskedLMConfig(short), tokenizer=tokenizer).save_pretrained(tmp_path / "short")
    line = cli_error("finetune", "promoter", "--data", dataset, "--out", tmp_path / "m", "--init", tmp_path / "short",
                     *TINY)
    assert "takes at most 32 tokens, but a 300-base window is 300 tokens; pretrain with --max-length 300" in line
    line = cli_error("evaluate", "promoter", "--data", dataset, "--model", tmp_path / "mlm")
    assert "not a sequence classifier: the folder holds a masked language model" in line
    assert not (tmp_path / "m").exists()


def test_finetune_yaml_repeats_the_run(dataset, tmp_path):
    """finetune.yaml is the run's merged config: --config with it alone gives the same weights."""
    import yaml

    first, again = tmp_path / "first", tmp_path / "again"
    cli_ok("finetune", "promoter", "--data", dataset, "--out", first, "--max-steps", "2", "--lr", "1e-3", *TINY)
    saved = yaml.safe_load((first / "finetune.yaml").read_text())
    assert saved["model"]["hidden_size"] == 16 and saved["finetune"]["kmer"] == 3
    assert saved["optim"]["lr"] == 1e-3 and saved["train"]["max_steps"] == 2
    cli_ok("finetune", "promoter", "--data", dataset, "--out", again, "--config", first / "finetune.yaml", "--quiet")
    one, two = SequenceClassifier.from_pretrained(first), SequenceClassifier.from_pretrained(again)
    for key, value in one.state_dict().items():
        torch.testing.assert_close(two.state_dict()[key], value, rtol=0, atol=0)
    (tmp_path / "bad.yaml").write_text("finetune: {kmer: three}\n")
    assert "config key 'finetune.kmer' must be an int" in cli_error(
        "finetune", "promoter", "--data", dataset, "--out", tmp_path / "bad", "--config", tmp_path / "bad.yaml")
    assert not (tmp_path / "bad").exists()
