"""The training loop: a function over (model, task, config, run folder); the model never trains itself.

A *task* (e.g. :class:`seqformer.tasks.mlm.MaskedLMTask`) makes the batches, the loss and the
validation sums (:class:`Task`); this module does the rest:

- device (CUDA when available), bf16 autocast on CUDA, TF32 matmuls, fused AdamW on CUDA,
  pinned host memory and batch-building worker processes;
- AdamW (no decay on biases, norms and embeddings), linear warm-up then cosine decay,
  gradient accumulation (DDP syncs on the last micro-batch only) and clipping;
- optionally (``optim.ema`` > 0) an exponential moving average of the weights
  (:mod:`~seqformer.training.ema`), which validation, the checkpoint callback and the saved model see;
- determinism: the model is initialised from ``train.seed`` and the random state is re-seeded
  from ``(seed, step, rank)`` before each step, so a step's dropout does not depend on history;
- checkpoints every ``checkpoint_every`` steps (see :mod:`~seqformer.training.checkpoint`),
  resumable exactly: the loss curve of a resumed run is that of an uninterrupted one;
- a non-finite loss or gradient norm stops the run (:class:`DivergedError`) before the update,
  naming the step and keeping the last good checkpoint;
- metrics per step (:mod:`~seqformer.training.metrics`): loss, lr, tokens/s and the MFU.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from seqformer.data.loader import derived_seed, step_loader
from seqformer.errors import InputError
from seqformer.training.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from seqformer.training.config import OptimConfig, RunSections
from seqformer.training.distributed import Distributed, all_reduce_sum, barrier, process_device
from seqformer.training.ema import WeightAverage
from seqformer.training.flops import peak_flops
from seqformer.training.metrics import MetricsLog, peak_memory_mb
from seqformer.training.progress import ProgressReport

MODEL_DIR = "model"
DROPOUT_STREAM = 0  # last part of the seed of a step's torch random state (dropout)


class DivergedError(InputError):
    """The loss (or gradient norm) stopped being finite; the run stopped before updating the weights."""


class Task(Protocol):
    """What the loop needs from a task; batches have ``.to(device)`` and ``.num_tokens``."""

    def train_batch(self, index: int, rank: int, world_size: int) -> Any:
        """Micro-batch number ``index`` of the run (a function of ``index`` and ``rank`` only)."""

    def loss_module(self, model: nn.Module) -> nn.Module:
        """A module around ``model`` whose forward maps a batch (on the device) to the scalar loss.

        The loop wraps it in DistributedDataParallel, so its forward is what DDP sees."""

    def validation_sums(self, model: nn.Module, rank: int, world_size: int,
                        device: torch.device) -> dict[str, float]:
        """Additive validation statistics of this rank's share (summed over ranks by the loop)."""

    def validation_metrics(self, sums: dict[str, float]) -> dict[str, float]:
        """Metrics (e.g. val_loss, val_accuracy) from the summed statistics."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    last_step: int  # steps completed
    loss: float  # training loss of the last step
    validation: dict[str, float]  # the last validation's metrics
    tokens_per_s: float  # real tokens per second over the steps this call ran, all processes
    model_dir: Path | None  # the saved model folder (None on ranks other than 0)


def lr_factor(step: int, optim: OptimConfig, max_steps: int) -> float:
    """Multiplier of the peak lr for the update made at 0-based ``step``: warm-up, then cosine."""
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    progress = min((step - optim.warmup_steps) / max(max_steps - optim.warmup_steps, 1), 1.0)
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_optimizer(model: nn.Module, optim: OptimConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW; matrices (≥ 2-D, but not embeddings) decay, the rest does not; fused on CUDA."""
    embeddings = {id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)}
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 and id(param) not in embeddings else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas, eps=optim.eps,
                             fused=device.type == "cuda")


