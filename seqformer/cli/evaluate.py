"""``seqformer evaluate``: a sub-app of evaluation verbs; ``evaluate mlm`` scores a masked LM on FASTA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli import app, make_app
from seqformer.errors import InputError

evaluate_app = make_app("Evaluate trained models on FASTA, BED or labelled sets.")
app.add_typer(evaluate_app, name="evaluate")


@evaluate_app.command("mlm")
def mlm(
    model: Path = typer.Option(..., "--model", help="Model folder (config.json, model.safetensors, "
                               "tokenizer.json), or a pretraining run folder holding model/."),
    fasta: Path = typer.Option(..., "--fasta", help="FASTA file to score (plain, gzip or BGZF), every record."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per forward pass."),
    seed: int = typer.Option(0, "--seed", help="Seed of the masking (the same seed gives the same masks)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", min=3,
                                             help="Tokens per window (default: the length the model was trained on)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Masked-token accuracy and perplexity on a FASTA file, beside the unigram-frequency baseline."""
    from seqformer.models.mlm import MaskedLM
    from seqformer.tasks.mlm import evaluate_mlm
    from seqformer.training.distributed import resolve_device

    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    where = resolve_device(device)
    folder = model / "model" if (model / "model" / "config.json").is_file() else model
    loaded = MaskedLM.from_pretrained(folder, map_location=where)
    result = evaluate_mlm(loaded, fasta, batch_size=batch_size, seed=seed, max_length=max_length, device=where)
    if json_out:
        typer.echo(json.dumps(result.to_dict()))
        return
    table = Table(title=f"evaluate mlm: {fasta.name} ({result.masked:,} masked of {result.tokens:,} tokens)")
    for column in ("predictor", "accuracy", "perplexity"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    table.add_row("model", f"{result.accuracy:.2%}", f"{result.perplexity:,.2f}")
    table.add_row("unigram (file's own frequencies)", f"{result.unigram_accuracy:.2%}",
                  f"{result.unigram_perplexity:,.2f}")
    Console().print(table)


@evaluate_app.command("promoter")
def promoter(
    data: Path = typer.Option(..., "--data", help="Data folder from `seqformer data promoters` (its test split is scored)."),
    model: Path = typer.Option(..., "--model", help="Classifier folder from `seqformer finetune promoter`."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for metrics.json, roc.png and pr.png "
                                       "(default: write nothing, print only)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """AUROC, AUPRC, F1 and MCC on the test split, beside a k-mer-spectrum logistic regression."""
    from seqformer.models.classifier import SequenceClassifier
    from seqformer.tasks.promoter import evaluate_promoter, write_evaluation
    from seqformer.training.distributed import resolve_device

    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device must be auto, cpu or cuda, got {device!r}")
    where = resolve_device(device)
    loaded = SequenceClassifier.from_pretrained(model, map_location=where)
    result = evaluate_promoter(data, loaded, batch_size=batch_size, device=where, model_name=str(model.resolve()))
    if out is not None:
        write_evaluation(result, out)
    if json_out:
        typer.echo(json.dumps(result.to_dict()))
        return
    counts = result.counts
    table = Table(title=f"evaluate promoter: test split ({counts['promoter']:,} promoter, "
                        f"{counts['background']:,} background windows)")
    for column in ("predictor", "AUROC", "AUPRC", "F1", "MCC"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    for name, scores in result.metrics.items():
        table.add_row(name, *(f"{scores[key]:.3f}" for key in ("auroc", "auprc", "f1", "mcc")))
    Console().print(table)
