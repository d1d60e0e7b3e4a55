"""Tiling a genomic region into fixed-size windows, streamed from the genome in chunks.

Coordinates are 0-based, half-open. A region of length R is tiled with windows of ``window`` bases
starting at ``region.start``, then every ``stride`` bases; when the last step does not end exactly at
``region.end``, one more window is placed flush with the end (``region.end - window``), so every base
is covered and no window leaves the region. Windows are fetched from the genome a chunk at a time, so
memory does not grow with the region's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from seqformer.errors import InputError
from seqformer.io.regions import Region

T = TypeVar("T")

#: bases fetched from the genome per read while tiling (plus one window of overlap).
CHUNK_BASES = 1 << 20


class _Fetcher(Protocol):
    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> str: ...


@dataclass(frozen=True)
class Window:
    """One window: 0-based half-open ``[start, end)`` on ``chrom`` and its forward-strand bases."""

    chrom: str
    start: int
    end: int
    seq: str

    @property
    def n_fraction(self) -> float:
        """Fraction of the bases that are N."""
        return self.seq.count("N") / len(self.seq) if self.seq else 1.0


def iter_window_starts(start: int, end: int, window: int, stride: int) -> Iterator[int]:
    """Starts of the windows tiling ``[start, end)`` (see the module docstring), lazily; none if too short."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be positive, got window={window}, stride={stride}")
    last = end - window
    if last < start:
        return
    yield from range(start, last + 1, stride)
    if (last - start) % stride:
        yield last  # the last, partial step: a window flush with the region's end


def window_starts(start: int, end: int, window: int, stride: int) -> list[int]:
    """:func:`iter_window_starts` as a list."""
    return list(iter_window_starts(start, end, window, stride))


def count_windows(start: int, end: int, window: int, stride: int) -> int:
    """How many windows tile ``[start, end)``, without listing them."""
    last = end - window
    if last < start:
        return 0
    return (last - start) // stride + 1 + (1 if (last - start) % stride else 0)


def check_tiling(region: Region, window: int, stride: int) -> None:
    """:class:`InputError` unless ``region`` holds at least one window and ``stride`` is sensible."""
    if len(region) == 0:
        raise InputError(f"region {region} is empty")
    if len(region) < window:
        raise InputError(f"region {region} has {len(region):,} bases, fewer than the model's window of {window:,}")
    if not 1 <= stride <= window:
        raise InputError(f"--stride must be between 1 and the window ({window}), got {stride}")


def tile(genome: _Fetcher, region: Region, window: int, stride: int,
         chunk_bases: int = CHUNK_BASES) -> Iterator[Window]:
    """Yield the windows tiling ``region`` in start order, reading ``chunk_bases`` (+ a window) at a time."""
    per_chunk = max(1, chunk_bases // stride)
    starts = iter_window_starts(region.start, region.end, window, stride)
    for group in batched(starts, per_chunk):
        lo, hi = group[0], group[-1] + window
        bases = genome.fetch(region.chrom, lo, hi)
        for s in group:
            yield Window(region.chrom, s, s + window, bases[s - lo:s - lo + window])


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` consecutive items (the last may be shorter); never holds more than ``size``."""
    if size < 1:
        raise ValueError(f"batch size must be positive, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def fit_to_window(seq: str, window: int) -> str:
    """Centre ``seq`` in ``window`` bases: crop both ends or pad both ends with N.

    An odd excess is cropped from (or an odd shortfall padded at) the 3' end, i.e. the right.
    """
    excess = len(seq) - window
    if excess > 0:
        left = excess // 2
        return seq[left:left + window]
    if excess < 0:
        left = -excess // 2
        return "N" * left + seq + "N" * (-excess - left)
    return seq