def train(model: nn.Module, task: Task, config: RunSections, run_dir: str | Path, *, resume: bool = False,
          flops_per_token: float | None = None, quiet: bool = False,
          on_checkpoint: Callable[[int, Path], None] | None = None) -> TrainResult:
    """Train ``model`` on ``task`` for ``config.train.max_steps`` steps, writing into ``run_dir``.

    Args:
        model: a freshly built model (its weights are replaced by the checkpoint's when resuming).
        task: batches, loss and validation (:class:`Task`).
        config: the run's config; ``optim`` and ``train`` steer the loop, all of it goes into checkpoints.
        run_dir: the run folder (checkpoints/, metrics.csv, tensorboard/, model/).
        resume: continue from the newest checkpoint in ``run_dir``.
        flops_per_token: training FLOPs per (padded) token, for the MFU; None = no MFU.
        quiet: plain log lines instead of a progress bar.
        on_checkpoint: called as ``on_checkpoint(step, path)`` after each checkpoint is written.
    """
    with torch_threads(config.train.threads):
        return _train(model, task, config, Path(run_dir), resume, flops_per_token, quiet, on_checkpoint)


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``threads`` torch CPU threads (None: leave as is), then restore the number."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(model, task, config, run_dir, resume, flops_per_token, quiet, on_checkpoint) -> TrainResult:
    """:func:`train` with its arguments checked."""
    settings = config.train
    device, info = process_device(settings.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    bf16 = settings.precision == "bf16" or (settings.precision == "auto" and device.type == "cuda")
    autocast = partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=bf16)

    model.to(device)
    optimizer = build_optimizer(model, config.optim, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.optim, settings.max_steps))
    average = WeightAverage(model, config.optim.ema) if config.optim.ema > 0 else None
    start, tokens_seen, elapsed = _resume(run_dir, model, optimizer, scheduler, config, device, average) \
        if resume else (0, 0, 0.0)
    net = task.loss_module(model)
    wrapped = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None) \
        if info.enabled else net

    metrics = MetricsLog(run_dir, resume_step=start if resume else None) if info.is_main else None
    progress = ProgressReport(start, settings.max_steps, quiet=quiet, log_every=settings.log_every,
                              enabled=info.is_main)
    peak = peak_flops(device, settings.peak_tflops)
    workers = settings.num_workers if settings.num_workers is not None else (4 if device.type == "cuda" else 0)
    make_batch = partial(_micro_batches, task, accum=settings.grad_accum, rank=info.rank,
                         world_size=info.world_size)
    loader = step_loader(make_batch, start + 1, settings.max_steps, num_workers=workers,
                         pin_memory=device.type == "cuda")
    loss, validation, run_tokens, run_start = float("nan"), {}, 0, time.perf_counter()
    try:
        tick = time.perf_counter()
        for step, batches in loader:  # the time to build a batch counts in tokens/s
            torch.manual_seed(derived_seed(settings.seed, step, info.rank, DROPOUT_STREAM))
            lr = scheduler.get_last_lr()[0]
            loss, grad_norm, tokens = _step(wrapped, model, batches, config, info, device, autocast)
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                raise _diverged(step, loss, grad_norm, run_dir)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if average is not None:
                average.update(model)

            seconds = time.perf_counter() - tick
            elapsed, tokens_seen, run_tokens = elapsed + seconds, tokens_seen + tokens, run_tokens + tokens
            padded = sum(batch.input_ids.numel() for batch in batches)
            mfu = None if peak is None or flops_per_token is None else flops_per_token * padded / seconds / peak
            row = {"step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": tokens_seen,
                   "tokens_per_s": tokens / seconds, "mfu": mfu, "elapsed_s": elapsed,
                   "peak_mem_mb": peak_memory_mb(device)}
            progress.update(step, loss, tokens / seconds, lr)
            last = step == settings.max_steps
            if step % settings.eval_every == 0 or last:
                with _served(model, average):
                    validation = _validate(model, task, info, device, autocast)
                row.update(validation)
                progress.note(f"step {step}: " + "  ".join(f"{k} {v:.4f}" for k, v in validation.items()))
            if metrics is not None:
                metrics.log(row)
            if step % settings.checkpoint_every == 0 or last:
                path = _checkpoint(model, optimizer, scheduler, config, run_dir, step, info,
                                   {"tokens": tokens_seen, "elapsed_s": elapsed}, average)
                if on_checkpoint is not None:
                    with _served(model, average):  # e.g. the best epoch's weights are the averaged ones
                        on_checkpoint(step, path)
            tick = time.perf_counter()  # validation and checkpoints do not count in tokens/s
        model.to("cpu")
        with _served(model, average):
            model_dir = model.save_pretrained(run_dir / MODEL_DIR) if info.is_main else None
        barrier(info)
    finally:
        progress.close()
        if metrics is not None:
            metrics.close()
    throughput = run_tokens / max(time.perf_counter() - run_start, 1e-9)
    return TrainResult(settings.max_steps, loss, validation, throughput, model_dir)


