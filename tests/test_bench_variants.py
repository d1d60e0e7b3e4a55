"""`seqformer bench variants`: counts and windows of the scoring benchmark (no timing assertions)."""

from __future__ import annotations

import json

from helpers import cli_error, cli_ok
from variants_helpers import copy_fixtures, tiny_classifier

from seqformer.bench.variants import run_variant_benchmark
from seqformer.io import Genome


def test_run_variant_benchmark(tmp_path):
    copy_fixtures(tmp_path)
    with Genome(tmp_path / "genome.fa") as genome:
        result = run_variant_benchmark(tiny_classifier(), genome, tmp_path / "variants.vcf", batch_size=8, repeats=2)
    assert (result["records"], result["alleles"], result["scored"], result["ref_mismatches"]) == (11, 13, 8, 1)
    assert result["windows"] == 4 * 8  # REF and ALT, both strands
    assert len(result["score_seconds_runs"]) == len(result["forward_seconds_runs"]) == 2
    assert result["score_seconds"] == min(result["score_seconds_runs"]) > 0
    assert result["score_variants_per_s"] == result["scored"] / result["score_seconds"]


def test_cli_json(tmp_path):
    copy_fixtures(tmp_path)
    tiny_classifier().save_pretrained(tmp_path / "clf")
    out = json.loads(cli_ok("bench", "variants", "--vcf", tmp_path / "variants.vcf", "--genome", tmp_path / "genome.fa",
                            "--model", tmp_path / "clf", "--json", "--device", "cpu"))
    assert out["scored"] == 8 and out["device"] == "cpu" and "cpu" in out["machine"]
    assert "give either --model or --random-model" in cli_error(
        "bench", "variants", "--vcf", tmp_path / "variants.vcf", "--genome", tmp_path / "genome.fa")
