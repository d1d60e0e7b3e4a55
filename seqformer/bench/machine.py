"""Where a benchmark ran, and the device helpers the benchmarks share.

:func:`machine_info` is the record written beside every benchmark's figures; :func:`gpu_name`
names a CUDA device (None elsewhere); :func:`require_cuda` refuses a CUDA run where torch sees
none; :func:`synchronize` waits for a device's queued work before a clock is read.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import numpy as np
import torch

from seqformer.errors import InputError


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what the platform module reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def gpu_name(device: torch.device | str) -> str | None:
    """The name of ``device`` when it is a CUDA device, else None."""
    device = torch.device(device)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


def require_cuda(device: torch.device | str) -> None:
    """InputError when ``device`` is a CUDA device and torch sees none."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device cuda was asked for, but torch {torch.__version__} sees no CUDA device")


def synchronize(device: torch.device | str) -> None:
    """Wait for the work queued on ``device`` (a no-op off CUDA), so that a timer reads finished work."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_info() -> dict[str, Any]:
    """Platform, CPU model, usable cores and library versions."""
    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }
