"""Multi-process training (PyTorch DistributedDataParallel, launched by ``torchrun``).

``torchrun --nproc_per_node N --no-python seqformer pretrain ...`` starts N processes with
RANK, WORLD_SIZE and LOCAL_RANK set; each joins the process group (NCCL on CUDA, gloo on CPU),
trains on its own batches (keyed on its rank), and DDP averages the gradients. Rank 0 alone
writes files. Without those variables everything runs in one process, no group is created.
Which device a process uses is :func:`seqformer.device.resolve_device`'s answer for its LOCAL_RANK.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seqformer.device import resolve_device


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run."""

    rank: int = 0  # global rank of this process
    world_size: int = 1  # processes in the run
    local_rank: int = 0  # rank on this machine: picks the GPU

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and logs."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether a process group is in use."""
        return self.world_size > 1


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that ``torchrun`` set up (if any) and pin this process's GPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed()
    info = Distributed(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return info


def process_device(requested: str) -> tuple[torch.device, Distributed]:
    """This process's device (its LOCAL_RANK's GPU under torchrun) and its place in the run."""
    device = resolve_device(requested, int(os.environ.get("LOCAL_RANK", "0")))
    return device, init_distributed(device)


def all_reduce_sum(values: torch.Tensor, info: Distributed) -> torch.Tensor:
    """Sum ``values`` over all processes (returned as is in a single process)."""
    if info.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def barrier(info: Distributed) -> None:
    """Wait for every process."""
    if info.enabled:
        dist.barrier()


def shutdown(info: Distributed) -> None:
    """Leave the process group."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
