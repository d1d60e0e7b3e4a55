"""``seqformer data``: the dataset builders' verbs (promoters, chromatin, tf-binding, protein-split).

Registered on the ``seqformer`` command through the ``seqformer.commands`` entry point in
pyproject.toml (``data = "data_prep.cli:data_app"``), so ``seqformer`` itself never imports
``data_prep``. Every task builder writes a labelled-window folder (:mod:`seqformer.data.windows`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

# A plain typer app: `seqformer`'s root group turns InputError into one line and exit 2 for every
# sub-command, and importing seqformer.cli from here would load this module again mid-import.
data_app = typer.Typer(help="Build task datasets (window tables) from genomes and annotations.",
                       no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@data_app.command("promoters")
def promoters(
    genome: Path = typer.Option(..., "--genome", help="Indexed genome FASTA (plain or BGZF)."),
    tss: Path = typer.Option(..., "--tss", help="BED of TSSs (one base each, strand in column 6)."),
    out: Path = typer.Option(..., "--out", help="Data folder to write: windows.tsv and dataset.json."),
    upstream: int = typer.Option(249, "--upstream", help="Bases 5' of the TSS in a promoter window."),
    downstream: int = typer.Option(50, "--downstream", help="Bases 3' of the TSS (width = up + down + 1)."),
    region: Optional[str] = typer.Option(None, "--region", help="Region to use, e.g. chr20:1-50000000 "
                                         "(default: every contig holding a TSS)."),
    negatives_per_positive: float = typer.Option(3.0, "--negatives-per-positive",
                                                 help="Background windows per promoter window (all kinds)."),
    background_mix: str = typer.Option("random=1,gc=1,flank=1", "--background-mix",
                                       help="Shares of the background kinds, KIND=WEIGHT,... (normalised; a kind "
                                       "left out gets 0): random (uniform windows >= --min-distance from any TSS), "
                                       "gc (GC-matched to the split's promoters), flank (centred --flank-min.."
                                       "--flank-max bases up- or downstream of a TSS, off every promoter window)."),
    flank_min: int = typer.Option(1000, "--flank-min", help="Least bases between a flank window's centre and "
                                  "its TSS."),
    flank_max: int = typer.Option(3000, "--flank-max", help="Most bases between a flank window's centre and "
                                  "its TSS."),
    val_region: Optional[str] = typer.Option(None, "--val-region", help="Validation range "
                                             "(default: second-to-last 10% of the region)."),
    test_region: Optional[str] = typer.Option(None, "--test-region", help="Test range "
                                              "(default: last 10% of the region)."),
    min_distance: int = typer.Option(5000, "--min-distance", help="Least bases between a random or gc background "
                                     "window and any TSS."),
    max_n: float = typer.Option(0.05, "--max-n", help="Largest share of N bases in a kept window."),
    gc_match: bool = typer.Option(True, "--gc-match/--no-gc-match", help="GC-match the gc share of the background "
                                  "(--no-gc-match: draw it as random windows)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the background windows."),
) -> None:
    """Promoter windows around TSSs against random, GC-matched and TSS-flank background, split by coordinate ranges."""
    from data_prep.promoters import BACKGROUND_KINDS, PromoterDataParams, build_promoter_dataset

    params = PromoterDataParams(upstream=upstream, downstream=downstream, region=region,
                                negatives_per_positive=negatives_per_positive, background_mix=background_mix,
                                flank_min=flank_min, flank_max=flank_max, val_region=val_region,
                                test_region=test_region, min_distance=min_distance, max_n=max_n,
                                gc_match=gc_match, seed=seed)
    result = build_promoter_dataset(genome, tss, out, params)
    parts = []
    for split, c in result.counts.items():
        kinds = ", ".join(f"{c[f'background_{kind}']:,} {kind}" for kind in BACKGROUND_KINDS)
        parts.append(f"{split}: {c['promoter']:,} promoter / {c['background']:,} background ({kinds})")
    dropped = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in result.dropped.items() if n)
    typer.echo("  ".join(parts) + (f"  (promoter windows dropped: {dropped})" if dropped else "") + f"  -> {out}")
    if result.short:
        short = "; ".join(f"{split}: " + ", ".join(f"{n:,} {kind}" for kind, n in kinds.items())
                          for split, kinds in result.short.items())
        typer.echo(f"warning: too few candidate windows for the background mix, fewer drawn ({short})", err=True)


def _dropped(dropped: dict[str, int]) -> str:
    """'  (dropped: 3 too many n, ...)' or ''."""
    text = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
    return f"  (dropped: {text})" if text else ""


def _counts(counts: dict[str, dict[str, int]]) -> str:
    """'train: 100 windows (12 / 30 positive)  val: ...'."""
    parts = []
    for split, c in counts.items():
        positives = " / ".join(f"{v:,}" for k, v in c.items() if k != "windows")
        parts.append(f"{split}: {c['windows']:,} windows ({positives} positive)")
    return "  ".join(parts)


@data_app.command("chromatin")
def chromatin(
    fasta: Path = typer.Option(..., "--fasta", help="Pre-cut sequences whose headers carry coordinates "
                               "(chrom:start-end), or an indexed genome with --region."),
    peaks: list[Path] = typer.Option(..., "--peaks", help="Peak BED files, one target each: "
                                     "`--peaks A.bed B.bed ...` or the option repeated."),
    more_peaks: Optional[list[Path]] = typer.Argument(None, metavar="[PEAKS]...", show_default=False,
                                                      help="The further files of `--peaks A.bed B.bed ...`."),
    out: Path = typer.Option(..., "--out", help="Data folder to write: windows.tsv and dataset.json."),
    bin_size: int = typer.Option(200, "--bin", help="Central bases whose overlap with a peak sets a target."),
    window: int = typer.Option(1000, "--window", help="Bases per window."),
    stride: int = typer.Option(200, "--stride", help="Bases between window starts."),
    min_overlap: int = typer.Option(1, "--min-overlap", help="Bases of the central bin that must lie in a peak."),
    region: list[str] = typer.Option([], "--region", help="Genome mode: regions to tile (repeat); "
                                     "without it --fasta is read as pre-cut sequences."),
    holdout_chrom: list[str] = typer.Option([], "--holdout-chrom", help="Contigs left out entirely (repeat), "
                                            "e.g. chrX."),
    val_region: list[str] = typer.Option([], "--val-region", help="Validation ranges or contigs (repeat; "
                                         "default: second-to-last tenth of each contig's span)."),
    test_region: list[str] = typer.Option([], "--test-region", help="Test ranges or contigs (repeat; "
                                          "default: last tenth of each contig's span)."),
    max_n: float = typer.Option(0.05, "--max-n", help="Largest share of N bases in a kept window."),
    coords: str = typer.Option("auto", "--coords", help="Header coordinates: auto, one-based (inclusive) "
                               "or zero-based (half-open)."),
) -> None:
    """Windows labelled by peak overlap of their central bin (DeepSEA style), one target per peak file."""
    from data_prep.chromatin import ChromatinDataParams, build_chromatin_dataset

    params = ChromatinDataParams(window=window, bin=bin_size, stride=stride, min_overlap=min_overlap,
                                 regions=tuple(region), holdout_chroms=tuple(holdout_chrom),
                                 val_regions=tuple(val_region), test_regions=tuple(test_region), max_n=max_n,
                                 coords=coords)
    result = build_chromatin_dataset(fasta, [*peaks, *(more_peaks or [])], out, params)
    typer.echo(f"{len(result.targets)} targets  {_counts(result.counts)}{_dropped(result.dropped)}  -> {out}")


@data_app.command("tf-binding")
def tf_binding(
    peaks: Path = typer.Option(..., "--peaks", help="FASTA of peak sequences whose headers carry coordinates."),
    out: Path = typer.Option(..., "--out", help="Data folder to write: windows.tsv and dataset.json."),
    background: str = typer.Option("gc-matched", "--background", help="gc-matched (windows of --genome) or "
                                   "shuffled (dinucleotide shuffles of the peaks)."),
    genome: Optional[Path] = typer.Option(None, "--genome", help="Indexed genome to cut gc-matched background from."),
    negatives_per_positive: float = typer.Option(1.0, "--negatives-per-positive", help="Background windows per peak."),
    window: Optional[int] = typer.Option(None, "--window", help="Bases per window (default: the most common "
                                         "peak length; longer peaks are centre-cropped)."),
    name: Optional[str] = typer.Option(None, "--name", help="Target name (default: the file name)."),
    val_region: list[str] = typer.Option([], "--val-region", help="Peaks' validation ranges or contigs "
                                         "(repeat; default: chr7)."),
    test_region: list[str] = typer.Option([], "--test-region", help="Peaks' test ranges or contigs "
                                          "(repeat; default: chr8 and chr9)."),
    background_val_region: list[str] = typer.Option([], "--background-val-region",
                                                    help="Genome background's validation ranges "
                                                         "(default: second-to-last tenth of each contig)."),
    background_test_region: list[str] = typer.Option([], "--background-test-region",
                                                     help="Genome background's test ranges "
                                                          "(default: last tenth of each contig)."),
    min_distance: int = typer.Option(1000, "--min-distance", help="Least bases between background and any peak."),
    seed: int = typer.Option(0, "--seed", help="Seed of the background."),
    coords: str = typer.Option("auto", "--coords", help="Header coordinates: auto, one-based or zero-based."),
) -> None:
    """Peak sequences (bound) against GC-matched genome windows or dinucleotide shuffles (unbound)."""
    from data_prep.tf_binding import TFBindingDataParams, build_tf_binding_dataset

    params = TFBindingDataParams(background=background, negatives_per_positive=negatives_per_positive,
                                 window=window, name=name, val_regions=tuple(val_region),
                                 test_regions=tuple(test_region), background_val_regions=tuple(background_val_region),
                                 background_test_regions=tuple(background_test_region), min_distance=min_distance,
                                 seed=seed, coords=coords)
    result = build_tf_binding_dataset(peaks, out, params, genome=genome)
    typer.echo(f"target {result.target}  {_counts(result.counts)}{_dropped(result.dropped)}  -> {out}")


@data_app.command("protein-split")
def protein_split(
    fasta: Path = typer.Option(..., "--fasta", help="Protein FASTA (plain or gzip)."),
    train: Path = typer.Option(..., "--train", help="FASTA to write the training records to."),
    held_out: Path = typer.Option(..., "--held-out", help="FASTA to write the held-apart records to."),
    fraction: float = typer.Option(0.02, "--fraction", help="Share of records held apart (by a hash of the id)."),
    salt: str = typer.Option("heldout:", "--salt", help="Prefix hashed with each id, so the held-apart set differs "
                             "from the one pretraining validates on (empty: the same rule)."),
) -> None:
    """Split a protein corpus by record into training and held-apart files (a hash of each id decides)."""
    from data_prep.protein_split import split_proteins

    result = split_proteins(fasta, train, held_out, fraction, salt)
    typer.echo(f"{result.train_records:,} training records -> {train}  "
               f"{result.held_out_records:,} held apart -> {held_out}")