def _served(model: nn.Module, average: WeightAverage | None):
    """The block sees the weights a run validates and saves: the average when there is one."""
    return contextlib.nullcontext(model) if average is None else average.applied(model)


def _resume(run_dir: Path, model, optimizer, scheduler, config: RunSections, device: torch.device,
            average: WeightAverage | None = None) -> tuple[int, int, float]:
    """Load the newest checkpoint into the model, AdamW, schedule, RNG and weight average; (step, tokens
    seen, seconds). InputError if the run's optim.ema was switched on or off."""
    state = load_checkpoint(latest_checkpoint(run_dir), map_location=device)
    if (average is None) != (state.get("ema") is None):
        raise InputError("cannot change optim.ema (the weight average) when resuming a run")
    model.load_state_dict(state["model"])
    if average is not None:
        average.load_state_dict(state["ema"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scheduler.base_lrs = [config.optim.lr] * len(optimizer.param_groups)  # optim.lr may change on resume
    for group in optimizer.param_groups:
        group["initial_lr"] = config.optim.lr
        group["lr"] = config.optim.lr * lr_factor(state["step"], config.optim, config.train.max_steps)
    set_rng_state(state["rng"])
    return state["step"], state["progress"]["tokens"], state["progress"]["elapsed_s"]


def _step(wrapped: nn.Module, model: nn.Module, batches: list, config: RunSections, info: Distributed,
          device: torch.device, autocast) -> tuple[float, float, int]:
    """Forward and backward over the micro-batches, then clip: (mean loss, gradient norm, real tokens), all ranks."""
    wrapped.train()
    accum = len(batches)
    loss_sum = torch.zeros((), device=device)
    for m, batch in enumerate(batches):
        batch = batch.to(device, non_blocking=True)
        sync = wrapped.no_sync() if info.enabled and m < accum - 1 else contextlib.nullcontext()
        with sync:  # DDP averages gradients on the last micro-batch only
            with autocast():
                loss = wrapped(batch) / accum
            loss.backward()
        loss_sum += loss.detach()
    max_norm = config.optim.grad_clip if config.optim.grad_clip > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
    tokens = float(sum(batch.num_tokens for batch in batches))
    totals = all_reduce_sum(torch.stack([loss_sum.float(), torch.tensor(tokens, device=device)]), info)
    return float(totals[0]) / info.world_size, grad_norm, int(totals[1])


def _micro_batches(task: Task, step: int, *, accum: int, rank: int, world_size: int) -> tuple[int, list]:
    """(step, the ``accum`` micro-batches of ``step``): micro-batch indices (step - 1)·accum + m."""
    return step, [task.train_batch((step - 1) * accum + m, rank, world_size) for m in range(accum)]


@torch.no_grad()
def _validate(model: nn.Module, task: Task, info: Distributed, device: torch.device, autocast) -> dict[str, float]:
    """Validation metrics over every rank's share."""
    model.eval()
    with autocast():
        sums = task.validation_sums(model, info.rank, info.world_size, device)
    keys = sorted(sums)
    totals = all_reduce_sum(torch.tensor([float(sums[key]) for key in keys], dtype=torch.float64,
                                         device=device), info)
    return task.validation_metrics(dict(zip(keys, totals.tolist())))


def _checkpoint(model, optimizer, scheduler, config: RunSections, run_dir: Path, step: int, info: Distributed,
                progress: dict[str, Any], average: WeightAverage | None = None) -> Path:
    """Rank 0 writes the checkpoint of ``step`` and prunes old ones; every rank waits for it."""
    path = checkpoint_path(run_dir, step)
    if info.is_main:
        save_checkpoint({"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "rng": rng_state(), "config": config.to_dict(),
                         "progress": progress, "ema": None if average is None else average.state_dict()}, path)
        prune_checkpoints(run_dir, config.train.keep_checkpoints)
    barrier(info)
    return path


def _diverged(step: int, loss: float, grad_norm: float, run_dir: Path) -> DivergedError:
    """The error that stops a run whose loss or gradient norm is not finite at ``step``."""
    what = f"loss is {loss}" if not math.isfinite(loss) else f"gradient norm is {grad_norm}"
    found = list_checkpoints(run_dir)
    kept = f"the last good checkpoint is {found[-1][1]} (resume with --resume and a lower optim.lr)" \
        if found else "no checkpoint was written before it"
    return DivergedError(f"training diverged: {what} at step {step}; stopped before updating the weights, "
                         f"{kept}")
