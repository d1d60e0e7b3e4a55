"""``seqformer bench variants``: variant-scoring throughput against forward-only throughput on the same windows."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli import bench_app
from seqformer.errors import InputError


def _classifier(model: Path | None, random_model: bool, device):
    """The classifier to time: the ``--model`` folder, or bench scan's random one."""
    from seqformer.bench.scan import random_classifier
    from seqformer.predict.scorer import load_classifier

    if (model is None) == (not random_model):
        raise InputError("give either --model or --random-model")
    return random_classifier() if random_model else load_classifier(model, device)


@bench_app.command("variants")
def bench_variants(
    vcf: Path = typer.Option(..., "--vcf", help="Variants to score (.vcf or .vcf.gz)."),
    genome: Path = typer.Option(..., "--genome", help="Reference FASTA (plain or BGZF .fa.gz)."),
    model: Path | None = typer.Option(None, "--model", help="Sequence-classifier folder."),
    random_model: bool = typer.Option(False, "--random-model", help="Instead of --model, a randomly initialised "
                                      "classifier: k=6, hidden 128, 2 layers, 4 heads, FFN 512, window 300."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass (4 per variant)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    repeats: int = typer.Option(1, "--repeats", min=1, help="Alternating scoring / forward-only passes; best of each."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Time score-variants on a VCF and the model's forward passes alone on the same windows; report the overhead."""
    from seqformer.bench.variants import run_variant_benchmark
    from seqformer.cli.predict import _device
    from seqformer.io import Genome

    where = _device(device)
    with Genome(genome) as ref:
        result = run_variant_benchmark(_classifier(model, random_model, where), ref, vcf, batch_size=batch_size,
                                       device=where, repeats=repeats)
    if json_output:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"bench variants: {result['scored']:,} variants scored of {result['alleles']:,} "
                        f"({result['ref_mismatches']:,} REF mismatches), {result['windows']:,} windows, "
                        f"{result['device']}")
    for column in ("timing", "seconds", "variants/s", "windows/s"):
        table.add_column(column, justify="left" if column == "timing" else "right")
    table.add_row("score-variants (end to end)", f"{result['score_seconds']:.2f}",
                  f"{result['score_variants_per_s']:,.1f}", f"{result['windows'] / result['score_seconds']:,.0f}")
    table.add_row("forward only", f"{result['forward_seconds']:.2f}", f"{result['forward_variants_per_s']:,.1f}",
                  f"{result['forward_windows_per_s']:,.0f}")
    table.add_row("overhead", f"{result['overhead_pct']:.1f}%", "", "")
    Console().print(table)
