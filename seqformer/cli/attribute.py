"""``seqformer attribute``: per-base attributions of a DNA classifier's target logit (gradient × input,
in-silico mutagenesis or integrated gradients) for BED windows on a genome or FASTA records."""

from __future__ import annotations

from pathlib import Path

import typer

from seqformer.cli.app import app
from seqformer.cli.progress import counted_progress
from seqformer.errors import InputError


@app.command("attribute")
def attribute(
    model: Path = typer.Option(..., "--model", help="Sequence-classifier folder (a DNA k-mer model)."),
    out: Path = typer.Option(..., "--out", help="Output folder: attributions.npz (names, onehot, hypothetical, "
                             "scores, logits, target, method; chrom, start, strand for BED windows) and, for BED "
                             "windows, scores.bw and scores.bedGraph of the per-base scores."),
    genome: Path | None = typer.Option(None, "--genome", help="Reference FASTA, with --bed."),
    bed: Path | None = typer.Option(None, "--bed", help="Intervals, each centred to the model's window on the "
                                    "genome (minus-strand rows reverse-complemented)."),
    fasta: Path | None = typer.Option(None, "--fasta", help="FASTA of records exactly the model's window long."),
    target: str | None = typer.Option(None, "--target", help="The label whose logit is attributed "
                                      "(default: the model's first)."),
    method: str = typer.Option("grad_x_input", "--method", help="grad_x_input, ism or integrated_gradients."),
    strands: str = typer.Option("both", "--strands", help="both (window and reverse complement averaged) or plus."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Windows (ism: variants) per forward pass."),
    n_steps: int = typer.Option(32, "--n-steps", min=1, help="Path steps of integrated gradients."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Attribute the target's logit to every base of each window; both strands averaged by default."""
    from seqformer.analysis.attribution import (
        METHODS,
        STRANDS,
        attribute as attribute_windows,
        bed_windows,
        fasta_windows,
        resolve_target,
        write_attributions,
    )
    from seqformer.device import resolve_device
    from seqformer.io import Genome
    from seqformer.models import SequenceClassifier, load_model

    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if strands not in STRANDS:
        raise InputError(f"--strands must be one of {', '.join(STRANDS)}, got {strands!r}")
    if (genome is None) != (bed is None) or (bed is None) == (fasta is None):
        raise InputError("give either --genome with --bed, or --fasta")
    where = resolve_device(device)
    classifier = load_model(model, where, expect=SequenceClassifier)
    chosen = resolve_target(classifier, target)
    window = classifier.config.window
    if fasta is not None:
        windows = fasta_windows(fasta, window)
    else:
        with Genome(genome) as ref:
            windows = bed_windows(ref, bed, window)
    with counted_progress("attribute", len(windows.seqs), "windows", "windows", quiet) as report:
        result = attribute_windows(classifier, windows.seqs, names=windows.names, target=chosen, method=method,
                                   strands=strands, batch_size=batch_size, device=where, n_steps=n_steps,
                                   on_batch=report and (lambda done: report(done, done)))
    files = write_attributions(result, out, genome_coords=windows.coords)
    typer.echo(f"{len(result.names):,} windows of {window:,} bases: {method} of the {chosen} logit "
               f"({'both strands averaged' if strands == 'both' else 'plus strand'}) -> "
               + ", ".join(str(f) for f in files))
