"""Where models run: one resolution of ``auto`` / ``cpu`` / ``cuda`` for training, inference and the CLI."""

from __future__ import annotations

import torch

from seqformer.errors import InputError

#: What ``--device`` and ``train.device`` accept.
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto`` → the process's GPU when CUDA is available, else the CPU; ``cuda`` without CUDA → InputError.

    ``local_rank`` picks the GPU of a process under ``torchrun``. Any value outside :data:`DEVICES`
    is an InputError naming the choices.
    """
    if requested not in DEVICES:
        raise InputError(f"--device must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, got {requested!r}")
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError(f"CUDA was requested (device cuda) but none is available to torch {torch.__version__}; "
                         "use --device cpu or auto")
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank % torch.cuda.device_count())
