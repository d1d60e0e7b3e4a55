"""bench track-scan: the tile scan against the window scan on the same region, and memory by length (tiny models)."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from seqformer.bench.scan import random_classifier
from seqformer.bench.track_scan import random_track_model, run_memory_benchmark, run_track_scan_benchmark
from seqformer.cli import app
from seqformer.io import Genome
from seqformer.io.regions import Region


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    rng = random.Random(5)
    path = tmp_path_factory.mktemp("tb") / "g.fa"
    path.write_text(">c1\n" + "".join(rng.choice("ACGT") for _ in range(6000)) + "\n")
    return path


def test_run_track_scan_benchmark(fasta):
    track = random_track_model(finetune={"kmer": 4, "kmer_stride": 4, "tile": 1024, "context": 128},
                               model={"hidden_size": 16, "num_heads": 2, "ffn_size": 32, "arch": "dense"})
    window = random_classifier(window=300, k=3, hidden_size=16, num_heads=2, ffn_size=32)
    with Genome(fasta) as genome:
        region = Region("c1", 100, 5100)
        out = run_track_scan_benchmark(track, window, genome, region, repeats=2)
    assert out["bases"] == 5000 and out["repeats"] == 2
    assert len(out["track"]["seconds_runs"]) == len(out["window"]["seconds_runs"]) == 2
    assert out["track"]["seconds"] == min(out["track"]["seconds_runs"])
    assert out["track"]["tiles"] == -(-5000 // (1024 - 256)) and out["track"]["core"] == 768
    assert out["window"]["windows"] == 33 and out["window"]["stride"] == 150  # 5000 bases: 32 steps + one flush
    assert out["speedup"] == pytest.approx(out["window"]["seconds"] / out["track"]["seconds"])
    assert out["track"]["bases_per_s"] == pytest.approx(5000 / out["track"]["seconds"])
    assert out["track"]["parameters"] - out["track"]["parameters_without_embedding"] == track.encoder.embed.weight.numel()


def test_memory_benchmark_runs_each_region_in_a_fresh_process(fasta):
    rows = run_memory_benchmark(fasta, ["c1:1-2000", "c1:1-6000"], threads=1)
    assert [r["region"] for r in rows] == ["c1:1-2000", "c1:1-6000"]
    assert [r["bases"] for r in rows] == [2000, 6000]
    assert all(r["peak_rss_mb"] >= r["rss_before_mb"] > 0 for r in rows)


def test_cli_track_only(fasta, tmp_path):
    result = CliRunner().invoke(app, ["bench", "track-scan", "--genome", str(fasta), "--region", "c1:1-3000",
                                      "--track-only"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["bases"] == 3000 and out["tiles"] == 1 and out["bases_per_s"] > 0
