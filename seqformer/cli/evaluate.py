"""``seqformer evaluate``: a sub-app of evaluation verbs; ``evaluate mlm`` scores a masked LM on FASTA."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from seqformer.cli.app import app, make_app
from seqformer.device import resolve_device
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
    from seqformer.evaluation.mlm import evaluate_mlm
    from seqformer.models import MaskedLM, load_model

    where = resolve_device(device)
    loaded = load_model(model, where, expect=MaskedLM)
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


_STRANDS_HELP = ("both: average the model's probability for each window with its reverse complement's (twice "
                 "the forward passes); forward: read the windows as given.")


@evaluate_app.command("promoter")
def promoter(
    data: Path = typer.Option(..., "--data", help="Data folder from `seqformer data promoters` (its test split is scored)."),
    model: Path = typer.Option(..., "--model", help="Classifier folder from `seqformer finetune promoter`, or a "
                               "track model from `finetune promoter-track` (a window scores its highest per-base "
                               "probability, read in its genome context)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for metrics.json, roc.png and pr.png "
                                       "(each figure also as SVG; default: write nothing, print only)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    strands: str = typer.Option("both", "--strands", help=_STRANDS_HELP),
    cpg_islands: Optional[Path] = typer.Option(None, "--cpg-islands", help="CpG islands, BED3+: also score the "
                                               "promoter windows that overlap an island and the others apart, "
                                               "against each background kind."),
) -> None:
    """AUROC, AUPRC, F1 and MCC on the test split beside a k-mer logistic regression, and per background kind."""
    from seqformer.evaluation.windows import PromoterEvaluation, write_promoter_evaluation

    islands = None
    if cpg_islands is not None:
        from seqformer.io import read_bed

        islands = read_bed(cpg_islands, allow_empty=True)
        islands.attrs["source"] = cpg_islands.name  # named in errors
    result = PromoterEvaluation.from_windows(
        _evaluate("promoter", data, model, batch_size, device, None, strands, islands))
    if out is not None:
        write_promoter_evaluation(result, out)
    if json_out:
        typer.echo(json.dumps(result.to_dict()))
        return
    counts = result.counts
    table = Table(title=f"evaluate promoter: test split ({counts['promoter']:,} promoter, "
                        f"{counts['background']:,} background windows; model on {strands} "
                        f"strand{'s' if strands == 'both' else ''})")
    for column in ("predictor", "AUROC", "AUPRC", "F1", "MCC"):
        table.add_column(column, justify="left" if column == "predictor" else "right")
    for name, scores in result.metrics.items():
        table.add_row(name, *(f"{scores[key]:.3f}" for key in ("auroc", "auprc", "f1", "mcc")))
    console = Console()
    console.print(table)
    if result.by_background:
        console.print(_background_table(result))
    if result.by_island:
        console.print(_island_table(result))


_BACKGROUND_NAMES = {"random": "random genome", "gc": "GC-matched", "flank": "TSS flanks",
                     "unlabelled": "unlabelled"}


def _background_table(result) -> Table:
    """AUROC and AUPRC of the promoter windows against each background kind, model beside baseline."""
    model_name, baseline = list(result.metrics)[:2]
    table = Table(title=f"promoter windows against each kind of background (baseline: {baseline})")
    for column in ("background", "windows", "model AUROC", "baseline AUROC", "model AUPRC", "baseline AUPRC"):
        table.add_column(column, justify="left" if column == "background" else "right",
                         no_wrap=column == "background")
    for kind, entry in result.by_background.items():
        m, b = entry["metrics"][model_name], entry["metrics"][baseline]
        table.add_row(_BACKGROUND_NAMES.get(kind, f"bg-{kind}"), f"{entry['counts']['background']:,}",
                      f"{m['auroc']:.3f}", f"{b['auroc']:.3f}", f"{m['auprc']:.3f}", f"{b['auprc']:.3f}")
    return table


def _island_table(result) -> Table:
    """AUROC of the promoter windows at CpG islands and of the others against each background kind."""
    model_name, baseline = list(result.metrics)[:2]
    table = Table(title="promoter windows overlapping a CpG island, and the others, against each kind of "
                        f"background (baseline: {baseline})")
    for column in ("promoters", "background", "windows", "model AUROC", "baseline AUROC"):
        table.add_column(column, justify="left" if column in ("promoters", "background") else "right",
                         no_wrap=column == "background")
    for stratum, kinds in result.by_island.items():
        label = "at islands" if stratum == "at_islands" else "elsewhere"
        for kind, entry in kinds.items():
            m, b = entry["metrics"][model_name], entry["metrics"][baseline]
            table.add_row(label, _BACKGROUND_NAMES.get(kind, f"bg-{kind}"),
                          f"{entry['counts']['promoter']:,} + {entry['counts']['background']:,}",
                          f"{m['auroc']:.3f}", f"{b['auroc']:.3f}")
    return table


def _evaluate(task: str, data: Path, model: Path, batch_size: int, device: str, baseline_k: Optional[int],
              strands: str, islands=None):
    """A task's window evaluation of the classifier in ``model`` (checked options, resolved device)."""
    from seqformer.models import SequenceClassifier, load_model
    from seqformer.predict.scorer import STRANDS
    from seqformer.tasks.window_tasks import evaluate_task

    if strands not in STRANDS:
        raise InputError(f"--strands must be {' or '.join(STRANDS)}, got {strands!r}")
    from seqformer.models.loader import model_class
    from seqformer.models.token_classifier import TokenClassifier

    where = resolve_device(device)
    track = task in ("promoter", "chromatin") and model_class(model) is TokenClassifier  # a track model
    loaded = load_model(model, where, expect=TokenClassifier if track else SequenceClassifier)
    return evaluate_task(task, data, loaded, batch_size=batch_size, device=where, model_name=str(model.resolve()),
                         baseline_k=baseline_k, strands=strands, islands=islands)


