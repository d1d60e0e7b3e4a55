"""``seqformer data``: a sub-app of dataset builders; ``data promoters`` cuts promoter/background windows."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli import app, make_app

data_app = make_app("Build task datasets (window tables) from genomes and annotations.")
app.add_typer(data_app, name="data")


@data_app.command("promoters")
def promoters(
    genome: Path = typer.Option(..., "--genome", help="Indexed genome FASTA (plain or BGZF)."),
    tss: Path = typer.Option(..., "--tss", help="BED of TSSs (one base each, strand in column 6)."),
    out: Path = typer.Option(..., "--out", help="Data folder to write: windows.tsv and dataset.json."),
    upstream: int = typer.Option(249, "--upstream", help="Bases 5' of the TSS in a promoter window."),
    downstream: int = typer.Option(50, "--downstream", help="Bases 3' of the TSS (width = up + down + 1)."),
    region: Optional[str] = typer.Option(None, "--region", help="Region to use, e.g. chr20:1-50000000 "
                                         "(default: every contig holding a TSS)."),
    negatives_per_positive: float = typer.Option(1.0, "--negatives-per-positive",
                                                 help="Background windows per promoter window."),
    val_region: Optional[str] = typer.Option(None, "--val-region", help="Validation range "
                                             "(default: second-to-last 10% of the region)."),
    test_region: Optional[str] = typer.Option(None, "--test-region", help="Test range "
                                              "(default: last 10% of the region)."),
    min_distance: int = typer.Option(5000, "--min-distance", help="Least bases between a background window "
                                     "and any TSS."),
    max_n: float = typer.Option(0.05, "--max-n", help="Largest share of N bases in a kept window."),
    gc_match: bool = typer.Option(True, "--gc-match/--no-gc-match", help="GC-match background to promoters."),
    seed: int = typer.Option(0, "--seed", help="Seed of the background windows."),
) -> None:
    """Promoter windows around TSSs and GC-matched background windows, split by coordinate ranges."""
    from data_prep.promoters import PromoterDataParams, build_promoter_dataset

    params = PromoterDataParams(upstream=upstream, downstream=downstream, region=region,
                                negatives_per_positive=negatives_per_positive, val_region=val_region,
                                test_region=test_region, min_distance=min_distance, max_n=max_n,
                                gc_match=gc_match, seed=seed)
    result = build_promoter_dataset(genome, tss, out, params)
    counts = "  ".join(f"{split}: {c['promoter']:,} promoter / {c['background']:,} background"
                       for split, c in result.counts.items())
    dropped = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in result.dropped.items() if n)
    typer.echo(f"{counts}" + (f"  (promoter windows dropped: {dropped})" if dropped else "") + f"  -> {out}")
