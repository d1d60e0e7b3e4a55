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


BLOSUM_MODES = ("weighted", "provis")  # --mode: today's statistic (first N records), or provis's run settings
_DEFAULTS = {"weighted": {"threshold": 0.1, "max_seqs": 500, "bootstrap": 200, "min_head_weight": 100.0},
             "provis": {"threshold": 0.3, "num_sequences": 5000, "min_head_edges": 100}}


@attention_app.command("blosum")
def blosum(
    model: Path = typer.Option(..., "--model", help=_MODEL_HELP + " A protein model."),
    fasta: Path = typer.Option(..., "--fasta", help="Protein FASTA (plain, gzip or BGZF)."),
    out: Path = typer.Option(..., "--out", help="Folder for summary.json, the 20x20 matrices (CSV), per-head CSVs "
                             "and comparison.png (docs/attention.md lists them per mode)."),
    mode: str = typer.Option("weighted", "--mode", help="weighted: each head's share of kept attention weight, "
                             "on the first --max-seqs records, beside a random control with a bootstrap interval; "
                             "provis: each head's share of edges above θ = 0.3 on a seeded sample of "
                             "--num-sequences records cut to 512 tokens, as Vig et al.'s published code, for "
                             "numbers comparable with the paper."),
    matrix: str = typer.Option("BLOSUM62", "--matrix", help="Substitution matrix (Bio.Align.substitution_matrices)."),
    max_seqs: Optional[int] = typer.Option(None, "--max-seqs", min=1, help="weighted: analyse the first N records "
                                           "(default 500)."),
    num_sequences: Optional[int] = typer.Option(None, "--num-sequences", min=1, help="provis: records sampled at "
                                                "random without replacement, seeded by --seed (default 5000; all "
                                                "when fewer)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Ignore attention weights at or below this "
                                              "(default 0.1 weighted, 0.3 provis)."),
    min_head_weight: Optional[float] = typer.Option(None, "--min-head-weight", min=0.0, help="weighted: leave out "
                                                    "heads whose kept attention over the set sums to less "
                                                    "(default 100)."),
    min_head_edges: Optional[int] = typer.Option(None, "--min-head-edges", min=0, help="provis: leave out heads "
                                                 "with fewer edges over the sample (default 100)."),
    min_heads: int = typer.Option(10, "--min-heads", min=2, help="Kept heads needed for r (fewer: r is "
                                  "undefined, since pair correlations over a few heads are ±1 or noise)."),
    bootstrap: Optional[int] = typer.Option(None, "--bootstrap", min=0, help="weighted: resamples of the sequences "
                                            "for r's 95% interval (default 200; 0 = none)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Cut records to this many tokens "
                                             "(default: the model's max_length; provis: 512 or max_length if "
                                             "lower). Inputs above the dense limit are summed a chunk of "
                                             "query rows at a time."),
    seed: int = typer.Option(0, "--seed", help="weighted: seed of the random control model's initialisation; "
                             "provis: seed of the sample (provis's own runs used 123)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Sequences per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Vig et al. 2020: do heads that attend to one amino acid also attend to those BLOSUM62 calls similar?

    When no head keeps enough attention above --threshold, r is undefined: the report is still
    written and the command says so in one line, exit code 2.
    """
    options = _mode_options(mode, {"threshold": threshold, "max_seqs": max_seqs, "num_sequences": num_sequences,
                                    "bootstrap": bootstrap, "min_head_weight": min_head_weight,
                                    "min_head_edges": min_head_edges})
    if mode == "provis":
        from seqformer.analysis.reports_provis import provis_report

        _, summary = provis_report(_load(model, device), fasta, out, matrix=matrix,
                                   num_sequences=options["num_sequences"], seed=seed, threshold=options["threshold"],
                                   min_head_edges=options["min_head_edges"], min_heads=min_heads,
                                   max_length=max_length, batch_size=batch_size, model_name=model.name)
        if summary["pearson_r"] is None:
            raise InputError(undefined_provis_message(summary, out))
        typer.echo(json.dumps(summary))
        return
    from seqformer.analysis.reports import blosum_report

    _, summary = blosum_report(_load(model, device), fasta, out, matrix=matrix, max_seqs=options["max_seqs"],
                               threshold=options["threshold"], min_head_weight=options["min_head_weight"],
                               max_length=max_length, control_seed=seed, batch_size=batch_size, min_heads=min_heads,
                               bootstrap=options["bootstrap"], model_name=model.name)
    if summary["pearson_r"] is None:
        raise InputError(undefined_r_message(summary, out))
    typer.echo(json.dumps(summary))


def _mode_options(mode: str, given: dict) -> dict:
    """The mode's options: its defaults under those given; InputError for a mode's option given to the other."""
    if mode not in BLOSUM_MODES:
        raise InputError(f"--mode must be {' or '.join(BLOSUM_MODES)}, got {mode!r}")
    defaults = _DEFAULTS[mode]
    stray = [name for name, value in given.items() if value is not None and name not in defaults]
    if stray:
        flags = " and ".join("--" + name.replace("_", "-") for name in stray)
        other = next(other for other in BLOSUM_MODES if other != mode)
        raise InputError(f"{flags} belong{'s' * (len(stray) == 1)} to --mode {other}, not --mode {mode}")
    return {name: default if given[name] is None else given[name] for name, default in defaults.items()}


def undefined_r_message(summary: dict, out: Path) -> str:
    """Why pearson_r is undefined, and where the unthresholded figure is."""
    unthresholded = summary["unthresholded"]["pearson_r"]
    at_zero = "undefined too" if unthresholded is None else f"r = {unthresholded:.3f}"
    return (f"pearson_r is undefined at --threshold {summary['threshold']:g}, --min-head-weight "
            f"{summary['min_head_weight']:g} and --min-heads {summary['min_heads']}: {summary['undefined']}; the "
            f"report in {out} holds the unthresholded comparison (θ = 0: {at_zero}) in comparison.png and "
            "summary.json; lower --threshold or --min-head-weight, or analyse a model with more heads")


def undefined_provis_message(summary: dict, out: Path) -> str:
    """Why provis's r is undefined, and where each head's edges are counted."""
    return (f"pearson_r is undefined in --mode provis at --threshold {summary['threshold']:g}, --min-head-edges "
            f"{summary['min_head_edges']} and --min-heads {summary['min_heads']}: {summary['undefined']} "
            f"({summary['edges']:,} edges above the threshold in {summary['n_sequences']:,} sequences); the report "
            f"in {out} is written (heads.csv counts each head's edges); sample more sequences, lower --threshold "
            "or --min-head-edges, or use --mode weighted for the unthresholded comparison and its control")


@attention_app.command("maps")
def maps(
    model: Path = typer.Option(..., "--model", help=_MODEL_HELP),
    out: Path = typer.Option(..., "--out", help="Folder for NAME.npz and NAME.layerI.png + .svg per sequence "
                             "(NAME.layerI.distance.png + .svg for sparse maps of long inputs), heads.tsv and "
                             "summary.json."),
    fasta: Optional[Path] = typer.Option(None, "--fasta", help="FASTA of sequences (DNA or protein, as the model)."),
    record: Optional[str] = typer.Option(None, "--record", help="The FASTA record to use (default: the first N)."),
    genome: Optional[Path] = typer.Option(None, "--genome", help="Reference genome (DNA models), with --region."),
    region: Optional[str] = typer.Option(None, "--region", help="Samtools-style region, short enough to extract."),
    tss: Optional[int] = typer.Option(None, "--tss", help="With --region: a TSS (1-based position on the region's "
                                      "contig); the figures count bp from it and mark it."),
    max_seqs: int = typer.Option(10, "--max-seqs", min=1, help="FASTA: the first N records that fit the model's "
                                 "attention-extraction limit, its max_length (longer ones are skipped and counted)."),
    shared_scale: bool = typer.Option(False, "--shared-scale", help="One colour scale for all heads of a figure "
                                      "(default: one per head, each with its colour bar)."),
    top_k: int = typer.Option(32, "--top-k", help="Inputs above the dense limit (2,048 tokens or the kind's "
                              "max_weights_length): keep each query's K heaviest keys per layer and head."),
    all_nonzero: bool = typer.Option(False, "--all-nonzero", help="Inputs above the dense limit: keep every "
                                     "non-zero weight instead of the top K (bigbird, longformer, reformer-lsh: "
                                     "their masks are sparse)."),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Inputs above the dense limit: query rows "
                                             "read at a time (memory B·H·rows·L floats per layer; default: "
                                             "about 4M floats)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Attention of every layer and head over tokens and letters (arrays, heatmaps, per-head statistics).

    Inputs above the dense limit, up to the model's max_length, are read a chunk of query rows at a
    time and saved sparse (top-k keys per query, exact per-head statistics, attention-by-distance
    figures). FASTA records longer than max_length are skipped: one warning line at the end counts
    them (summary.json names them); when every record is too long, exit code 2.
    """
    from seqformer.analysis.maps import write_attention_maps

    files, summary = write_attention_maps(_load(model, device), out, model_name=_model_name(model), fasta=fasta,
                                          record=record, genome=genome, region=region, tss=tss, max_seqs=max_seqs,
                                          shared_scale=shared_scale, top_k=top_k, all_nonzero=all_nonzero,
                                          chunk_size=chunk_size)
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
