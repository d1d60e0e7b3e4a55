"""Batches for a range of training steps, built ahead of time by DataLoader workers.

A batch is a function of its step number (``make_batch(step)``), so worker ``w`` of ``n`` builds
steps ``first + w, first + w + n, ...``; DataLoader takes one batch from each worker in turn, so
the batches come out in step order, and a resumed run simply starts at a later ``first``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
from torch.utils.data import DataLoader, IterableDataset, get_worker_info


def derived_seed(*parts: int) -> int:
    """A 63-bit seed for the random state keyed on ``parts`` (e.g. seed, step, rank, purpose)."""
    return int(np.random.SeedSequence([int(part) for part in parts]).generate_state(2, np.uint64)[0] >> 1)


class StepBatches(IterableDataset):
    """The batches of steps ``first`` to ``last`` (inclusive), in order, shared among workers."""

    def __init__(self, make_batch: Callable[[int], Any], first: int, last: int) -> None:
        super().__init__()
        self.make_batch = make_batch
        self.first = first
        self.last = last

    def __iter__(self) -> Iterator[Any]:
        worker = get_worker_info()
        offset, every = (0, 1) if worker is None else (worker.id, worker.num_workers)
        for step in range(self.first + offset, self.last + 1, every):
            yield self.make_batch(step)

    def __len__(self) -> int:
        return max(self.last - self.first + 1, 0)


def step_loader(make_batch: Callable[[int], Any], first: int, last: int, *, num_workers: int = 0,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader over :class:`StepBatches` (each item is already a whole batch)."""
    return DataLoader(StepBatches(make_batch, first, last), batch_size=None, num_workers=num_workers,
                      pin_memory=pin_memory, prefetch_factor=4 if num_workers else None)
