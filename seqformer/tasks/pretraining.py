"""Masked-LM pretraining of a run folder: config → tokenizer → corpus → model → task → :func:`train`.

The run folder ``RUN_DIR`` holds:

    config.yaml        the merged config (defaults < --config file < command-line flags)
    model/             config.json, model.safetensors, tokenizer.json (written at the end)
    checkpoints/       step-NNNNNNNN.pt, the newest ``train.keep_checkpoints`` of them
    metrics.csv        one row per step (see seqformer.training.metrics)
    tensorboard/       TensorBoard event files (tensorboardX)

A new run refuses a folder that already holds one; ``resume`` continues it from its newest
checkpoint with its own ``config.yaml``, and refuses changes to the data, masking or model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch

from seqformer.data.corpus import build_tokenizer, open_corpus
from seqformer.device import resolve_device
from seqformer.errors import InputError
from seqformer.models.config import EncoderConfig
from seqformer.models.mlm import MaskedLM, MaskedLMConfig
from seqformer.tasks.mlm import MaskedLMTask
from seqformer.training.checkpoint import CHECKPOINT_DIR, latest_checkpoint, verify_checkpoint
from seqformer.training.config import (
    FIXED_ON_RESUME,
    RunConfig,
    changed_keys,
    load_run_config,
    merge,
    read_yaml,
    write_run_config,
)
from seqformer.training.distributed import process_device, shutdown
from seqformer.training.flops import train_flops_per_token
from seqformer.training.loop import TrainResult, train
from seqformer.training.progress import log_line

CONFIG_FILE = "config.yaml"


def run_config(run_dir: str | Path, *, config_file: str | Path | None = None,
               overrides: dict[str, Any] | None = None, resume: bool = False) -> RunConfig:
    """The run's config: defaults (or the saved one when resuming) < ``config_file`` < ``overrides``.

    Corpus paths are made absolute (relative ones are taken from the working directory), so
    ``config.yaml`` still finds them when the run is resumed from elsewhere.
    """
    run_dir = Path(run_dir)
    saved = run_dir / CONFIG_FILE
    before = None
    if resume:
        verify_checkpoint(latest_checkpoint(run_dir))  # InputError: nothing to resume, or a truncated file
        if not saved.is_file():
            raise InputError(f"--resume: the run folder has checkpoints but no {CONFIG_FILE}", path=run_dir)
        before = RunConfig.from_dict(read_yaml(saved), source=saved)
    elif int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 may have written config.yaml already
        if saved.exists() or (run_dir / CHECKPOINT_DIR).exists():
            raise InputError("already holds a run; pass --resume to continue it, or choose a new --out",
                             path=run_dir)
    config = load_run_config(config_file, overrides, base=None if before is None else before.to_dict())
    absolute = [str(Path(path).expanduser().resolve()) for path in config.data.fasta]
    config = RunConfig.from_dict(merge(config.to_dict(), {"data": {"fasta": absolute}}), source=config_file)
    fixed = [] if before is None else [key for key in changed_keys(before, config)
                                       if key.startswith(FIXED_ON_RESUME)]
    if fixed:
        raise InputError(f"--resume cannot change {', '.join(fixed)} (the run was started with other values); "
                         "start a new run in another folder instead", path=saved)
    return config


def build_model(config: RunConfig, tokenizer) -> MaskedLM:
    """The masked LM of ``config.model``, initialised from ``config.train.seed``."""
    options = config.model
    try:
        encoder = EncoderConfig.for_tokenizer(
            tokenizer, hidden_size=options.hidden_size, num_layers=options.num_layers,
            num_heads=options.num_heads, ffn_size=options.mlp_size, dropout=options.dropout,
            attention=options.arch, attention_options=dict(options.attention_options),
            reversible=options.reversible, ffn_chunk_size=options.ffn_chunk_size,
            max_length=config.data.max_length, seed=config.train.seed)
    except ValueError as err:
        raise InputError(f"model: {err}") from None
    torch.manual_seed(config.train.seed)
    return MaskedLM(MaskedLMConfig(encoder, tie_word_embeddings=options.tie_word_embeddings), tokenizer=tokenizer)


def pretrain(config: RunConfig, run_dir: str | Path, *, resume: bool = False, quiet: bool = False,
             on_checkpoint: Callable[[int, Path], None] | None = None) -> TrainResult:
    """Pretrain a masked LM as ``config`` says, into ``run_dir`` (see the module docstring)."""
    run_dir = Path(run_dir)
    resolve_device(config.train.device)  # a missing GPU fails before the corpus is read
    tokenizer = build_tokenizer(config.data)
    model = build_model(config, tokenizer)  # a bad model section fails before the corpus is read
    corpus = open_corpus(config.data, tokenizer, seed=config.train.seed)
    task = MaskedLMTask(corpus, tokenizer, max_length=config.data.max_length,
                        batch_size=config.train.batch_size, masking=config.masking, seed=config.train.seed)
    _, info = process_device(config.train.device)
    if info.is_main:
        write_run_config(config, run_dir / CONFIG_FILE)
        sizes = ", ".join(f"{key.replace('_', ' ')} {value:,}" for key, value in corpus.describe().items())
        log_line(f"corpus: {sizes}")
    flops = train_flops_per_token(model.config.encoder, config.data.max_length, config.masking.mask_prob)
    try:
        return train(model, task, config, run_dir, resume=resume, flops_per_token=flops, quiet=quiet,
                     on_checkpoint=on_checkpoint)
    finally:
        shutdown(info)
