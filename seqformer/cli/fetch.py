"""``seqformer fetch``: regions of an indexed genome as FASTA, like ``samtools faidx``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli.app import app
from seqformer.errors import InputError
from seqformer.io.bed import bed_regions, read_bed
from seqformer.io.fasta import write_fasta
from seqformer.io.genome import Genome
from seqformer.io.regions import check_strand


@app.command("fetch")
def fetch(
    genome: Path = typer.Argument(..., metavar="GENOME", help="FASTA genome: plain, or BGZF .fa.gz (indexed on first use)."),
    regions: Optional[list[str]] = typer.Argument(
        None, metavar="REGION", help="Regions chrom:start-end (1-based, inclusive; commas allowed) or whole contigs."
    ),
    strand: str = typer.Option("+", "--strand", help="'+' or '-' (reverse complement)."),
    bed: Optional[Path] = typer.Option(
        None, "--bed", help="BED file of regions (0-based, half-open); its strand column overrides --strand."
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write FASTA here (atomically) instead of stdout."),
    width: int = typer.Option(60, "--width", help="Bases per line; 0 for one line per record."),
) -> None:
    """Print the bases of regions as FASTA, headed like >chr20:1-100 (and (-) on the minus strand)."""
    check_strand(strand)
    if not regions and bed is None:
        raise InputError("give at least one REGION or --bed FILE")
    with Genome(genome) as reference:
        targets = [(reference.region(text), strand) for text in regions or []]
        if bed is not None:
            targets += bed_regions(read_bed(bed), reference.contigs, strand=strand, path=bed, source=genome.name)
        write_fasta(reference.records(targets), out, width=width)
