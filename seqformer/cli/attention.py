"""``seqformer attention``: attention maps of a model, and its attention against a substitution matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from seqformer.cli.app import app, make_app
from seqformer.errors import InputError

attention_app = make_app("Attention analysis: maps per layer and head, attention against substitution matrices.")
app.add_typer(attention_app, name="attention")

_MODEL_HELP = ("Model folder (config.json, model.safetensors, tokenizer.json: a masked LM, classifier or "
               "encoder), or a pretraining run folder holding model/.")


def _load(model: Path, device: str):
    """The model in a model folder or a pretraining run folder, on ``--device``."""
    from seqformer.device import resolve_device
    from seqformer.models import load_model

    return load_model(model, map_location=resolve_device(device))


@attention_app.command("blosum")
def blosum(
    model: Path = typer.Option(..., "--model", help=_MODEL_HELP + " A protein model."),
    fasta: Path = typer.Option(..., "--fasta", help="Protein FASTA (plain, gzip or BGZF); records in file order."),
    out: Path = typer.Option(..., "--out", help="Folder for summary.json, the 20x20 matrices (CSV), head_shares.csv "
                             "and comparison.png."),
    matrix: str = typer.Option("BLOSUM62", "--matrix", help="Substitution matrix (Bio.Align.substitution_matrices)."),
    max_seqs: int = typer.Option(500, "--max-seqs", min=1, help="Analyse the first N records."),
    threshold: float = typer.Option(0.1, "--threshold", help="Ignore attention weights at or below this."),
    min_head_weight: float = typer.Option(100.0, "--min-head-weight", min=0.0,
                                          help="Leave out heads whose kept attention over the set sums to less."),
    min_heads: int = typer.Option(10, "--min-heads", min=2, help="Kept heads needed for r (fewer: r is "
                                  "undefined, since pair correlations over a few heads are ±1 or noise)."),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0, help="Resamples of the sequences for r's 95% "
                                  "interval (0 = none)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Cut records to this many tokens "
                                             "(default: the model's attention-extraction limit)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random control model's initialisation."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Sequences per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Vig et al. 2020: do heads that attend to one amino acid also attend to those BLOSUM62 calls similar?

    When no head keeps enough attention above --threshold, r is undefined: the report is still
    written (with the unthresholded comparison) and the command says so in one line, exit code 2.
    """
    from seqformer.analysis.reports import blosum_report

    _, summary = blosum_report(_load(model, device), fasta, out, matrix=matrix, max_seqs=max_seqs,
                               threshold=threshold, min_head_weight=min_head_weight, max_length=max_length,
                               control_seed=seed, batch_size=batch_size, min_heads=min_heads, bootstrap=bootstrap,
                               model_name=model.name)
    if summary["pearson_r"] is None:
        raise InputError(undefined_r_message(summary, out))
    typer.echo(json.dumps(summary))


def undefined_r_message(summary: dict, out: Path) -> str:
    """Why pearson_r is undefined, and where the unthresholded figure is."""
    unthresholded = summary["unthresholded"]["pearson_r"]
    at_zero = "undefined too" if unthresholded is None else f"r = {unthresholded:.3f}"
    return (f"pearson_r is undefined at --threshold {summary['threshold']:g}, --min-head-weight "
            f"{summary['min_head_weight']:g} and --min-heads {summary['min_heads']}: {summary['undefined']}; the "
            f"report in {out} holds the unthresholded comparison (θ = 0: {at_zero}) in comparison.png and "
            "summary.json; lower --threshold or --min-head-weight, or analyse a model with more heads")


@attention_app.command("maps")
def maps(
    model: Path = typer.Option(..., "--model", help=_MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for NAME.npz and NAME.layerI.png + .svg per sequence, "
                             "heads.tsv and summary.json."),
    fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA of sequences (DNA or protein, as the model)."),
    record: Optional[str] = typer.Option(None, "--record", help="The FASTA record to use (default: the first N)."),
    genome: Optional[Path] = typer.Option(None, "--genome", help="Reference genome (DNA models), with --region."),
    region: Optional[str] = typer.Option(None, "--region", help="Samtools-style region, short enough to extract."),
    tss: Optional[int] = typer.Option(None, "--tss", help="With --region: a TSS (1-based position on the region's "
                                      "contig); the figures count bp from it and mark it."),
    max_seqs: int = typer.Option(10, "--max-seqs", min=1, help="FASTA: the first N records that fit the model's "
                                 "attention-extraction limit (longer ones are skipped and counted)."),
    shared_scale: bool = typer.Option(False, "--shared-scale", help="One colour scale for all heads of a figure "
                                      "(default: one per head, each with its colour bar)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Attention of every layer and head over tokens and letters (arrays, heatmaps, per-head statistics).

    FASTA records longer than the model's attention-extraction limit are skipped: one warning line
    at the end counts them (summary.json names them); when every record is too long, exit code 2.
    """
    from seqformer.analysis.maps import write_attention_maps

    files, summary = write_attention_maps(_load(model, device), out, model_name=_model_name(model), fasta=fasta,
                                          record=record, genome=genome, region=region, tss=tss, max_seqs=max_seqs,
                                          shared_scale=shared_scale)
    typer.echo(json.dumps({"files": [str(f) for f in files], "skipped": summary["skipped"]}))
    if summary["skipped"]:
        count = summary["skipped"]
        typer.echo(f"warning: skipped {count:,} record{'s' * (count > 1)} longer than the attention-extraction "
                   f"limit of {summary['limit_tokens']:,} tokens (named in {out / 'summary.json'})", err=True)


def _model_name(model: Path) -> str:
    """The model's name for figure titles: its folder (``run/model`` for a run folder's model)."""
    path = model.resolve()
    if not (path / "config.json").is_file() and (path / "model").is_dir():
        return f"{path.name}/model"
    return f"{path.parent.name}/model" if path.name == "model" else path.name