def _evaluate_task(task: str, data: Path, model: Path, out: Optional[Path], json_out: bool, batch_size: int,
                   device: str, baseline_k: Optional[int], strands: str) -> None:
    """Score a model on a task's test split; print a table (or JSON), write the report to ``out``."""
    from seqformer.evaluation.windows import evaluation_dict, write_window_evaluation

    result = _evaluate(task, data, model, batch_size, device, baseline_k, strands)
    if out is not None:
        write_window_evaluation(result, out)
    if json_out:
        typer.echo(json.dumps(evaluation_dict(result)))
        return
    model_name, baseline = result.predictors
    table = Table(title=f"evaluate {task}: test split ({strands} strand{'s' if strands == 'both' else ''}), "
                        f"model vs {baseline}")
    for column in ("target", "positives", "model AUROC", "baseline AUROC", "model AUPRC", "baseline AUPRC"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for t in result.targets:
        m, b = result.metrics[t][model_name], result.metrics[t][baseline]
        table.add_row(t, f"{result.counts[t]['positive']:,} / {sum(result.counts[t].values()):,}",
                      f"{m['auroc']:.3f}", f"{b['auroc']:.3f}", f"{m['auprc']:.3f}", f"{b['auprc']:.3f}")
    auroc, auprc = result.summary("auroc"), result.summary("auprc")
    for stat in ("mean", "median"):
        table.add_row(stat, "", f"{auroc[model_name][stat]:.3f}", f"{auroc[baseline][stat]:.3f}",
                      f"{auprc[model_name][stat]:.3f}", f"{auprc[baseline][stat]:.3f}")
    console = Console()
    console.print(table)
    typer.echo(f"model above the baseline on {result.wins('auroc')} of {len(result.targets)} targets (AUROC)")
    if result.per_base:
        console.print(_per_base_table(result))


def _per_base_table(result) -> Table:
    """A chromatin track model's per-base AUROC and AUPRC per target on the test sequence."""
    bases = next(iter(result.per_base.values()))["bases"]
    table = Table(title=f"per base: {bases:,} test bases")
    for column in ("target", "positive bases", "AUROC", "AUPRC"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for t, m in result.per_base.items():
        table.add_row(t, f"{m['positive']:,}", f"{m['auroc']:.3f}", f"{m['auprc']:.3f}")
    for stat, f in (("mean", np.nanmean), ("median", np.nanmedian)):
        table.add_row(stat, "", *(f"{f([m[key] for m in result.per_base.values()]):.3f}" for key in ("auroc", "auprc")))
    return table


_DATA_HELP = "Data folder from `seqformer data {task}` (its test split is scored)."
_MODEL_HELP = "Classifier folder from `seqformer finetune {task}`."
_OUT_HELP = ("Folder for metrics.json, metrics.tsv, auroc.png and auprc.png (bars per target; one target: "
             "roc.png and pr.png instead), each figure also as SVG (default: print only).")
_OUT_HELP_ONE = ("Folder for metrics.json, metrics.tsv, roc.png and pr.png (one target: its curves), each figure "
                 "also as SVG (default: print only).")


@evaluate_app.command("chromatin")
def chromatin(
    data: Path = typer.Option(..., "--data", help=_DATA_HELP.format(task="chromatin")),
    model: Path = typer.Option(..., "--model", help="Classifier folder from `seqformer finetune chromatin`, or a "
                               "track model from `finetune chromatin-track` (a window scores the max of its "
                               "record's per-base track over its central bin; per-base metrics too)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for metrics.json, metrics.tsv, auroc.png and "
                                       "auprc.png (bars per target), each figure also as SVG, and per_base.tsv for "
                                       "a track model (default: print only)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    baseline_k: Optional[int] = typer.Option(None, "--baseline-k", min=1, max=8, help="k of the k-mer baseline "
                                             "(default 5)."),
    strands: str = typer.Option("both", "--strands", help=_STRANDS_HELP),
) -> None:
    """Per-target AUROC and AUPRC (mean, median) beside a 5-mer logistic regression per target (a track model:
    also per base)."""
    _evaluate_task("chromatin", data, model, out, json_out, batch_size, device, baseline_k, strands)


@evaluate_app.command("tf-binding")
def tf_binding(
    data: Path = typer.Option(..., "--data", help=_DATA_HELP.format(task="tf-binding")),
    model: Path = typer.Option(..., "--model", help=_MODEL_HELP.format(task="tf-binding")),
    out: Optional[Path] = typer.Option(None, "--out", help=_OUT_HELP_ONE),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Windows per forward pass."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    baseline_k: Optional[int] = typer.Option(None, "--baseline-k", min=1, max=8, help="k of the k-mer baseline "
                                             "(default 4)."),
    strands: str = typer.Option("both", "--strands", help=_STRANDS_HELP),
) -> None:
    """AUROC, AUPRC, F1 and MCC beside a 4-mer logistic regression."""
    _evaluate_task("tf-binding", data, model, out, json_out, batch_size, device, baseline_k, strands)
