"""``seqformer pretrain``: masked-LM pretraining on FASTA corpora into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from seqformer.cli.app import app


@app.command("pretrain")
def pretrain(
    fasta: Optional[list[Path]] = typer.Option(None, "--fasta", help="Corpus: an indexed genome (DNA; plain or "
                                               "BGZF) or a FASTA file (protein). Repeat for several files."),
    alphabet: Optional[str] = typer.Option(None, help="dna (k-mers over genome windows) or protein (residues)."),
    arch: Optional[str] = typer.Option(None, help="Attention: bigbird, performer-softmax, performer-relu, dense, "
                                       "longformer, nystromformer or reformer-lsh."),
    out: Path = typer.Option(..., "--out", help="Run folder: config.yaml, model/, checkpoints/, metrics.csv, "
                             "tensorboard/."),
    config: Optional[Path] = typer.Option(None, "--config", help="Run config YAML, merged over the defaults; "
                                          "flags given here override it."),
    kmer: Optional[int] = typer.Option(None, "--kmer", help="DNA: k of the k-mer tokens (data.kmer)."),
    max_length: Optional[int] = typer.Option(None, "--max-length", help="Tokens per window (data.max_length)."),
    concat: bool = typer.Option(False, "--concat", help="Protein: join whole records ([CLS] body [SEP]) back to "
                                "back into full windows of --max-length tokens (data.concat)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Optimizer steps (train.max_steps)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per micro-batch and process."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the initialisation, data and masking."),
    device: Optional[str] = typer.Option(None, "--device", help="auto (CUDA when available), cpu or cuda."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar: a log line every train.log_every steps."),
) -> None:
    """Pretrain a masked language model (any attention kind: dense, BigBird, Performer (softmax and ReLU), Longformer, Nyströmformer, Reformer-LSH) on a DNA or protein corpus.

    Multi-GPU: torchrun --nproc_per_node N --no-python seqformer pretrain ... (see docs/training.md).
    """
    from seqformer.tasks.pretraining import pretrain as run_pretraining
    from seqformer.tasks.pretraining import run_config
    from seqformer.training.config import flag_overrides

    flags = {
        "data": {"fasta": [str(path) for path in fasta] if fasta else None, "alphabet": alphabet,
                 "kmer": kmer, "max_length": max_length, "concat": True if concat else None},
        "model": {"arch": arch},
        "train": {"max_steps": max_steps, "batch_size": batch_size, "seed": seed, "device": device},
    }
    merged = run_config(out, config_file=config, overrides=flag_overrides(flags), resume=resume)
    result = run_pretraining(merged, out, resume=resume, quiet=quiet)
    if result.model_dir is not None:
        scores = "  ".join(f"{key} {value:.4f}" for key, value in result.validation.items())
        typer.echo(f"step {result.last_step}: loss {result.loss:.4f}  {scores}  "
                   f"{result.tokens_per_s:,.0f} tok/s  model: {result.model_dir}")
