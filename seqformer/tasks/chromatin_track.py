"""Fine-tuning a chromatin *track* model: per-base peak targets over a chromatin data folder's sequence
(``finetune chromatin-track``).

Axes: B pieces, L tokens, T targets, k bases per token.

A chromatin data folder (``seqformer data chromatin``) records its sequence source, one peak file per
target, the contigs held out and the split ranges; the window files are not used for training.
Its sequence is cut into pieces of at most ``tile`` bases (:mod:`seqformer.data.peak_track`: pre-cut
records merged where they overlap, cut at the split ranges' edges), each a tile the model reads in one
pass. Base i's target t is 1 inside a merged peak of file t; a token's target is the max over its
bases; the loss is the per-token BCE over body tokens with each target's positives weighted by
``n_negative / n_positive`` training tokens (``finetune.pos_weight``).

An epoch is every training piece once, each on a random strand (``finetune.rc_augment``: the
reverse complement with its targets reversed); validation reads every validation piece on the
forward strand and the epoch with the best per-token validation AUPRC, averaged over the targets,
is kept. The batches, loss, loop task and model are those of the promoter track models
(:mod:`seqformer.tasks.track`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from seqformer.data.peak_track import PieceSampler, peak_track_inputs, read_peak_track_data, token_positive_weights
from seqformer.data.windows import WindowData
from seqformer.errors import InputError
from seqformer.tasks.classification import FinetuneResult, start_run, train_and_save
from seqformer.tasks.track import TileTask, build_track_model
from seqformer.training.config import FinetuneConfig, load_run_config
from seqformer.training.progress import log_line

TASK = "chromatin-track"
#: fine-tuning defaults of a chromatin track model, over FinetuneConfig's (the recipe of docs/benchmarks.md).
PRESETS: dict[str, dict[str, Any]] = {
    "model": {"arch": "dense", "hidden_size": 128, "num_layers": 2, "num_heads": 4, "dropout": 0.1},
    "optim": {"lr": 1e-3},
    "train": {"batch_size": 8},
    "finetune": {"kmer": 4, "kmer_stride": 4, "epochs": 4, "tile": 4096, "context": 0, "smooth": 0,
                 "pos_weight": True},
}


def chromatin_track_config(config_file: str | Path | None = None,
                           overrides: dict[str, dict[str, Any]] | None = None) -> FinetuneConfig:
    """FinetuneConfig: defaults < :data:`PRESETS` < ``config_file`` < ``overrides`` (the given flags)."""
    return load_run_config(config_file, overrides, base=PRESETS, config_cls=FinetuneConfig)


def finetune_chromatin_track(data: WindowData | str | Path, out: str | Path, config: FinetuneConfig | None = None, *,
                             init: str | Path | None = None, quiet: bool = False) -> FinetuneResult:
    """Train a chromatin track model on a chromatin data folder; write the best epoch's model to ``out``.

    ``out`` gets config.json, model.safetensors, tokenizer.json, metrics.csv, finetune.yaml and finetune.json.
    """
    config = config or chromatin_track_config()
    out, data = start_run(out, config, data)
    peak_track_inputs(data, TASK)  # the kind of folder and its files, before anything is built
    head = config.finetune
    model = build_track_model(config, init, labels=data.targets, max_length=0)
    k = model.config.k
    if head.tile % k:
        raise InputError(f"finetune.tile ({head.tile}) must be a multiple of the model's k-mer length {k}")
    log_line("reading the data folder's sequence and peaks")
    track = read_peak_track_data(data, head.tile, k, TASK)
    for split in ("train", "val"):
        if not track.pieces[split]:
            raise InputError(f"the {split} split holds no sequence of an assayed contig", path=data.path)
        positive = track.positive_bases(split)
        missing = [name for name in data.targets if positive[name] == 0]
        if missing:
            raise InputError(f"the {split} split has no base in a peak of target {missing[0]!r}", path=data.path)
    batch = config.train.batch_size
    sampler = PieceSampler(track, track.pieces["train"], batch, seed=config.train.seed, rc_augment=head.rc_augment)
    val = [(p.seq, track.targets_of(p).astype(np.uint8)) for p in sorted(track.pieces["val"], key=len)]
    weights = token_positive_weights(track, track.pieces["train"], k) if head.pos_weight else None
    task = TileTask(sampler, val, model.tokenizer, batch_size=batch, tiles_per_epoch=sampler.tiles_per_epoch,
                    pos_weight=weights)
    steps = config.train.max_steps or head.epochs * task.steps_per_epoch

    def finish(model_dir: Path) -> dict[str, Any]:
        return {"data": str(data.path.resolve()), "task": TASK,
                "init": None if init is None else str(Path(init).resolve()),
                "pieces": track.counts,
                "pos_weight": None if weights is None else dict(zip(data.targets, weights.tolist()))}

    best_step, history = train_and_save(model, task, config, out, steps=steps, metric="val_auprc", quiet=quiet,
                                        finish=finish)
    return FinetuneResult(out, best_step, math.ceil(best_step / task.steps_per_epoch), history[best_step], steps)
