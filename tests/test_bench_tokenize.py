"""``seqformer bench tokenize``: output keys and agreement with the reference (no timing checks)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from seqformer.bench.tokenize import run_tokenize_benchmark
from seqformer.cli import app
from seqformer.tokenizers import KmerTokenizer
from seqformer.tokenizers.reference import reference_kmer_ids

DNA = Path(__file__).parent / "data" / "tokenizers" / "dna.fa"  # 3 records, 18 bases
KEYS = {"file", "tokenizer", "records", "bases", "tokens", "repeats", "seconds", "seconds_runs",
        "read_seconds", "mb_per_s", "reference_bases", "reference_seconds", "reference_mb_per_s",
        "reference_match", "speedup", "machine", "torch_threads", "numpy"}


def test_result_keys_and_reference_match():
    result = run_tokenize_benchmark(DNA, KmerTokenizer(3), reference_bases=12, repeats=2)
    assert set(result) == KEYS
    assert (result["records"], result["bases"], result["tokens"]) == (3, 18, 13 + 2 * 3)
    assert result["reference_bases"] == 12  # seq1 (10 bases) and the first 2 of seq2
    assert result["reference_match"] is True
    assert len(result["seconds_runs"]) == 2 and result["seconds"] == min(result["seconds_runs"])
    assert {"platform", "cpu", "python", "numpy", "torch", "torch_threads"} <= set(result["machine"])
    json.dumps(result)


def test_vectorised_ids_equal_reference_on_a_small_sequence():
    seq = "ACGTNACGGTTACAGTTGCAnnnACGTRACGTAGCTAGCTAGGATC"
    for k in range(1, 9):
        for stride in {1, k}:
            tok = KmerTokenizer(k, stride)
            assert tok.encode(seq, add_special_tokens=False).tolist() == reference_kmer_ids(seq, k, stride)


def test_cli_json_and_table():
    result = CliRunner().invoke(app, ["bench", "tokenize", str(DNA), "--k", "3", "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)) == KEYS
    result = CliRunner().invoke(app, ["bench", "tokenize", str(DNA), "--k", "4", "--stride", "4"])
    assert result.exit_code == 0, result.output
    assert "speedup" in result.stdout and "reference" in result.stdout


def test_cli_bad_stride_is_one_line():
    result = CliRunner().invoke(app, ["bench", "tokenize", str(DNA), "--k", "3", "--stride", "2"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("error: --k/--stride: stride must be 1")
