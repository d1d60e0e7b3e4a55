"""``seqformer mutagenesis``: in-silico saturation mutagenesis of one window, as matrices, a heatmap and a logo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from seqformer.cli.app import app
from seqformer.errors import InputError


def _sequence(genome: Path | None, region: str | None, fasta: Path | None,
              record: str | None) -> tuple[str, str, str | None, int]:
    """``(name, bases, chrom, start)`` of the one sequence asked for: a genome region (``chrom`` and the
    1-based ``start`` of its first base) or a FASTA record (``None, 1``: positions in the window)."""
    from seqformer.io import Genome, read_fasta

    if (genome is None) != (region is None) or (genome is None) == (fasta is None):
        raise InputError("give either --genome with --region, or --fasta (with --record to pick one)")
    if fasta is None:
        with Genome(genome) as ref:
            target = ref.region(region)
            return str(target), ref.fetch_region(target), target.chrom, target.start + 1
    if record is None:
        first = next(read_fasta(fasta, alphabet="dna"))
        return first.id, first.seq, None, 1
    for entry in read_fasta(fasta, alphabet="dna"):
        if entry.id == record:
            return entry.id, entry.seq, None, 1
    raise InputError(f"no record {record!r}", path=fasta)


@app.command("mutagenesis")
def mutagenesis(
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder."),
    out: Path = typer.Option(..., "--out", help="Output prefix: PREFIX.delta_p.tsv, PREFIX.delta_logit.tsv "
                             "(position x base), PREFIX.png/.svg (heatmap) and PREFIX.logo.png/.svg (logo of "
                             "the reference bases' importance)."),
    genome: Path | None = typer.Option(None, "--genome", help="Reference FASTA, with --region."),
    region: str | None = typer.Option(None, "--region", help="Samtools-style region of exactly the model's window."),
    fasta: Path | None = typer.Option(None, "--fasta", help="FASTA of sequences of the model's window."),
    record: str | None = typer.Option(None, "--record", help="The FASTA record to mutate (default: the first)."),
    target: str | None = typer.Option(None, "--target", help="The model output to score (needed if it has several)."),
    metric: str = typer.Option("delta_p", "--metric", help="Heatmap and logo of delta_p or delta_logit."),
    tss: int | None = typer.Option(None, "--tss", min=1, help="1-based coordinate of a TSS to mark: on the "
                                   "genome with --region, in the window (1..W) with --fasta."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Change every position of one window to each of A/C/G/T and score each mutant (both strands averaged)."""
    from seqformer.device import resolve_device
    from seqformer.models import SequenceClassifier, load_model
    from seqformer.variants.mutagenesis import MATRIX_METRICS, write_mutagenesis

    if metric not in MATRIX_METRICS:
        raise InputError(f"--metric must be one of {', '.join(MATRIX_METRICS)}, got {metric!r}")
    where = resolve_device(device)
    classifier = load_model(model, where, expect=SequenceClassifier)
    name, seq, chrom, start = _sequence(genome, region, fasta, record)
    result, files = write_mutagenesis(classifier, seq, out, name=name, target=target, metric=metric, chrom=chrom,
                                      start=start, tss=tss, batch_size=batch_size, device=where)
    typer.echo(json.dumps({"sequence": name, "target": result.target, "p_ref": result.p_ref,
                           "files": [str(f) for f in files]}))
