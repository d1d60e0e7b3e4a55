"""``seqformer bench attention``: encoder speed and memory per attention implementation and length."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from seqformer.cli import bench_app
from seqformer.errors import InputError


def _int_list(text: str, option: str) -> list[int]:
    """'1024,4096' → [1024, 4096]; anything else is an InputError."""
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise InputError(f"{option} must be comma-separated integers, got {text!r}") from None


@bench_app.command("attention")
def bench_attention(
    lengths: str = typer.Option("1024,4096,16384", help="Comma-separated sequence lengths."),
    impl: str = typer.Option(None, help="Comma-separated implementations (default: every registered "
                             "attention kind (dense, bigbird, performer-softmax, performer-relu, longformer, "
                             "nystromformer, reformer-lsh), then the peers hf-bigbird and performer-pytorch)."),
    json_path: Path = typer.Option(None, "--json", help="Write rows, settings and machine to this JSON file."),
    plot: Path = typer.Option(None, help="Write a log-log plot of seconds vs length (PNG)."),
    repeats: int = typer.Option(3, min=1, help="Timed passes after one warm-up; the best is kept."),
    timeout: float = typer.Option(600.0, min=1, help="Seconds allowed per (implementation, length) worker."),
    threads: int = typer.Option(None, min=1, help="torch threads per worker (default: torch's default)."),
    max_rss_gb: float = typer.Option(None, min=0.5, help="Address-space cap per worker in GiB (RLIMIT_AS); "
                                     "a worker over it is reported as 'oom' (default: 3/4 of RAM)."),
    reversible: bool = typer.Option(False, "--reversible", help="Reversible encoder blocks: activations "
                                    "recomputed in backward (peers are then reported unavailable)."),
    ffn_chunk_size: int = typer.Option(None, min=1, help="Tokens per chunk of the encoder MLPs (default: all)."),
    layers: int = typer.Option(2, min=1, help="Encoder layers."),
    device: str = typer.Option("cpu", help="cpu, or cuda (then GPU peak memory is reported too)."),
    dtype: str = typer.Option("fp32", help="fp32, or bf16 (autocast; BigBird uses FlexAttention on CUDA)."),
) -> None:
    """Time encoder forward+backward (batch 1) for each implementation and length, each in a fresh process."""
    from seqformer.bench.attention import (BenchSettings, available_impls, plot_benchmark, results_table,
                                           run_benchmark, save_figure, write_json)  # torch: import on use

    impls = [name.strip() for name in impl.split(",") if name.strip()] if impl else available_impls()
    settings = BenchSettings(repeats=repeats, timeout=timeout, threads=threads, max_rss_gb=max_rss_gb,
                             reversible=reversible, ffn_chunk_size=ffn_chunk_size, num_layers=layers,
                             device=device, dtype=dtype)
    log = Console(stderr=True)
    rows = run_benchmark(_int_list(lengths, "--lengths"), impls, settings,
                         on_row=lambda row: log.print(f"{row.impl} L={row.length}: {row.status}"
                                                      + ("" if row.seconds is None else f" {row.seconds:.3f} s")))
    Console().print(results_table(rows))
    if json_path is not None:
        write_json(rows, settings, json_path)
    if plot is not None:
        save_figure(plot_benchmark(rows), plot)
