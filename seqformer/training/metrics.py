"""Metrics of a run as it goes: ``metrics.csv`` (one row per step) and TensorBoard events.

Columns of ``metrics.csv`` (:data:`COLUMNS`); validation columns are empty on steps without one:

    step, loss, lr, grad_norm, tokens, tokens_per_s, mfu, val_loss, val_accuracy, val_perplexity, elapsed_s,
    peak_mem_mb

``peak_mem_mb`` is the peak so far: GPU memory torch allocated (CUDA), else the process's peak
resident set (CPU, interpreter and libraries included).

When a run is resumed from the checkpoint of step s, rows after s (written before the run was
killed) are dropped and TensorBoard is told to purge events after s, so both show one curve.
"""

from __future__ import annotations

import csv
import math
import resource
import sys
from pathlib import Path
from typing import Any

import torch

from seqformer.io.atomic import atomic_open

METRICS_FILE = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
COLUMNS = ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mfu", "val_loss", "val_accuracy",
           "val_perplexity", "elapsed_s", "peak_mem_mb")


def peak_rss_mb() -> float:
    """This process's peak resident set size (ru_maxrss) in MiB."""
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def peak_gpu_mb(device: torch.device) -> float | None:
    """Peak memory torch allocated on ``device`` so far in this process (MiB); None off CUDA."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far in MiB: torch's allocations on a CUDA device, else this process's peak RSS."""
    gpu = peak_gpu_mb(device)
    return peak_rss_mb() if gpu is None else gpu


def read_metrics(path: str | Path) -> list[dict[str, float | None]]:
    """The rows of a ``metrics.csv`` as dicts of floats (None where empty)."""
    with open(path, newline="") as handle:
        return [{key: float(value) if value != "" else None for key, value in row.items()}
                for row in csv.DictReader(handle)]


class MetricsLog:
    """Appends rows to ``metrics.csv`` (flushed each step) and scalars to TensorBoard."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None) -> None:
        from tensorboardX import SummaryWriter  # import on use: only rank 0 of a training run needs it

        run_dir = Path(run_dir)
        self.path = run_dir / METRICS_FILE
        if resume_step is not None and self.path.exists():
            kept = [row for row in _raw_rows(self.path) if int(float(row["step"])) <= resume_step]
        else:
            kept = []
        with atomic_open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(kept)
        self._handle = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS)
        purge = None if resume_step is None else resume_step + 1
        self._events = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=purge, flush_secs=30)

    def log(self, row: dict[str, Any]) -> None:
        """Write one step's row (missing columns stay empty; other keys go to TensorBoard only)."""
        self._writer.writerow({key: _cell(row.get(key)) for key in COLUMNS})
        self._handle.flush()
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                group = "val" if key.startswith("val_") else "train"
                self._events.add_scalar(f"{group}/{key.removeprefix('val_')}", value, step)

    def close(self) -> None:
        """Flush and close both files."""
        self._handle.close()
        self._events.close()


def _raw_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _cell(value: Any) -> str:
    """A CSV cell: floats with full precision (exact resume comparisons), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)
