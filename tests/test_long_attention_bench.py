"""``seqformer bench long-attention``: rows, refusal, memory projection, JSON and bad options (no timing checks)."""

from __future__ import annotations

import json

import pytest
from helpers import cli_error

from seqformer.bench import long_attention as bench
from seqformer.errors import InputError

TINY = bench.LongBenchSettings(hidden_size=16, num_layers=1, num_heads=2, ffn_size=32, top_k=4,
                               max_weights_length=128, timeout=120)


def test_measure_both_methods_in_process():
    chunked = bench.measure("bigbird", 96, "chunked", TINY)
    dense = bench.measure("bigbird", 96, "dense", TINY)
    assert chunked.status == dense.status == "ok" and chunked.seconds > 0 and chunked.peak_mib >= 0
    assert chunked.weights_kept == 1 * 2 * 96 * 4 and dense.weights_kept == 1 * 2 * 96 * 96


def test_dense_above_max_weights_length_is_refused_with_the_kinds_message():
    row = bench.worker("performer-relu", 160, "dense", TINY)
    assert row.status == "refused" and "L=160 is above max_weights_length=128" in row.detail
    assert bench.worker("performer-relu", 160, "chunked", TINY).status == "ok"


def test_benchmark_in_workers_projects_the_dense_peak_and_writes_json(tmp_path, monkeypatch):
    seen = []
    rows = bench.run_benchmark([64, 160], ["bigbird"], TINY, on_row=seen.append)
    assert [(row.length, row.method, row.status) for row in rows] == [
        (64, "chunked", "ok"), (64, "dense", "ok"), (160, "chunked", "ok"), (160, "dense", "refused")]
    assert seen == rows
    assert rows[3].projected_mib == pytest.approx(rows[1].peak_mib * (160 / 64) ** 2)
    assert "measured dense peak × (L/L0)²" in rows[3].detail
    path = tmp_path / "long.json"
    bench.write_json(rows, TINY, path)
    payload = json.loads(path.read_text())
    assert len(payload["rows"]) == 4 and payload["settings"]["top_k"] == 4 and "ru_maxrss" in payload["memory"]
    assert "| bigbird | 160 | dense | - | - | - | refused:" in bench.markdown_table(rows)

    monkeypatch.setattr(bench, "run_one", lambda kind, length, method, settings: bench.LongBenchRow(
        kind, length, method, "ok", seconds=1.0, peak_mib=1e9 if length == 64 else 1.0))
    rows = bench.run_benchmark([64, 128], ["bigbird"], TINY)  # a 1e9 MiB dense peak at 64: 128 is not run
    assert rows[3].status == "would exceed memory" and rows[3].projected_mib == pytest.approx(4e9)


def test_bad_options_are_input_errors():
    with pytest.raises(InputError, match="have no attention maps"):
        bench.run_benchmark([64], ["nystromformer"], TINY)
    with pytest.raises(InputError, match="at least 3 tokens"):
        bench.run_benchmark([2], ["bigbird"], TINY)
    line = cli_error("bench", "long-attention", "--top-k", 0)
    assert "--top-k, --chunk-size and --threads must be at least 1" in line
