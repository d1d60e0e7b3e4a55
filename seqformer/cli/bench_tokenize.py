"""``seqformer bench tokenize``: k-mer encoding throughput against a plain-Python reference."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from seqformer.cli import bench_app
from seqformer.cli.tokenize import kmer_tokenizer


@bench_app.command("tokenize")
def bench_tokenize(
    fasta: Path = typer.Argument(..., help="FASTA file (plain, gzip or BGZF); every record is encoded."),
    k: int = typer.Option(6, min=1, max=8, help="k-mer length."),
    stride: int = typer.Option(1, min=1, help="1 (overlapping k-mers) or k (non-overlapping)."),
    repeats: int = typer.Option(3, min=1, help="Timed passes of each encoder; the best is reported."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time vectorised k-mer encoding of every record and DNABERT-style splitting of the first 1 Mb."""
    from seqformer.bench.tokenize import results_table, run_tokenize_benchmark

    result = run_tokenize_benchmark(fasta, kmer_tokenizer(k, stride), repeats=repeats)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
    else:
        Console().print(results_table(result))
