"""``seqformer finetune TASK``: train a sequence classifier on a task's data folder (promoter, chromatin, tf-binding)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli import app
from seqformer.errors import InputError


@app.command("finetune")
def finetune(
    task: str = typer.Argument(..., help="promoter, chromatin or tf-binding (the kind of --data folder)."),
    data: Path = typer.Option(..., "--data", help="Data folder from `seqformer data promoters|chromatin|tf-binding`."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (config.json, model.safetensors, "
                             "tokenizer.json, metrics.csv, finetune.json); must be new or empty."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start the encoder from this pretrained model "
                                        "folder (e.g. a pretraining run's model/); its shape and k win."),
    arch: str = typer.Option("dense", "--arch", help="Attention: dense (default), bigbird, performer-softmax, performer-relu, "
                                                     "longformer, nystromformer or reformer-lsh."),
    kmer: Optional[int] = typer.Option(None, "--kmer", help="k of the k-mer tokens (default 6 for every task)."),
    kmer_stride: Optional[int] = typer.Option(None, "--kmer-stride", help="1 = overlapping k-mers (default), k = "
                                              "non-overlapping (a k-th of the tokens)."),
    hidden: Optional[int] = typer.Option(None, "--hidden", help="Encoder width (default 128; chromatin and tf-binding 64)."),
    layers: int = typer.Option(2, "--layers", help="Encoder blocks."),
    heads: int = typer.Option(4, "--heads", help="Attention heads."),
    epochs: int = typer.Option(10, "--epochs", min=1, help="Epochs over the train split."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Optimizer steps (overrides --epochs)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Windows per step."),
    lr: float = typer.Option(3e-4, "--lr", help="Peak learning rate (warm-up, then cosine)."),
    pos_weight: Optional[bool] = typer.Option(None, "--pos-weight/--no-pos-weight",
                                              help="Weight each target's positives by negatives/positives "
                                                   "(default: on for chromatin)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initialisation, order and strand flips."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    quiet: bool = typer.Option(False, "--quiet", help="Log lines instead of a progress bar."),
) -> None:
    """Fine-tune a classifier (from scratch or --init); keeps the epoch with the best validation AUROC."""
    from seqformer.tasks.window_tasks import TASKS, finetune_task, task_options
    from seqformer.training.config import ARCHS

    if task not in TASKS:
        raise InputError(f"TASK must be one of {', '.join(TASKS)}, got {task!r}")
    if arch not in ARCHS:
        raise InputError(f"--arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    if lr <= 0:
        raise InputError(f"--lr must be positive, got {lr}")
    try:
        options = task_options(task, arch=arch, kmer=kmer, kmer_stride=kmer_stride, hidden_size=hidden,
                               num_layers=layers, num_heads=heads, epochs=epochs, max_steps=max_steps,
                               batch_size=batch_size, lr=lr, pos_weight=pos_weight, device=device, seed=seed,
                               threads=threads)
    except ValueError as err:
        raise InputError(str(err)) from None
    result = finetune_task(task, data, out, options, init=init, quiet=quiet)
    scores = "  ".join(f"{key} {value:.4f}" for key, value in result.validation.items())
    typer.echo(f"best epoch {result.best_epoch} (step {result.best_step} of {result.steps}): {scores}  "
               f"model: {result.model_dir}")
