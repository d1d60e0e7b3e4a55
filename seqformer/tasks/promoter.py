"""Promoter prediction: fine-tuning a :class:`SequenceClassifier` on a promoter data folder, and evaluation.

Axes: B batch, L tokens, N windows.

A data folder (``seqformer data promoters``, :mod:`data_prep.promoters`) lists windows and the
genome they come from; sequences are read from the genome (on their strand) when a run starts.

- :func:`finetune_promoter` trains with binary cross-entropy through the engine's loop
  (:func:`seqformer.training.loop.train`: AdamW, warm-up + cosine, clipping, metrics), one
  validation per epoch, and keeps the epoch with the best validation AUROC. Training windows are
  read on a random strand (reverse-complement augmentation). Single process only.
- :func:`evaluate_promoter` scores the test split with the model and with a k-mer-spectrum
  logistic regression trained on the train split (:mod:`seqformer.baselines`): AUROC, AUPRC,
  and F1 / MCC at probability 0.5; :func:`plot_roc` and :func:`plot_pr` draw the curves.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqformer.data.loader import derived_seed
from seqformer.errors import InputError
from seqformer.io import Genome, reverse_complement
from seqformer.io.atomic import atomic_open, temp_dir_beside
from seqformer.models.classifier import ClassifierConfig, SequenceClassifier
from seqformer.models.config import EncoderConfig
from seqformer.tokenizers import KmerTokenizer

LABELS = ("promoter",)
TRAIN_STREAM, FLIP_STREAM = 11, 12  # last part of the seeds: epoch order, strand flips
FINETUNE_CONFIG = "finetune.json"
METRICS_FILE = "metrics.csv"


# --- data -----------------------------------------------------------------------------------
@dataclass
class Windows:
    """The sequences (each on its window's strand) and 0/1 labels of one split."""

    seqs: list[str]
    labels: np.ndarray  # (N,) int64


def load_splits(data_dir: str | Path, splits: Sequence[str]) -> tuple[dict[str, Windows], dict[str, Any]]:
    """The windows of ``splits`` read from the data folder's genome, and its dataset.json."""
    from data_prep.promoters import read_windows

    table, meta = read_windows(data_dir)
    out = {}
    with Genome(meta["genome"]) as genome:
        for split in splits:
            rows = table[table["split"] == split]
            seqs = [genome.fetch(c, int(s), int(e), d) for c, s, e, d in
                    zip(rows["chrom"], rows["start"], rows["end"], rows["strand"])]
            out[split] = Windows(seqs, rows["label"].to_numpy(np.int64))
    return out, meta


@dataclass
class LabelledBatch:
    """Token ids, mask and 0/1 labels of a batch of windows."""

    input_ids: torch.Tensor  # (B, L) int64
    attention_mask: torch.Tensor  # (B, L) bool
    labels: torch.Tensor  # (B,) float 0/1

    @property
    def num_tokens(self) -> int:
        """Real (not padding) tokens."""
        return int(self.attention_mask.sum())

    def to(self, device, non_blocking: bool = False) -> LabelledBatch:
        """The same batch on ``device``."""
        return LabelledBatch(*(t.to(device, non_blocking=non_blocking)
                               for t in (self.input_ids, self.attention_mask, self.labels)))


def encode(tokenizer, seqs: Sequence[str], labels: Sequence[int] | np.ndarray) -> LabelledBatch:
    """Tokenise a batch of windows."""
    encoded = tokenizer.batch_encode(list(seqs))
    return LabelledBatch(encoded.input_ids, encoded.attention_mask, torch.as_tensor(np.asarray(labels), dtype=torch.float32))


@torch.no_grad()
def predict_windows(model: SequenceClassifier, seqs: Sequence[str], *, batch_size: int = 64,
                    device: torch.device | str = "cpu") -> np.ndarray:
    """(N,) promoter probability of each window."""
    model.to(device).eval()
    out = []
    for i in range(0, len(seqs), batch_size):
        encoded = model.tokenizer.batch_encode(list(seqs[i:i + batch_size])).to(device)
        logits = model(encoded.input_ids, encoded.attention_mask).logits  # (B, 1)
        out.append(model.predict_proba(logits)[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.empty(0)


# --- training -------------------------------------------------------------------------------
class ClassifierLoss(nn.Module):
    """Wraps a classifier: forward(batch) is the loss (what the loop, and DDP, see)."""

    def __init__(self, model: SequenceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: LabelledBatch) -> torch.Tensor:
        return self.model(batch.input_ids, batch.attention_mask, labels=batch.labels).loss


class PromoterTask:
    """Shuffled epochs of training windows (random strand), validation AUROC: a loop ``Task``."""

    def __init__(self, train: Windows, val: Windows, tokenizer, *, batch_size: int, seed: int = 0,
                 rc_augment: bool = True) -> None:
        self.train, self.val, self.tokenizer = train, val, tokenizer
        self.batch_size, self.seed, self.rc_augment = batch_size, seed, rc_augment
        self.steps_per_epoch = math.ceil(len(train.seqs) / batch_size)
        self.last: dict[str, float] = {}  # the metrics of the latest validation

    def train_batch(self, index: int, rank: int, world_size: int) -> LabelledBatch:
        """Batch ``index``: epoch ``index // steps_per_epoch``'s shuffled order, a random strand per window."""
        epoch, j = divmod(index, self.steps_per_epoch)
        order = np.random.default_rng(derived_seed(self.seed, epoch, TRAIN_STREAM)).permutation(len(self.train.seqs))
        picked = order[j * self.batch_size:(j + 1) * self.batch_size]
        seqs = [self.train.seqs[i] for i in picked]
        if self.rc_augment:
            flips = np.random.default_rng(derived_seed(self.seed, index, rank, FLIP_STREAM)).random(len(seqs)) < 0.5
            seqs = [reverse_complement(s) if flip else s for s, flip in zip(seqs, flips)]
        return encode(self.tokenizer, seqs, self.train.labels[picked])

    def loss_module(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped so that forward(batch) returns the BCE loss."""
        return ClassifierLoss(model)

    def validation_sums(self, model: nn.Module, rank: int, world_size: int,
                        device: torch.device) -> dict[str, float]:
        """BCE sum and count over the validation windows; keeps the probabilities for the AUROC."""
        if world_size != 1:
            raise InputError("promoter fine-tuning runs in one process (validation AUROC is not additive)")
        probs = predict_windows(model, self.val.seqs, batch_size=max(self.batch_size, 64), device=device)
        self._probs = probs
        y = self.val.labels
        p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
        return {"loss_sum": float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum()), "count": float(len(y)),
                "correct": float(((probs >= 0.5) == (y == 1)).sum())}

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """val_loss, val_accuracy, val_auroc and val_auprc."""
        from sklearn.metrics import average_precision_score, roc_auc_score

        y, n = self.val.labels, max(sums["count"], 1)
        both = len(set(y.tolist())) == 2
        self.last = {"val_loss": sums["loss_sum"] / n, "val_accuracy": sums["correct"] / n,
                     "val_auroc": float(roc_auc_score(y, self._probs)) if both else float("nan"),
                     "val_auprc": float(average_precision_score(y, self._probs)) if both else float("nan")}
        return dict(self.last)


@dataclass(frozen=True)
class FinetuneOptions:
    """A promoter fine-tuning run: model shape (ignored with ``init``), schedule and device."""

    arch: str = "dense"  # attention kind: dense, bigbird, performer-softmax or performer-relu
    kmer: int = 6  # k of the overlapping k-mer tokens
    hidden_size: int = 128  # D: encoder width
    num_layers: int = 2  # encoder blocks
    num_heads: int = 4  # attention heads
    ffn_size: int | None = None  # MLP width; None = 4 * hidden_size
    dropout: float = 0.1  # encoder dropout while training
    head_dropout: float = 0.1  # dropout on the pooled representation
    pooling: str = "mean"  # "mean" over real tokens or "cls"
    epochs: int = 10  # epochs over the train split (unless max_steps)
    max_steps: int | None = None  # optimizer steps; overrides epochs
    batch_size: int = 32  # windows per step
    lr: float = 3e-4  # peak AdamW learning rate
    warmup_fraction: float = 0.1  # share of the steps spent warming up
    weight_decay: float = 0.01  # AdamW decay of matrices
    device: str = "auto"  # auto, cpu or cuda
    seed: int = 0  # initialisation, epoch order and strand flips
    rc_augment: bool = True  # read each training window on a random strand
    threads: int | None = None  # torch CPU threads; None = torch's default


@dataclass
class FinetuneResult:
    """What :func:`finetune_promoter` returns."""

    model_dir: Path  # the saved classifier folder
    best_step: int  # the step (end of an epoch) whose weights were kept
    best_epoch: int  # 1-based epoch of best_step
    validation: dict[str, float]  # validation metrics of that epoch
    steps: int  # optimizer steps run


def build_classifier(options: FinetuneOptions, window: int, init: str | Path | None = None) -> SequenceClassifier:
    """A fresh classifier of ``options``' shape, or one whose encoder comes from ``init`` (a model folder)."""
    torch.manual_seed(options.seed)
    if init is not None:
        return SequenceClassifier.from_encoder(init, LABELS, window, pooling=options.pooling,
                                               head_dropout=options.head_dropout)
    tokenizer = KmerTokenizer(options.kmer, 1)
    try:
        encoder = EncoderConfig.for_tokenizer(
            tokenizer, hidden_size=options.hidden_size, num_layers=options.num_layers,
            num_heads=options.num_heads, ffn_size=options.ffn_size or 4 * options.hidden_size,
            dropout=options.dropout, attention=options.arch, max_length=max(tokenizer.num_tokens(window), 16),
            seed=options.seed)
        config = ClassifierConfig(encoder, LABELS, window=window, pooling=options.pooling,
                                  head_dropout=options.head_dropout)
    except ValueError as err:
        raise InputError(f"model: {err}") from None
    return SequenceClassifier(config, tokenizer=tokenizer)


def finetune_promoter(data_dir: str | Path, out: str | Path, options: FinetuneOptions = FinetuneOptions(), *,
                      init: str | Path | None = None, quiet: bool = False) -> FinetuneResult:
    """Fine-tune a promoter classifier on a data folder; write the best epoch's model folder to ``out``.

    ``out`` gets config.json, model.safetensors, tokenizer.json, metrics.csv (the engine's columns
    per step, plus val_auroc, val_auprc and epoch on validation steps) and finetune.json (the options).
    """
    from seqformer.training.config import OptimConfig, RunConfig, TrainConfig
    from seqformer.training.distributed import resolve_device
    from seqformer.training.loop import train
    from seqformer.training.metrics import read_metrics

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("already exists and is not empty; choose a new --out", path=out)
    resolve_device(options.device)
    splits, meta = load_splits(data_dir, ("train", "val"))
    for name in ("train", "val"):
        if len(set(splits[name].labels.tolist())) < 2:
            raise InputError(f"the {name} split needs both promoter and background windows", path=data_dir)
    model = build_classifier(options, int(meta["window"]), init)
    task = PromoterTask(splits["train"], splits["val"], model.tokenizer, batch_size=options.batch_size,
                        seed=options.seed, rc_augment=options.rc_augment)
    steps = options.max_steps or options.epochs * task.steps_per_epoch
    every = min(task.steps_per_epoch, steps)
    try:
        config = RunConfig(
            optim=OptimConfig(lr=options.lr, weight_decay=options.weight_decay,
                              warmup_steps=int(options.warmup_fraction * steps)),
            train=TrainConfig(max_steps=steps, batch_size=options.batch_size, seed=options.seed,
                              device=options.device, eval_every=every, checkpoint_every=every,
                              keep_checkpoints=1, log_every=max(every // 4, 1), num_workers=0,
                              threads=options.threads))
    except ValueError as err:
        raise InputError(str(err)) from None

    history: dict[int, dict[str, float]] = {}
    best: dict[str, Any] = {"auroc": -math.inf, "step": 0, "state": None}

    def keep_best(step: int, _path: Path) -> None:
        history[step] = dict(task.last)
        auroc = task.last.get("val_auroc", float("nan"))
        if best["state"] is None or (math.isfinite(auroc) and auroc > best["auroc"]):
            best.update(auroc=auroc, step=step,
                        state={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(out)
    try:
        train(model, task, config, tmp / "run", quiet=quiet, on_checkpoint=keep_best)
        model.to("cpu").load_state_dict(best["state"])
        model.save_pretrained(tmp / "model")
        _write_metrics(read_metrics(tmp / "run" / METRICS_FILE), history, task.steps_per_epoch,
                       tmp / "model" / METRICS_FILE)
        best_epoch = math.ceil(best["step"] / task.steps_per_epoch)
        summary = {"data": str(Path(data_dir).resolve()), "init": None if init is None else str(Path(init).resolve()),
                   "options": asdict(options), "steps": steps, "steps_per_epoch": task.steps_per_epoch,
                   "best_step": best["step"], "best_epoch": best_epoch, "validation": history[best["step"]],
                   "model": model.config.to_dict(), "optim": asdict(config.optim), "train": asdict(config.train)}
        with atomic_open(tmp / "model" / FINETUNE_CONFIG, "w") as handle:
            json.dump(summary, handle, indent=2, default=str)
            handle.write("\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        os.replace(tmp / "model", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FinetuneResult(out, best["step"], best_epoch, history[best["step"]], steps)


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


# --- evaluation -----------------------------------------------------------------------------
METRIC_NAMES = ("auroc", "auprc", "f1", "mcc")
THRESHOLD = 0.5  # probability at which F1 and MCC call a window a promoter


@dataclass
class Curves:
    """ROC and precision-recall curves of one predictor."""

    fpr: np.ndarray  # false-positive rates (ROC x)
    tpr: np.ndarray  # true-positive rates (ROC y)
    recall: np.ndarray  # PR x
    precision: np.ndarray  # PR y


@dataclass
class PromoterEvaluation:
    """Test-split scores of the model and the k-mer baseline (metrics per predictor) and their curves."""

    metrics: dict[str, dict[str, float]]  # predictor -> auroc, auprc, f1, mcc
    curves: dict[str, Curves]  # predictor -> curves
    counts: dict[str, int]  # test windows: promoter, background
    baseline: dict[str, Any]  # what the baseline is (k, C, training windows)
    data: str  # the data folder
    model: str  # the model folder

    def to_dict(self) -> dict[str, Any]:
        """metrics.json: every field but the curves."""
        return {"data": self.data, "model": self.model, "split": "test", "threshold": THRESHOLD,
                "counts": self.counts, "metrics": self.metrics, "baseline": self.baseline}


def binary_metrics(labels: np.ndarray, probs: np.ndarray) -> tuple[dict[str, float], Curves]:
    """AUROC, AUPRC, F1 and MCC (at THRESHOLD) of probabilities against 0/1 labels, and the curves."""
    from sklearn.metrics import (
        average_precision_score,
        f1_score,
        matthews_corrcoef,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    called = (probs >= THRESHOLD).astype(int)
    metrics = {"auroc": float(roc_auc_score(labels, probs)), "auprc": float(average_precision_score(labels, probs)),
               "f1": float(f1_score(labels, called, zero_division=0)),
               "mcc": float(matthews_corrcoef(labels, called))}
    fpr, tpr, _ = roc_curve(labels, probs)
    precision, recall, _ = precision_recall_curve(labels, probs)
    return metrics, Curves(fpr, tpr, recall, precision)


def evaluate_promoter(data_dir: str | Path, model: SequenceClassifier, *, batch_size: int = 64,
                      device: torch.device | str = "cpu", baseline_k: int = 4,
                      model_name: str = "") -> PromoterEvaluation:
    """Score the test split of a data folder with ``model`` and a k-mer logistic regression fitted on its train split."""
    from seqformer.baselines import KmerLogisticRegression

    splits, _ = load_splits(data_dir, ("train", "test"))
    test, train_split = splits["test"], splits["train"]
    for name, windows in (("test", test), ("train", train_split)):
        if len(set(windows.labels.tolist())) < 2:
            raise InputError(f"the {name} split needs both promoter and background windows", path=data_dir)
    baseline = KmerLogisticRegression(k=baseline_k).fit(train_split.seqs, train_split.labels)
    scores = {"model": predict_windows(model, test.seqs, batch_size=batch_size, device=device),
              f"{baseline_k}-mer logistic regression": baseline.predict_proba(test.seqs)}
    metrics, curves = {}, {}
    for name, probs in scores.items():
        metrics[name], curves[name] = binary_metrics(test.labels, probs)
    counts = {"promoter": int(test.labels.sum()), "background": int((test.labels == 0).sum())}
    about = {"k": baseline_k, "C": baseline.C, "C_chosen_by": "5-fold cross-validated AUROC on the train split", "features": f"{4 ** baseline_k} {baseline_k}-mer frequencies, standardised",
             "train_windows": len(train_split.seqs)}
    return PromoterEvaluation(metrics, curves, counts, about, str(Path(data_dir).resolve()), model_name)


def plot_roc(curves: dict[str, Curves], metrics: dict[str, dict[str, float]] | None = None):
    """ROC curves of every predictor on one axes; returns the Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    for name, curve in curves.items():
        label = name if metrics is None else f"{name} (AUROC {metrics[name]['auroc']:.3f})"
        ax.plot(curve.fpr, curve.tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC, test split", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_pr(curves: dict[str, Curves], metrics: dict[str, dict[str, float]] | None = None):
    """Precision-recall curves of every predictor on one axes; returns the Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.add_subplot()
    for name, curve in curves.items():
        label = name if metrics is None else f"{name} (AUPRC {metrics[name]['auprc']:.3f})"
        ax.plot(curve.recall, curve.precision, label=label)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test split", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def write_evaluation(result: PromoterEvaluation, out: str | Path) -> list[Path]:
    """Write metrics.json, roc.png and pr.png into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "metrics.json", out / "roc.png", out / "pr.png"]
    with atomic_open(paths[0], "w") as handle:
        json.dump(result.to_dict(), handle, indent=2)
        handle.write("\n")
    for path, plot in zip(paths[1:], (plot_roc, plot_pr)):
        with atomic_open(path, "wb") as handle:
            plot(result.curves, result.metrics).savefig(handle, format="png", dpi=120)
    return paths
