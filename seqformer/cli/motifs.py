"""``seqformer motifs``: motifs from attributions (TF-MoDISco) matched to JASPAR, and a JASPAR enrichment baseline."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from seqformer.cli.app import app, make_app
from seqformer.errors import InputError

motifs_app = make_app("Motifs: TF-MoDISco patterns of attributions matched to JASPAR (Tomtom), and the model-free "
                      "baseline of known motifs enriched in positives over a background (FIMO scan).")
app.add_typer(motifs_app, name="motifs")

TAX_GROUP_CHOICES = ("vertebrates", "insects", "all")
_TAX_HELP = "JASPAR CORE motifs of this taxonomic group: vertebrates, insects or all."


def _tax_group(value: str) -> str | None:
    if value not in TAX_GROUP_CHOICES:
        raise InputError(f"--jaspar-tax-group must be one of {', '.join(TAX_GROUP_CHOICES)}, got {value!r}")
    return None if value == "all" else value


@motifs_app.command("discover")
def discover(
    attributions: Path = typer.Option(..., "--attributions", help="attributions.npz of `seqformer attribute`, or "
                                      "the folder holding it."),
    out: Path = typer.Option(..., "--out", help="Folder for motifs.tsv, matches.tsv, motifs.meme, one logo per "
                             "motif (PNG + SVG) and report.html."),
    jaspar_tax_group: str = typer.Option("vertebrates", "--jaspar-tax-group", help=_TAX_HELP),
    jaspar_release: str | None = typer.Option(None, "--jaspar-release", help="e.g. JASPAR2024 (default: the "
                                              "newest pyjaspar ships)."),
    top: int = typer.Option(5, "--top", min=1, help="JASPAR matches kept per motif."),
    max_seqlets: int = typer.Option(20_000, "--max-seqlets", min=1, help="At most this many seqlets (the "
                                    "strongest) per sign."),
    window: int = typer.Option(21, "--window", min=1, help="Seqlet core width (bp)."),
    flank: int = typer.Option(10, "--flank", min=0, help="Flank added on each side of a seqlet (bp)."),
    min_seqlets: int = typer.Option(100, "--min-seqlets", min=1, help="Cluster a sign's seqlets only when there are "
                                    "more than this."),
    leiden_runs: int = typer.Option(50, "--leiden-runs", min=1, help="Leiden clusterings per step (fewer: faster)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress lines on stderr."),
) -> None:
    """Cluster seqlets of high attribution into motifs (modisco-lite) and match each to JASPAR (Tomtom)."""
    from seqformer.analysis.motif_report import motif_report

    group = _tax_group(jaspar_tax_group)
    motifs, matches, files = motif_report(attributions, out, tax_group=group, release=jaspar_release, top=top,
                                          max_seqlets=max_seqlets, window=window, flank=flank,
                                          min_seqlets=min_seqlets, leiden_runs=leiden_runs,
                                          log=None if quiet else (lambda line: typer.echo(line, err=True)))
    best = matches[matches["rank"] == 1].set_index("query")
    typer.echo(json.dumps({"motifs": [{"name": m.name, "n_seqlets": m.n_seqlets, "consensus": m.consensus,
                                       "best_match": best.loc[m.name, "target_id"] if m.name in best.index else None}
                                      for m in motifs], "out": str(out), "files": len(files)}))


@motifs_app.command("enrichment")
def enrichment(
    positives: Path = typer.Option(..., "--positives", help="FASTA of the positive sequences."),
    background: Path = typer.Option(..., "--background", help="FASTA of the background sequences."),
    out: Path = typer.Option(..., "--out", help="TSV: one row per JASPAR motif, most enriched first."),
    jaspar_tax_group: str = typer.Option("vertebrates", "--jaspar-tax-group", help=_TAX_HELP),
    jaspar_release: str | None = typer.Option(None, "--jaspar-release", help="e.g. JASPAR2024 (default: the "
                                              "newest pyjaspar ships)."),
    threshold: float = typer.Option(1e-4, "--threshold", help="A hit: a window scoring with p below this "
                                    "(uniform background)."),
) -> None:
    """Known motifs with more sequences hit among positives than background (FIMO scan, Fisher exact test)."""
    from seqformer.analysis.motif_db import DEFAULT_COLLECTION, jaspar_motifs
    from seqformer.analysis.motif_enrichment import enrichment_baseline, read_sequences, write_enrichment

    group = _tax_group(jaspar_tax_group)
    pos_seqs, neg_seqs = read_sequences(positives), read_sequences(background)
    jaspar = jaspar_motifs(DEFAULT_COLLECTION, group, jaspar_release)
    table = enrichment_baseline(pos_seqs, neg_seqs, jaspar, threshold=threshold)
    write_enrichment(table, out)
    head = table.iloc[0]
    typer.echo(json.dumps({"motifs": len(table), "positives": len(pos_seqs), "background": len(neg_seqs),
                           "top": {"motif_id": head["motif_id"], "motif_name": head["motif_name"],
                                   "odds_ratio": float(head["odds_ratio"]), "p_value": float(head["p_value"])},
                           "out": str(out)}))
