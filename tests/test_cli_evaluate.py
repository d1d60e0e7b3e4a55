"""``seqformer evaluate mlm``: masked accuracy and perplexity beside the unigram baseline, as JSON or a table."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from helpers import cli_error, cli_ok

from seqformer.models import EncoderConfig, MaskedLM, MaskedLMConfig
from seqformer.tokenizers import KmerTokenizer


@pytest.fixture
def model_dir(tmp_path):
    tokenizer = KmerTokenizer(3, 1)
    encoder = EncoderConfig.for_tokenizer(tokenizer, hidden_size=32, num_layers=2, num_heads=2, ffn_size=64,
                                          max_length=32)
    torch.manual_seed(0)
    return MaskedLM(MaskedLMConfig(encoder), tokenizer=tokenizer).save_pretrained(tmp_path / "model")


@pytest.fixture
def genome(tmp_path, data_dir):
    return shutil.copy(data_dir / "training" / "tiny_genome.fa", tmp_path / "genome.fa")


def test_json_is_one_object(model_dir, genome):
    result = json.loads(cli_ok("evaluate", "mlm", "--model", model_dir, "--fasta", genome, "--json", "--seed", "3"))
    assert set(result) >= {"accuracy", "perplexity", "unigram_accuracy", "unigram_perplexity", "masked", "tokens"}
    assert (result["records"], result["windows"], result["tokens"], result["max_length"]) == (2, 17, 474, 32)
    assert 0 <= result["accuracy"] <= 1 and result["perplexity"] > 1 and result["unigram_perplexity"] > 1
    again = json.loads(cli_ok("evaluate", "mlm", "--model", model_dir, "--fasta", genome, "--json", "--seed", "3",
                              "--batch-size", "3"))
    assert again["masked"] == result["masked"] and again["accuracy"] == result["accuracy"]


def test_table_and_run_folder(model_dir, genome, tmp_path):
    shutil.copytree(model_dir, tmp_path / "run" / "model")
    out = cli_ok("evaluate", "mlm", "--model", tmp_path / "run", "--fasta", genome, "--max-length", "16")
    assert "model" in out and "unigram" in out and "perplexity" in out


def test_errors(model_dir, genome, data_dir, tmp_path):
    assert "does not look like DNA" in cli_error("evaluate", "mlm", "--model", model_dir, "--fasta",
                                                 data_dir / "training" / "tiny_proteins.fa")
    (tmp_path / "empty").mkdir()
    assert "lacks" in cli_error("evaluate", "mlm", "--model", tmp_path / "empty", "--fasta", genome)
    assert "file not found" in cli_error("evaluate", "mlm", "--model", model_dir, "--fasta", tmp_path / "no.fa")
    if not torch.cuda.is_available():
        assert "CUDA was requested" in cli_error("evaluate", "mlm", "--model", model_dir, "--fasta", genome,
                                                 "--device", "cuda")


def test_a_file_with_nothing_to_mask_is_an_error_not_a_perplexity_of_one(model_dir, tmp_path):
    all_n = tmp_path / "all_n.fa"
    all_n.write_text(">gap\n" + "N" * 120 + "\n")
    assert "no token to evaluate" in cli_error("evaluate", "mlm", "--model", model_dir, "--fasta", all_n)
