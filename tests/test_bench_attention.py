"""``seqformer bench attention``: rows, JSON, plot and failure statuses (no timing assertions)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from seqformer.attention import ATTENTION_KINDS
from seqformer.bench import attention as bench
from seqformer.cli import app

TINY = bench.BenchSettings(hidden_size=32, num_layers=1, num_heads=2, ffn_size=64, block_size=16,
                           num_random_blocks=1, num_features=16, vocab_size=69, repeats=1, timeout=120)
COLUMNS = {"impl", "length", "seconds", "peak_mb", "status", "detail"}


@pytest.fixture
def missing_peer(monkeypatch):
    """Pretend performer-pytorch's package is not installed."""
    monkeypatch.setitem(bench.PEERS, "performer-pytorch", "no_such_package_for_seqformer_tests")
    return "performer-pytorch"


def test_timeout_is_reported_and_longer_lengths_are_not_run():
    settings = bench.BenchSettings(**{**TINY.__dict__, "timeout": 0.05})
    rows = bench.run_benchmark([64, 128], ["dense"], settings)
    assert [row.status for row in rows] == ["timeout", "timeout"]
    assert rows[1].detail == "not run: timeout at L=64"
    figure = bench.plot_benchmark(rows)  # an implementation with no "ok" row is still in the legend
    assert isinstance(figure, Figure) and "dense (timeout at 64, timeout at 128)" in [
        text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_worker_turns_failures_into_rows(monkeypatch):
    def no_memory(*args):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")

    monkeypatch.setattr(bench, "measure", no_memory)
    assert bench.worker("dense", 64, TINY).status == "oom"
    monkeypatch.setattr(bench, "measure", lambda *args: 1 / 0)
    row = bench.worker("dense", 64, TINY)
    assert row.status == "error: ZeroDivisionError" and row.seconds is None


def test_cli_rows_json_and_plot_with_a_missing_peer(tmp_path, missing_peer, monkeypatch):
    monkeypatch.setattr(bench, "BenchSettings", lambda **fields: dataclasses.replace(TINY, **fields))
    impls = ["dense", missing_peer]
    out, plot = tmp_path / "bench.json", tmp_path / "bench.png"
    result = CliRunner().invoke(app, ["bench", "attention", "--lengths", "256,128", "--impl", ",".join(impls),
                                      "--repeats", "1", "--json", str(out), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "dense" in result.stdout and "unavailable" in result.stdout

    payload = json.loads(out.read_text())
    rows = payload["rows"]
    assert all(set(row) == COLUMNS for row in rows)
    assert [(row["impl"], row["length"]) for row in rows] == [(i, n) for n in (128, 256) for i in impls]
    for row in rows:
        if row["impl"] == missing_peer:  # reported, not dropped
            assert row["status"] == "unavailable" and "no_such_package" in row["detail"]
            assert row["seconds"] is None and row["peak_mb"] is None
        else:
            assert row["status"] == "ok", row
            assert row["seconds"] > 0 and row["peak_mb"] > 0
    assert payload["settings"]["hidden_size"] == 32 and payload["settings"]["repeats"] == 1
    assert payload["machine"]["torch"]
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_every_registered_kind_runs():
    kinds = [kind for kind in ATTENTION_KINDS if kind != "dense"]  # dense: in the CLI test above
    rows = bench.run_benchmark([128], kinds, TINY)
    assert [row.impl for row in rows] == kinds
    assert all(row.status == "ok" and row.seconds > 0 for row in rows), rows


@pytest.mark.parametrize("args, message", [
    (["--impl", "densse"], "unknown implementation"),
    (["--lengths", "1k"], "comma-separated integers"),
    (["--lengths", "0"], "positive"),
])
def test_cli_bad_options_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["bench", "attention", *args])
    assert result.exit_code == 2
    assert message in result.stderr
