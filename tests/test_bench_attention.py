"""``seqformer bench attention``: rows, JSON, plot and failure statuses (no timing assertions)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from figure_checks import check_figure
from matplotlib.figure import Figure
from typer.testing import CliRunner

from seqformer.attention import ATTENTION_KINDS
from seqformer.bench import attention as bench
from seqformer.cli import app

TINY = bench.BenchSettings(hidden_size=32, num_layers=1, num_heads=2, ffn_size=64, block_size=16,
                           num_random_blocks=1, num_features=16, vocab_size=69, repeats=1, timeout=120)
COLUMNS = {"impl", "length", "seconds", "peak_mb", "status", "detail", "approx_error", "peak_gpu_mb"}


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
    assert isinstance(figure, Figure) and "dense\ntimeout from 64" in [
        text.get_text() for text in figure.legends[0].get_texts()]
    check_figure(figure)


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
            assert row["seconds"] > 0 and row["peak_mb"] > 0 and row["peak_gpu_mb"] is None  # CPU run
    assert payload["settings"]["hidden_size"] == 32 and payload["settings"]["repeats"] == 1
    assert payload["machine"]["torch"]
    assert plot.read_bytes()[:4] == b"\x89PNG" and plot.with_suffix(".svg").read_text().lstrip().startswith("<?xml")


def _rows(impls, lengths, failed=()):
    """Made-up rows: time growing with L; ``failed`` (impl, status) pairs fail from the second length on
    ("unavailable" at every length)."""
    rows = []
    for index, impl in enumerate(impls):
        for position, length in enumerate(lengths):
            status = dict(failed).get(impl, "ok")
            status = status if position or status == "unavailable" else "ok"
            rows.append(bench.BenchRow(impl, length, 0.01 * (index + 1) * length / 512 if status == "ok" else None,
                                       100.0 if status == "ok" else None, status))
    return rows


def _texts(figure):
    from matplotlib.text import Text

    return [text.get_text() for text in figure.findobj(Text) if text.get_visible()]


def test_plot_ticks_are_plain_numbers_peers_are_dashed_and_the_caption_says_where_it_ran():
    rows = _rows(["dense", "bigbird", "hf-bigbird", "performer-pytorch"], [512, 1024, 2048, 4096],
                 failed=[("dense", "oom"), ("performer-pytorch", "unavailable")])
    settings = dataclasses.replace(TINY, device="cuda", dtype="bf16", threads=3)
    machine = {"gpu": "NVIDIA H100 80GB HBM3", "cpu": "AMD EPYC", "logical_cores": 16, "threads": 3, "torch": "2.9"}
    figure = bench.plot_benchmark(rows, settings, machine)
    check_figure(figure)
    (axes,) = figure.axes
    ticks = [label.get_text() for axis in (axes.xaxis, axes.yaxis) for label in axis.get_ticklabels()
             if label.get_text()]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["512", "1,024", "2,048", "4,096"]
    assert ticks and not any(mark in tick for tick in ticks for mark in "$^×"), ticks  # no 2^9, no 6×10^-1
    assert all(float(tick.replace(",", "")) > 0 for tick in ticks)  # every tick a plain decimal number
    styles = {line.get_label().split("\n")[0]: line.get_linestyle() for line in axes.get_lines()}
    assert styles["hf-bigbird (peer of bigbird)"] == "--" and styles["bigbird"] == "-"
    colours = {line.get_label().split("\n")[0]: line.get_color() for line in axes.get_lines()}
    assert colours["hf-bigbird (peer of bigbird)"] == colours["bigbird"]  # a peer takes its kind's colour
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "dense\noom from 1,024" in legend and "performer-pytorch (peer of performer-softmax)\nunavailable" in legend
    caption = next(text for text in _texts(figure) if "threads" in text)
    assert "device: GPU NVIDIA H100 80GB HBM3" in caption and "threads: 3" in caption and "dtype: bf16" in caption


def test_plot_of_a_results_json_on_the_cpu(tmp_path):
    rows = _rows(["dense", "performer-softmax", "performer-pytorch"], [128, 256, 512, 1024, 2048, 4096, 8192,
                                                                       16384, 32768])
    path = tmp_path / "bench.json"
    bench.write_json(rows, TINY, path)
    figure = bench.plot_json(path)
    check_figure(figure)
    caption = next(text for text in _texts(figure) if "threads" in text)
    assert "device: CPU" in caption and "dtype: fp32" in caption
    shown = [label.get_text() for label in figure.axes[0].get_xticklabels() if label.get_text()]
    assert shown[0] == "128" and "32,768" in shown and len(shown) <= 7  # thinned: no overlap (check_figure)


def test_every_registered_kind_runs():
    """In this process (the worker process itself is exercised by the CLI tests): build, time, error."""
    rows = [bench.measure(kind, 128, TINY) for kind in ATTENTION_KINDS]
    assert all(row.status == "ok" and row.seconds > 0 for row in rows), rows
    errors = {kind: bench.approximation_error(kind, 128, TINY) for kind in ATTENTION_KINDS}
    assert errors["dense"] < 1e-5
    assert errors["longformer"] < 1e-5  # its window (256 each side) covers all 128 tokens: exact
    assert all(0 < error < 2 for kind, error in errors.items() if kind != "longformer"), errors


def test_approximation_error_is_zero_where_a_kind_is_exact():
    settings = dataclasses.replace(TINY, n_buckets=1, lsh_chunk_size=64)  # one bucket, one chunk of 64
    assert bench.approximation_error("dense", 64, settings) < 1e-5
    assert bench.approximation_error("reformer-lsh", 64, settings) < 1e-5  # vs shared-QK attention, no self
    assert bench.approximation_error("bigbird", 64, settings) < 1e-5  # 4 blocks of 16, 6 slots: all of them
    assert bench.approximation_error("bigbird", 128, settings) > 0.1  # 8 blocks: the pattern misses keys


def test_lsh_buckets_follow_the_sequence_length():
    assert [bench.lsh_buckets(n, 64) for n in (100, 1024, 4096, 16384)] == [2, 32, 128, 512]


def test_reversible_runs_our_encoders_and_reports_peers_unavailable(monkeypatch):
    monkeypatch.setattr(bench, "BenchSettings", lambda **fields: dataclasses.replace(TINY, **fields))
    result = CliRunner().invoke(app, ["bench", "attention", "--lengths", "128", "--impl",
                                      "longformer,performer-pytorch", "--reversible", "--layers", "2",
                                      "--ffn-chunk-size", "32"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "128" in line]
    assert "ok" in lines[0] and "longformer" in lines[0]
    assert "unavailable" in lines[1] and "--reversible applies" in lines[1]


@pytest.mark.parametrize("args, message", [
    (["--impl", "densse"], "unknown implementation"),
    (["--lengths", "1k"], "comma-separated integers"),
    (["--lengths", "0"], "positive"),
    (["--device", "tpu"], "device must be cpu or cuda"),
    (["--dtype", "fp16"], "dtype must be fp32 or bf16"),
])
def test_cli_bad_options_are_one_line_errors(args, message):
    result = CliRunner().invoke(app, ["bench", "attention", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_errors_on_a_trained_models_own_queries_keys_and_values(tmp_path):
    from seqformer.models import EncoderConfig
    from seqformer.models.mlm import MaskedLM, MaskedLMConfig
    from seqformer.tokenizers import KmerTokenizer

    tok = KmerTokenizer(k=3, stride=1)
    encoder = EncoderConfig.for_tokenizer(tok, hidden_size=16, num_layers=2, num_heads=2, ffn_size=32)
    folder = MaskedLM(MaskedLMConfig(encoder), tokenizer=tok).save_pretrained(tmp_path / "mlm")
    settings = dataclasses.replace(TINY, window=2)
    errors = bench.trained_model_errors(folder, "ACGTTGCA" * 8, ["dense", "longformer", "nystromformer"], settings)
    assert [len(layers) for layers in errors.values()] == [2, 2, 2]  # one error per layer
    assert max(errors["dense"]) < 1e-5 and min(errors["longformer"]) > 0  # 64 tokens, window ±2


def test_bf16_autocast_runs_on_the_cpu_too():
    row = bench.measure("bigbird", 128, dataclasses.replace(TINY, dtype="bf16"))
    assert row.status == "ok" and row.seconds > 0 and row.peak_gpu_mb is None


def test_cuda_without_a_gpu_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    result = CliRunner().invoke(app, ["bench", "attention", "--device", "cuda", "--impl", "dense"])
    assert result.exit_code == 2 and "sees no CUDA device" in result.stderr


@pytest.mark.gpu
def test_cuda_rows_report_gpu_memory():
    settings = dataclasses.replace(TINY, device="cuda", dtype="bf16", block_size=64)
    rows = bench.run_benchmark([1024], ["dense", "bigbird"], settings)
    assert all(row.status == "ok" and row.peak_gpu_mb > 0 for row in rows), rows


def test_a_batch_is_timed_as_one_pass_and_the_table_gives_tokens_per_second():
    settings = dataclasses.replace(TINY, batch_size=3)
    row = bench.measure("performer-relu", 64, settings)
    assert row.status == "ok" and row.seconds > 0
    table = bench.results_table([row], batch_size=3)
    assert table.title == "Encoder forward+backward, batch 3"
    rate = next(column for column in table.columns if column.header == "tokens/s")
    assert rate._cells == [f"{3 * 64 / row.seconds:,.0f}"]
