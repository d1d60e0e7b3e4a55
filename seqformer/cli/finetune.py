"""``seqformer finetune``: a sub-app of fine-tuning verbs; ``finetune promoter`` trains a promoter classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli import app, make_app
from seqformer.errors import InputError

finetune_app = make_app("Fine-tune classifiers on task datasets.")
app.add_typer(finetune_app, name="finetune")


@finetune_app.command("promoter")
def promoter(
    data: Path = typer.Option(..., "--data", help="Data folder from `seqformer data promoters`."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json, model.safetensors, "
                             "tokenizer.json, metrics.csv, finetune.json); must be new or empty."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start the encoder from this pretrained model "
                                        "folder (e.g. a pretraining run's model/); its shape and k win."),
    arch: str = typer.Option("dense", "--arch", help="Attention: dense, bigbird, performer-softmax or performer-relu."),
    kmer: int = typer.Option(6, "--kmer", help="k of the overlapping k-mer tokens."),
    hidden: int = typer.Option(128, "--hidden", help="Encoder width."),
    layers: int = typer.Option(2, "--layers", help="Encoder blocks."),
    heads: int = typer.Option(4, "--heads", help="Attention heads."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Epochs over the train split."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Optimizer steps (overrides --epochs)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Windows per step."),
    lr: float = typer.Option(3e-4, "--lr", help="Peak learning rate (warm-up, then cosine)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, order and strand flips."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    quiet: bool = typer.Option(False, "--quiet", help="Log lines instead of a progress bar."),
) -> None:
    """Fine-tune a promoter / background classifier; keeps the epoch with the best validation AUROC."""
    from seqformer.tasks.promoter import FinetuneOptions, finetune_promoter
    from seqformer.training.config import ARCHS

    if arch not in ARCHS:
        raise InputError(f"--arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if lr <= 0:
        raise InputError(f"--lr must be positive, got {lr}")
    try:
        options = FinetuneOptions(arch=arch, kmer=kmer, hidden_size=hidden, num_layers=layers, num_heads=heads,
                                  epochs=epochs, max_steps=max_steps, batch_size=batch_size, lr=lr, device=device,
                                  seed=seed, threads=threads)
    except ValueError as err:
        raise InputError(str(err)) from None
    result = finetune_promoter(data, out, options, init=init, quiet=quiet)
    scores = "  ".join(f"{key} {value:.4f}" for key, value in result.validation.items())
    typer.echo(f"best epoch {result.best_epoch} (step {result.best_step} of {result.steps}): {scores}  "
               f"model: {result.model_dir}")
