"""``seqformer embed``: per-token and per-record representations of a FASTA file's records (as ESM's extract.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from seqformer.cli.app import app
from seqformer.cli.progress import counted_progress


@app.command("embed")
def embed(
    model: Path = typer.Option(..., "--model", help="Model folder: a masked LM, a sequence classifier or a bare "
                               "encoder (its encoder is used), or a pretraining run folder."),
    fasta: Path = typer.Option(..., "--fasta", help="FASTA (plain or gzip) of DNA (k-mer models) or protein "
                               "records; record names must be unique."),
    out: Path = typer.Option(..., "--out", help="Output folder: per_token.npz, mean.parquet, mean.npz "
                             "(and logits.npz with --logits); absent, empty, or an earlier embed folder."),
    layers: str = typer.Option("-1", "--layers", help="Comma list of layers: 0 = embeddings, i = block i, the "
                               "last after the final LayerNorm; negative from the end (-1 = last)."),
    per_token: bool = typer.Option(True, "--per-token/--no-per-token", help="Write per_token.npz: each record's "
                                   "body-token representations and letter spans."),
    logits: bool = typer.Option(False, "--logits", help="Also write the LM logits at body tokens (masked LMs)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Most records per forward pass "
                                   "(records are sorted by length)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", min=1, help="Most padded tokens per forward "
                                          "pass (records x longest); a longer record runs alone."),
    truncate: bool = typer.Option(False, "--truncate", help="Keep the first max_length tokens of longer "
                                  "records (default: refuse them)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Write each record's representations at chosen layers: per token (.npz) and averaged (Parquet, .npz)."""
    from seqformer.device import resolve_device
    from seqformer.io import count_fasta_records
    from seqformer.models import load_model
    from seqformer.predict.embed import embed_fasta, parse_layers

    chosen = parse_layers(layers)
    where = resolve_device(device)
    loaded = load_model(model, where)
    with counted_progress("embed", count_fasta_records(fasta), "records", "tokens", quiet) as on_batch:
        summary = embed_fasta(loaded, fasta, out, layers=chosen, per_token=per_token, logits=logits,
                              batch_size=batch_size, max_tokens=max_tokens, truncate=truncate, device=where,
                              on_batch=on_batch)
    typer.echo(summary.message)
