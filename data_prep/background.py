"""Background windows: composition of any window of a sequence, distances to sites, GC matching,
sharing a count out between kinds, overlap tests and windows flanking sites.

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
              rng: np.random.Generator, total: int | None = None) -> np.ndarray:
    """Indices into the candidate pool: GC-binned like ``targets`` (or uniform when not gc_match).

    ``total``, when given, is the number of windows wanted (instead of ``len(targets) * per_positive``
    rounded); the bins then get ``total / len(targets)`` windows per positive.
    """
    wanted_total = round(len(targets) * per_positive) if total is None else int(total)
    if total is not None and len(targets):
        per_positive = total / len(targets)
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


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """``total`` whole windows shared out in proportion to ``weights`` (largest remainder, ties in key order)."""
    keys = list(weights)
    norm = sum(weights.values())
    if total <= 0 or norm <= 0:
        return {k: 0 for k in keys}
    exact = np.array([total * weights[k] / norm for k in keys])
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - int(counts.sum())]] += 1
    return {k: int(n) for k, n in zip(keys, counts)}


def overlaps_any(starts: np.ndarray, ends: np.ndarray, other_starts: np.ndarray, other_ends: np.ndarray) -> np.ndarray:
    """Whether each window [start, end) shares a base with any of the other windows."""
    if len(other_starts) == 0:
        return np.zeros(len(starts), dtype=bool)
    order = np.argsort(other_starts, kind="stable")
    o_starts = other_starts[order]
    running_end = np.maximum.accumulate(other_ends[order])  # furthest end among windows starting at or before
    last = np.searchsorted(o_starts, ends, side="left") - 1  # last other window starting before this end
    return (last >= 0) & (running_end[np.maximum(last, 0)] > starts)


def flank_candidates(sites: np.ndarray, width: int, offset_min: int, offset_max: int, size: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``size`` windows of ``width`` centred ``offset_min..offset_max`` bases (uniform) either side of a random site.

    Returns (starts, anchor index into ``sites``, signed offset of the window's centre from its site:
    centre = site + offset, the centre being base ``start + width // 2``). Nothing is filtered.
    """
    if len(sites) == 0 or size <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    anchor = rng.integers(0, len(sites), size=size)
    offset = rng.integers(offset_min, offset_max + 1, size=size) * np.where(rng.random(size) < 0.5, -1, 1)
    return sites[anchor] + offset - width // 2, anchor, offset
