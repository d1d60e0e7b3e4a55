"""Peak intervals, merged per contig: covered bases of an interval, and per-base 0/1 peak targets.

Axes: N bases, T targets (one per peak file).

Coordinates are 0-based, half-open, as in BED. A peak file's intervals are merged first
(overlapping or touching peaks become one), so a base is in a peak or not, however many
peaks of the file list it. :class:`PeakCoverage` answers both questions the chromatin tasks ask:
how many bases of a window's central bin lie in a peak (:meth:`~PeakCoverage.covered`, the
window labels) and which bases of a stretch do (:meth:`~PeakCoverage.mask`, the per-base targets
of a track model; :func:`peak_targets` stacks one column per file).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, merged (overlapping or touching) half-open intervals."""
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends)
    new = np.concatenate([[True], starts[1:] > reach[:-1]])
    return starts[new], np.maximum.reduceat(ends, np.flatnonzero(new)) if len(starts) else ends[:0]


class PeakCoverage:
    """Bases of any interval covered by the merged peaks of one file, per contig."""

    def __init__(self, peaks: pd.DataFrame) -> None:
        self.by_chrom: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for chrom, rows in peaks.groupby("chrom", sort=False):
            starts, ends = merge_intervals(rows["start"].to_numpy(np.int64), rows["end"].to_numpy(np.int64))
            before = np.concatenate([[0], np.cumsum(ends - starts)[:-1]])  # covered bases before interval i
            self.by_chrom[str(chrom)] = (starts, ends, before)

    @property
    def contigs(self) -> set[str]:
        """Contigs with at least one peak."""
        return set(self.by_chrom)

    def _covered_below(self, chrom: str, x: np.ndarray) -> np.ndarray:
        """Covered bases in [0, x) for each x."""
        if chrom not in self.by_chrom:
            return np.zeros(len(x), dtype=np.int64)
        starts, ends, before = self.by_chrom[chrom]
        i = np.searchsorted(starts, x, side="right") - 1
        safe = np.maximum(i, 0)
        inside = np.clip(np.minimum(x, ends[safe]) - starts[safe], 0, None)
        return np.where(i >= 0, before[safe] + inside, 0)

    def covered(self, chrom: str, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """(N,) covered bases of each interval [starts, ends) on ``chrom``."""
        return self._covered_below(chrom, ends) - self._covered_below(chrom, starts)

    def mask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """(end - start,) bool: True where base ``start + i`` lies in a merged peak."""
        out = np.zeros(end - start, dtype=bool)
        if chrom not in self.by_chrom:
            return out
        starts, ends, _ = self.by_chrom[chrom]
        lo = np.searchsorted(ends, start, side="right")  # first peak ending after start
        hi = np.searchsorted(starts, end, side="left")  # peaks from here start at or after end
        for s, e in zip(starts[lo:hi], ends[lo:hi]):
            out[max(s, start) - start:min(e, end) - start] = True
        return out


def peak_targets(coverages: Sequence[PeakCoverage], chrom: str, start: int, end: int,
                 strand: str = "+") -> np.ndarray:
    """(N, T) float32 0/1 targets of bases ``[start, end)``: column t is 1 inside a peak of file t.

    On ``-`` the rows are reversed: the targets follow the bases of the reverse complement as read.
    """
    if strand not in ("+", "-"):
        raise ValueError(f"strand must be + or -, got {strand!r}")
    out = np.stack([c.mask(chrom, start, end) for c in coverages], axis=1).astype(np.float32)
    return out[::-1].copy() if strand == "-" else out
