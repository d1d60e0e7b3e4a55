"""Fine-tuning a :class:`SequenceClassifier` on a labelled-window data folder (any number of targets).

Axes: B batch, L tokens, N windows, T targets.

Every window task (promoters, chromatin profiles, TF binding) trains and is scored here; the task
modules add their defaults and reports. A data folder (:mod:`seqformer.data.windows`) gives the
windows' bases and 0/1 targets per split.

- :func:`finetune_classifier` trains a :class:`~seqformer.training.config.FinetuneConfig` run with
  the classifier's own loss (:meth:`SequenceClassifier.loss`: binary cross-entropy per target)
  through the engine's loop (:func:`seqformer.training.loop.train`: AdamW, warm-up + cosine,
  clipping, metrics), optionally with per-target positive weights ``n_negative / n_positive`` of
  the train split; one validation per epoch (probabilities from
  :func:`~seqformer.predict.scorer.predict_probs`, mean AUROC from
  :func:`~seqformer.evaluation.windows.mean_auroc`), keeping the epoch with the best mean
  validation AUROC over targets. Training windows are read on a random strand
  (reverse-complement augmentation). Single process only.
- A **promoter** model (a data folder of the ``promoter`` task) is then calibrated by default
  (:mod:`seqformer.tasks.calibration`): its validation range(s) are scanned and the threshold meeting
  ``finetune.false_calls_per_100kb`` is saved as ``calibration.json`` in the model folder.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqformer.data.loader import derived_seed
from seqformer.data.windows import (
    LabelledWindows,
    WindowData,
    check_both_classes,
    load_window_splits,
    read_window_data,
)
from seqformer.device import resolve_device
from seqformer.errors import InputError
from seqformer.evaluation.windows import mean_auroc
from seqformer.io import reverse_complement
from seqformer.io.atomic import atomic_open, temp_dir_beside
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.models.config import EncoderConfig
from seqformer.models.loader import load_model
from seqformer.predict.scorer import predict_probs
from seqformer.tasks.calibration import Calibration, calibrate_on, calibration_inputs, write_calibration
from seqformer.tokenizers import KmerTokenizer
from seqformer.training.config import FinetuneConfig, write_run_config
from seqformer.training.loop import train
from seqformer.training.metrics import read_metrics
from seqformer.training.progress import log_line

TRAIN_STREAM, FLIP_STREAM = 11, 12  # last part of the seeds: epoch order, strand flips
FINETUNE_RECORD = "finetune.json"  # what the run did: data, init, steps, best epoch, validation, config
FINETUNE_CONFIG = "finetune.yaml"  # the merged run config (--config reads it back)
METRICS_FILE = "metrics.csv"


@dataclass
class FinetuneResult:
    """What :func:`finetune_classifier` returns."""

    model_dir: Path  # the saved classifier folder
    best_step: int  # the step (end of an epoch) whose weights were kept
    best_epoch: int  # 1-based epoch of best_step
    validation: dict[str, float]  # validation metrics of that epoch
    steps: int  # optimizer steps run
    calibration: Calibration | None = None  # a promoter model's calibrated threshold (None: not calibrated)


# --- batches and prediction ------------------------------------------------------------------
@dataclass
class LabelledBatch:
    """Token ids, mask and 0/1 targets of a batch of windows."""

    input_ids: torch.Tensor  # (B, L) int64
    attention_mask: torch.Tensor  # (B, L) bool
    labels: torch.Tensor  # (B, T) float 0/1

    @property
    def num_tokens(self) -> int:
        """Real (not padding) tokens."""
        return int(self.attention_mask.sum())

    def to(self, device, non_blocking: bool = False) -> LabelledBatch:
        """The same batch on ``device``."""
        return LabelledBatch(*(t.to(device, non_blocking=non_blocking)
                               for t in (self.input_ids, self.attention_mask, self.labels)))


def encode(tokenizer, seqs: Sequence[str], labels: np.ndarray) -> LabelledBatch:
    """Tokenise a batch of windows with their (B, T) targets."""
    encoded = tokenizer.batch_encode(list(seqs))
    targets = torch.as_tensor(np.asarray(labels), dtype=torch.float32).reshape(len(seqs), -1)
    return LabelledBatch(encoded.input_ids, encoded.attention_mask, targets)


# --- training --------------------------------------------------------------------------------
class ClassifierLoss(nn.Module):
    """Wraps a classifier: forward(batch) is its own loss, positives weighted (what the loop sees)."""

    def __init__(self, model: SequenceClassifier, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("pos_weight", pos_weight, persistent=False)

    def forward(self, batch: LabelledBatch) -> torch.Tensor:
        logits = self.model(batch.input_ids, batch.attention_mask).logits  # (B, T)
        return self.model.loss(logits, batch.labels, pos_weight=self.pos_weight)


def positive_weights(labels: np.ndarray) -> np.ndarray:
    """(T,) n_negative / n_positive of each target (1 where a target has no positive)."""
    positives = labels.sum(axis=0).astype(np.float64)
    return np.where(positives > 0, (len(labels) - positives) / np.maximum(positives, 1), 1.0)


class WindowTask:
    """Shuffled epochs of training windows (random strand), validation AUROC: a loop ``Task``."""

    def __init__(self, train: LabelledWindows, val: LabelledWindows, tokenizer, *, batch_size: int,
                 seed: int = 0, rc_augment: bool = True, pos_weight: np.ndarray | None = None) -> None:
        self.train, self.val, self.tokenizer = train, val, tokenizer
        self.batch_size, self.seed, self.rc_augment = batch_size, seed, rc_augment
        self.pos_weight = pos_weight
        self.steps_per_epoch = math.ceil(len(train) / batch_size)
        self.last: dict[str, float] = {}  # the metrics of the latest validation
        self._probs = np.empty((0, train.labels.shape[1]))

    def train_batch(self, index: int, rank: int, world_size: int) -> LabelledBatch:
        """Batch ``index``: epoch ``index // steps_per_epoch``'s shuffled order, a random strand per window."""
        epoch, j = divmod(index, self.steps_per_epoch)
        order = np.random.default_rng(derived_seed(self.seed, epoch, TRAIN_STREAM)).permutation(len(self.train))
        picked = order[j * self.batch_size:(j + 1) * self.batch_size]
        seqs = [self.train.seqs[i] for i in picked]
        if self.rc_augment:
            flips = np.random.default_rng(derived_seed(self.seed, index, rank, FLIP_STREAM)).random(len(seqs)) < 0.5
            seqs = [reverse_complement(s) if flip else s for s, flip in zip(seqs, flips)]
        return encode(self.tokenizer, seqs, self.train.labels[picked])

    def loss_module(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped so that forward(batch) returns the (weighted) BCE loss."""
        weight = None if self.pos_weight is None else torch.as_tensor(self.pos_weight, dtype=torch.float32)
        return ClassifierLoss(model, weight)

    def validation_sums(self, model: nn.Module, rank: int, world_size: int,
                        device: torch.device) -> dict[str, float]:
        """Unweighted BCE sum and count over the validation windows; keeps the probabilities for the AUROC."""
        if world_size != 1:
            raise InputError("classifier fine-tuning runs in one process (validation AUROC is not additive)")
        probs = predict_probs(model.to(device).eval(), self.val.seqs, batch_size=max(self.batch_size, 64),
                              device=device)
        self._probs = probs
        y = self.val.labels
        p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
        return {"loss_sum": float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1).sum()),
                "count": float(len(y)), "correct": float(((probs >= 0.5) == (y == 1)).mean(axis=1).sum())}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """val_loss, val_accuracy (mean over targets), val_auroc and val_auprc (means over targets)."""
        n = max(sums["count"], 1)
        auroc, auprc = mean_auroc(self.val.labels, self._probs)
        self.last = {"val_loss": sums["loss_sum"] / n, "val_accuracy": sums["correct"] / n,
                     "val_auroc": auroc, "val_auprc": auprc}
        return dict(self.last)


def build_classifier(config: FinetuneConfig, targets: Sequence[str], window: int,
                     init: str | Path | None = None) -> SequenceClassifier:
    """A fresh classifier of ``config``'s shape, or one whose encoder comes from ``init`` (a model folder)."""
    torch.manual_seed(config.train.seed)
    head = config.finetune
    if init is not None:
        model = SequenceClassifier.from_encoder(load_model(init), tuple(targets), window, pooling=head.pooling,
                                                head_dropout=head.head_dropout)
        needed, limit = model.tokenizer.num_tokens(window), model.config.encoder.max_length
        if needed > limit:
            raise InputError(f"the pretrained encoder takes at most {limit} tokens, but a {window}-base window is "
                             f"{needed} tokens; pretrain with --max-length {needed} or more", path=init)
        return model
    shape = config.model
    try:
        tokenizer = KmerTokenizer(head.kmer, head.kmer_stride)
        encoder = EncoderConfig.for_tokenizer(
            tokenizer, hidden_size=shape.hidden_size, num_layers=shape.num_layers, num_heads=shape.num_heads,
            ffn_size=shape.mlp_size, dropout=shape.dropout, attention=shape.arch,
            attention_options=dict(shape.attention_options), reversible=shape.reversible,
            ffn_chunk_size=shape.ffn_chunk_size, max_length=max(tokenizer.num_tokens(window), 16),
            seed=config.train.seed)
        classifier = ClassifierConfig(encoder, tuple(targets), window=window, pooling=head.pooling,
                                      head_dropout=head.head_dropout)
    except ValueError as err:
        raise InputError(f"model: {err}") from None
    return SequenceClassifier(classifier, tokenizer=tokenizer)


def finetune_classifier(data: WindowData | str | Path, out: str | Path,
                        config: FinetuneConfig = FinetuneConfig(), *, init: str | Path | None = None,
                        quiet: bool = False, calibrate: bool = True) -> FinetuneResult:
    """Fine-tune a classifier on a data folder; write the best epoch's model folder to ``out``.

    ``out`` gets config.json, model.safetensors, tokenizer.json, metrics.csv (the engine's columns
    per step, plus val_auroc, val_auprc and epoch on validation steps), finetune.yaml (the merged
    run config) and finetune.json (what the run did: data, init, steps, best epoch, validation).
    A promoter model also gets calibration.json unless ``calibrate`` is False (the data folder's
    genome, TSS BED and validation ranges are checked before training starts).
    """
    out, data = start_run(out, config, data)
    splits = load_window_splits(data, ("train", "val"))
    for name in ("train", "val"):
        check_both_classes(splits[name], name, data.targets, data.path)
    calibrating = None
    if calibrate and data.meta.get("task") == "promoter" and "promoter" in data.targets:
        calibrating = calibration_inputs(data.meta, data.path)
    model = build_classifier(config, data.targets, data.window, init)
    head = config.finetune
    weights = positive_weights(splits["train"].labels) if head.pos_weight else None
    task = WindowTask(splits["train"], splits["val"], model.tokenizer, batch_size=config.train.batch_size,
                      seed=config.train.seed, rc_augment=head.rc_augment, pos_weight=weights)
    steps = config.train.max_steps or head.epochs * task.steps_per_epoch
    calibration: list[Calibration | None] = [None]

    def finish(model_dir: Path) -> dict[str, Any]:
        if calibrating is not None:
            log_line(f"calibrating on {', '.join(calibrating.regions)} "  # a log line in --quiet runs too
                     f"({head.false_calls_per_100kb:g} false calls per 100 kb): a scan of both strands")
            calibration[0] = calibrate_on(model.to(resolve_device(config.train.device)), calibrating,
                                          target=head.false_calls_per_100kb,
                                          batch_size=max(config.train.batch_size, 64))
            model.to("cpu")
            write_calibration(calibration[0], model_dir)
        return {"data": str(data.path.resolve()), "task": data.meta.get("task"),
                "init": None if init is None else str(Path(init).resolve()),
                "pos_weight": None if weights is None else dict(zip(data.targets, weights.tolist())),
                "calibration": None if calibration[0] is None else calibration[0].summary()}

    best_step, history = train_and_save(model, task, config, out, steps=steps, metric="val_auroc", quiet=quiet,
                                        finish=finish)
    return FinetuneResult(out, best_step, math.ceil(best_step / task.steps_per_epoch), history[best_step], steps,
                          calibration[0])


def start_run(out: str | Path, config: FinetuneConfig, data: WindowData | str | Path) -> tuple[Path, WindowData]:
    """Checks before a fine-tuning run: ``out`` new or empty, the device available; the data folder read."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("already exists and is not empty; choose a new --out", path=out)
    resolve_device(config.train.device)
    return out, data if isinstance(data, WindowData) else read_window_data(data)


def train_and_save(model: nn.Module, task, config: FinetuneConfig, out: Path, *, steps: int, metric: str,
                   quiet: bool, finish: Callable[[Path], dict[str, Any]]
                   ) -> tuple[int, dict[int, dict[str, float]]]:
    """Train ``model`` on a fine-tuning ``task`` for ``steps`` steps, validating once per epoch, and write the
    epoch with the best validation ``metric`` as the model folder ``out``; returns (best step, history).

    The folder gets the model, metrics.csv, finetune.yaml, whatever ``finish(folder)`` writes
    (e.g. calibration.json) and finetune.json: the dict ``finish`` returns plus the config, steps, steps per
    epoch, model config, the engine's optim and train sections, the best step, epoch and its validation. Everything is written beside ``out`` first and moved into place at the end.
    """
    head = config.finetune
    every = min(task.steps_per_epoch, steps)
    try:  # the engine's view: steps, validation and checkpoints once per epoch
        run = dataclasses.replace(
            config, optim=dataclasses.replace(config.optim, warmup_steps=int(head.warmup_fraction * steps)),
            train=dataclasses.replace(config.train, max_steps=steps, eval_every=every, checkpoint_every=every,
                                      keep_checkpoints=1, log_every=max(every // 4, 1), num_workers=0))
    except ValueError as err:
        raise InputError(str(err)) from None

    history: dict[int, dict[str, float]] = {}
    best: dict[str, Any] = {"score": -math.inf, "step": 0, "state": None}

    def keep_best(step: int, _path: Path) -> None:
        history[step] = dict(task.last)
        score = task.last.get(metric, float("nan"))
        if best["state"] is None or (math.isfinite(score) and score > best["score"]):
            best.update(score=score, step=step,
                        state={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out)
    try:
        train(model, task, run, tmp / "run", quiet=quiet, on_checkpoint=keep_best)
        model.to("cpu").load_state_dict(best["state"])
        model.save_pretrained(tmp / "model")
        _write_metrics(read_metrics(tmp / "run" / METRICS_FILE), history, task.steps_per_epoch,
                       tmp / "model" / METRICS_FILE)
        write_run_config(config, tmp / "model" / FINETUNE_CONFIG)
        summary = {**finish(tmp / "model"), "config": config.to_dict(), "steps": steps,
                   "steps_per_epoch": task.steps_per_epoch, "model": model.config.to_dict(),
                   "engine": {"optim": asdict(run.optim), "train": asdict(run.train)}}
        summary.update(best_step=best["step"], best_epoch=math.ceil(best["step"] / task.steps_per_epoch),
                       validation=history[best["step"]])
        with atomic_open(tmp / "model" / FINETUNE_RECORD, "w") as handle:
            json.dump(summary, handle, indent=2, default=str)
            handle.write("\n")
        if out.exists():
            out.rmdir()  # empty, checked by the caller
        os.replace(tmp / "model", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return best["step"], history


def _write_metrics(rows: list[dict[str, Any]], history: dict[int, dict[str, float]], steps_per_epoch: int,
                   path: Path) -> None:
    """The engine's per-step rows with val_auroc, val_auprc and epoch added on validation steps."""
    import csv

    extra = ("val_auroc", "val_auprc", "epoch")
    columns = [c for c in rows[0] if c not in extra] + list(extra) if rows else list(extra)
    with atomic_open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            step = int(row["step"])
            row = {**row, **{k: history[step].get(k) for k in extra[:2]}} if step in history else dict(row)
            row["step"], row["epoch"] = step, math.ceil(step / steps_per_epoch)
            if row.get("tokens") is not None:
                row["tokens"] = int(row["tokens"])
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
