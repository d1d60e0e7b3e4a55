"""``seqformer tokenize``: the summary table, the --json file, and one-line errors with exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import cli_error, cli_ok
from typer.testing import CliRunner

DATA = Path(__file__).parent / "data" / "tokenizers"
runner = CliRunner()


def tokenize_ok(*args: object) -> str:
    return cli_ok("tokenize", *args)


def tokenize_error(*args: object) -> str:
    """The one stderr line of a tokenize that must fail as bad input."""
    return cli_error("tokenize", *args)


def test_fasta_summary_and_json(tmp_path):
    out = tmp_path / "out" / "summary.json"
    text = tokenize_ok("--fasta", DATA / "dna.fa", "--k", "3", "--json", out)
    for expected in ["records", "3", "bases", "18", "tokens", "13", "[UNK] share", "23.08%",
                     "vocab size", "69", "top 1", "ACG", "top 4", "TAC", "seconds", "k=3"]:
        assert expected in text
    data = json.loads(out.read_text())
    assert data["seconds"] >= 0
    del data["seconds"]
    assert data == {
        "path": str(DATA / "dna.fa"),
        "region": None,
        "tokenizer": {"type": "kmer", "k": 3, "stride": 1},
        "vocab_size": 69, "records": 3, "bases": 18, "tokens": 13, "unk_tokens": 3,
        "unk_share": 3 / 13,
        "top_tokens": [{"token": "ACG", "count": 3}, {"token": "CGT", "count": 3},
                       {"token": "GTA", "count": 2}, {"token": "TAC", "count": 2}],
    }
    assert [p.name for p in out.parent.iterdir()] == ["summary.json"]  # written atomically


def test_protein():
    text = tokenize_ok("--fasta", DATA / "protein.fa", "--alphabet", "protein")
    assert "type=protein" in text and "12" in text and "0.00%" in text


def test_genome_region(tmp_path):
    genome = shutil.copy(DATA / "genome.fa", tmp_path / "genome.fa")
    out = tmp_path / "summary.json"
    tokenize_ok("--genome", genome, "--region", "chrA:11-100", "--k", "3", "--stride", "3", "--json", out)
    data = json.loads(out.read_text())
    assert (data["records"], data["bases"], data["tokens"]) == (1, 90, 30)
    assert data["tokenizer"] == {"type": "kmer", "k": 3, "stride": 3}
    assert data["region"] == "chrA:11-100"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fasta", DATA / "bad_char.fa"], "record 'r2', position 4: invalid DNA character 'Z'"),
        (["--fasta", DATA / "missing.fa"], "missing.fa"),
        (["--fasta", DATA / "dna.fa", "--k", "3", "--stride", "2"], "stride must be 1"),
        (["--fasta", DATA / "dna.fa", "--genome", DATA / "genome.fa"], "exactly one of --fasta and --genome"),
        ([], "exactly one of --fasta and --genome"),
        (["--fasta", DATA / "dna.fa", "--region", "chrA:1-10"], "--region needs --genome"),
        (["--fasta", DATA / "dna.fa", "--alphabet", "rna"], "--alphabet must be dna or protein"),
    ],
)
def test_errors_are_one_line(args, message):
    assert message in tokenize_error(*args)


def test_genome_errors(tmp_path):
    genome = shutil.copy(DATA / "genome.fa", tmp_path / "genome.fa")
    assert "chrC" in tokenize_error("--genome", genome, "--region", "chrC:1-10")
    assert "k-mer tokenizer" in tokenize_error("--genome", genome, "--alphabet", "protein")
