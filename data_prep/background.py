"""Background windows: composition of any window of a sequence, distances to sites, GC matching.

Coordinates are 0-based, half-open. Shared by the dataset builders that draw background
(negative) windows to set beside positives: promoters, TF-binding peaks.
"""

from __future__ import annotations

import numpy as np

from seqformer.io import Region

GC_BINS = 20  # GC fraction bins used to match negatives to positives


class Composition:
    """GC and N counts of any window of a region's sequence, from prefix sums."""

    def __init__(self, region: Region, seq: str) -> None:
        codes = np.frombuffer(seq.encode(), dtype=np.uint8)
        gc = (codes == ord("G")) | (codes == ord("C"))
        acgt = gc | (codes == ord("A")) | (codes == ord("T"))
        self.offset = region.start
        self.gc = np.concatenate([[0], np.cumsum(gc, dtype=np.int64)])
        self.acgt = np.concatenate([[0], np.cumsum(acgt, dtype=np.int64)])

    def stats(self, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(GC fraction of the A/C/G/T bases, share of other bases) of each window."""
        a, b = starts - self.offset, ends - self.offset
        acgt = self.acgt[b] - self.acgt[a]
        gc = (self.gc[b] - self.gc[a]) / np.maximum(acgt, 1)
        return gc, 1.0 - acgt / (b - a)


def distance_to_nearest(starts: np.ndarray, ends: np.ndarray, sites: np.ndarray) -> np.ndarray:
    """Bases between each window [start, end) and the nearest site (0 if one lies inside)."""
    if len(sites) == 0:
        return np.full(len(starts), np.iinfo(np.int64).max)
    right = np.searchsorted(sites, starts, side="left")  # first site >= start
    after = sites[np.minimum(right, len(sites) - 1)]
    before = sites[np.maximum(right - 1, 0)]
    inside = (after >= starts) & (after < ends) & (right < len(sites))
    to_after = np.where(right < len(sites), after - (ends - 1), np.iinfo(np.int64).max)
    to_before = np.where(right > 0, starts - before, np.iinfo(np.int64).max)
    return np.where(inside, 0, np.minimum(np.abs(to_after), np.abs(to_before)))


def match_gc(targets: np.ndarray, pool_gc: np.ndarray, per_positive: float, gc_match: bool,
              rng: np.random.Generator) -> np.ndarray:
    """Indices into the candidate pool: GC-binned like ``targets`` (or uniform when not gc_match)."""
    wanted_total = round(len(targets) * per_positive)
    order = rng.permutation(len(pool_gc))
    if not gc_match or wanted_total == 0:
        return np.sort(order[:wanted_total])
    bins = np.minimum((pool_gc * GC_BINS).astype(int), GC_BINS - 1)
    exact = np.bincount(np.minimum((targets * GC_BINS).astype(int), GC_BINS - 1), minlength=GC_BINS) * per_positive
    wanted = np.floor(exact).astype(int)
    remainder = max(wanted_total - int(wanted.sum()), 0)  # whole windows left by rounding down, per bin
    wanted[np.argsort(-(exact - wanted), kind="stable")[:remainder]] += 1
    chosen, short = [], 0
    for b in range(GC_BINS):
        members = order[bins[order] == b]
        chosen.append(members[: wanted[b]])
        short += max(wanted[b] - len(members), 0)
    taken = np.concatenate(chosen) if chosen else np.empty(0, dtype=int)
    if short:  # fill short bins with the unused candidates closest to the positives' mean GC
        rest = np.setdiff1d(order, taken)
        rest = rest[np.argsort(np.abs(pool_gc[rest] - targets.mean()), kind="stable")]
        taken = np.concatenate([taken, rest[:short]])
    return np.sort(taken)
