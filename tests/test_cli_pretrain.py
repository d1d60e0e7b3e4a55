"""``seqformer pretrain``: a tiny run for real, and every bad input as one line with exit code 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers import cli_error, cli_ok

from seqformer.training.checkpoint import latest_checkpoint
from seqformer.training.metrics import read_metrics

TINY = """\
data: {max_length: 32, val_windows: 4, val_fraction: 0.2}
model: {hidden_size: 32, num_layers: 2, num_heads: 2, ffn_size: 64,
        attention_options: {block_size: 4, num_random_blocks: 1}}
train: {batch_size: 4, checkpoint_every: 2, eval_every: 2, threads: 1}
"""


@pytest.fixture
def work(tmp_path, data_dir, monkeypatch):
    """A folder with the genome and protein fixtures and the tiny config, as the working directory."""
    for name in ("tiny_genome.fa", "tiny_proteins.fa"):
        shutil.copy(data_dir / "training" / name, tmp_path / name)
    (tmp_path / "tiny.yaml").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dna_run_with_flags_over_the_config(work):
    out = cli_ok("pretrain", "--fasta", "tiny_genome.fa", "--alphabet", "dna", "--arch", "bigbird", "--kmer", "3",
                 "--out", "run", "--config", "tiny.yaml", "--max-steps", "3", "--device", "cpu", "--quiet")
    assert out.startswith("step 3: loss ") and "val_loss" in out and "model: run/model" in out
    saved = yaml.safe_load((work / "run" / "config.yaml").read_text())
    assert saved["data"]["kmer"] == 3 and saved["train"]["max_steps"] == 3 and saved["model"]["arch"] == "bigbird"
    assert saved["data"]["fasta"] == [str(work / "tiny_genome.fa")]
    assert saved["train"]["batch_size"] == 4  # from the file
    assert {p.name for p in (work / "run" / "model").iterdir()} == {"config.json", "model.safetensors",
                                                                    "tokenizer.json"}
    cli_ok("pretrain", "--out", "run", "--resume", "--max-steps", "4", "--quiet")
    assert [row["step"] for row in read_metrics(work / "run" / "metrics.csv")] == [1, 2, 3, 4]


@pytest.mark.parametrize("arch, options", [("performer-relu", "{num_features: 16}"), ("dense", "{}")])
def test_protein_run(work, arch, options):
    (work / "p.yaml").write_text(TINY.replace("{block_size: 4, num_random_blocks: 1}", options))
    out = cli_ok("pretrain", "--fasta", "tiny_proteins.fa", "--alphabet", "protein", "--arch", arch, "--out", "run",
                 "--config", "p.yaml", "--max-steps", "2", "--quiet")
    assert out.startswith("step 2: loss ")


def test_errors_are_one_line(work):
    base = ["pretrain", "--config", "tiny.yaml", "--quiet"]
    (work / "n.fa").write_text(">chrN\n" + "N" * 200 + "\n")
    assert "no usable sequence" in cli_error(*base, "--fasta", "n.fa", "--kmer", "3", "--out", "a")
    assert "does not look like DNA" in cli_error(*base, "--fasta", "tiny_proteins.fa", "--alphabet", "dna",
                                                 "--out", "b")
    assert "looks like DNA, not protein" in cli_error(*base, "--fasta", "tiny_genome.fa", "--alphabet", "protein",
                                                      "--out", "c")
    assert "--resume: no checkpoint" in cli_error("pretrain", "--out", "d", "--resume")
    (work / "bad.yaml").write_text("train: {max_stepz: 3}\n")
    line = cli_error("pretrain", "--fasta", "tiny_genome.fa", "--out", "e", "--config", "bad.yaml")
    assert "bad.yaml" in line and "unknown config key 'train.max_stepz'" in line
    assert "file not found" in cli_error(*base, "--fasta", "missing.fa", "--out", "f")
    assert "no corpus" in cli_error(*base, "--out", "g")
    assert "arch must be one of" in cli_error(*base, "--fasta", "tiny_genome.fa", "--arch", "linformer",
                                              "--out", "h")
    if not torch.cuda.is_available():
        assert "CUDA was requested" in cli_error(*base, "--fasta", "tiny_genome.fa", "--device", "cuda",
                                                 "--out", "i")


def test_resume_errors(work):
    cli_ok("pretrain", "--fasta", "tiny_genome.fa", "--kmer", "3", "--out", "run", "--config", "tiny.yaml",
           "--max-steps", "4", "--quiet")
    assert "already holds a run; pass --resume" in cli_error("pretrain", "--fasta", "tiny_genome.fa", "--out", "run")
    assert "cannot change data.kmer" in cli_error("pretrain", "--out", "run", "--resume", "--kmer", "4")
    newest = latest_checkpoint(work / "run")
    newest.write_bytes(newest.read_bytes()[:1000])
    line = cli_error("pretrain", "--out", "run", "--resume", "--max-steps", "6")
    assert "step-00000004.pt" in line and "truncated or corrupt" in line and "step-00000002.pt" in line


class _Payload:
    """Unpickling this would run code: it writes a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def test_a_checkpoint_holding_objects_is_refused_on_purpose_and_nothing_runs(work):
    cli_ok("pretrain", "--fasta", "tiny_genome.fa", "--kmer", "3", "--out", "run", "--config", "tiny.yaml",
           "--max-steps", "2", "--quiet")
    newest = latest_checkpoint(work / "run")
    state = torch.load(newest, weights_only=True)
    marker = work / "payload_ran"
    torch.save({**state, "rng": _Payload(str(marker))}, newest)
    line = cli_error("pretrain", "--out", "run", "--resume", "--max-steps", "4")
    assert "step-00000002.pt" in line and "holds objects seqformer will not unpickle" in line
    assert "refused on purpose, not because it is damaged" in line and "truncated" not in line
    assert not marker.exists()
