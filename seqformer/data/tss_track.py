"""Per-base TSS targets from an annotation, and the long training tiles of a track model.

Axes: N bases of a tile, T = 1 target.

- **Targets** (:func:`tss_targets`): base ``i`` of a stretch read on a strand is 1 when an annotated
  TSS *of that strand* lies within ``radius`` bases of it (``|i - tss| <= radius``), else 0. A
  stretch read on ``-`` is the reverse complement, so its targets are the ``-`` TSSs' labels in
  reverse order: targets always follow the bases as the model reads them. A bidirectional promoter
  is a positive on both strands.
- **Sequence in memory** (:class:`TrackIntervals`): the training intervals (the data folder's region
  minus its validation and test ranges, as ``seqformer data promoters`` split them) are read once;
  intervals shorter than a tile are dropped.
- **Tiles** (:class:`TileSampler`): tile ``index`` is a pure function of ``(seed, index)``. With
  probability ``tss_fraction`` it holds a training TSS at a uniformly random offset (TSSs are a
  few per 100 kb, so uniform tiles alone would rarely show one), otherwise it starts uniformly at
  random in the intervals (weighted by length); its strand is random. Tiles with more than
  ``max_n`` N are redrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from seqformer.data.loader import derived_seed
from seqformer.io.regions import Region
from seqformer.io.sequence import reverse_complement

TILE_STREAM = 21  # last part of the seed of a tile draw
DEFAULT_RADIUS = 100  # bases either side of a TSS labelled positive
DEFAULT_TSS_FRACTION = 0.5  # share of training tiles drawn around a TSS


def tss_sites(tss: pd.DataFrame, chrom: str) -> dict[str, np.ndarray]:
    """Sorted 0-based TSS positions of ``chrom`` per strand (``+``/``-``); a BED without strands counts as ``+``."""
    rows = tss.loc[tss["chrom"] == chrom]
    strands = rows["strand"].astype(str) if "strand" in rows else pd.Series(["+"] * len(rows), index=rows.index)
    starts, minus = rows["start"].to_numpy(np.int64), (strands == "-").to_numpy()
    return {"+": np.sort(starts[~minus]), "-": np.sort(starts[minus])}


def tss_targets(sites: dict[str, np.ndarray], start: int, end: int, strand: str = "+",
                radius: int = DEFAULT_RADIUS) -> np.ndarray:
    """0/1 float32 targets of bases ``[start, end)`` read on ``strand`` (reversed for ``-``): see the module docstring."""
    if strand not in ("+", "-"):
        raise ValueError(f"strand must be + or -, got {strand!r}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    out = np.zeros(end - start, dtype=np.float32)
    positions = sites.get(strand, np.zeros(0, np.int64))
    near = positions[(positions >= start - radius) & (positions < end + radius)]
    for p in near:
        out[max(p - radius, start) - start:min(p + radius + 1, end) - start] = 1.0
    return out[::-1].copy() if strand == "-" else out


@dataclass
class TrackIntervals:
    """Training sequence held in memory: regions, their upper-case bases and their TSS sites."""

    regions: list[Region]
    seqs: list[str]
    sites: dict[str, dict[str, np.ndarray]]  # chrom -> strand -> positions

    @classmethod
    def read(cls, genome, regions: Sequence[Region], tss: pd.DataFrame, min_length: int) -> TrackIntervals:
        kept = [r for r in regions if len(r) >= min_length]
        seqs = [genome.fetch(r.chrom, r.start, r.end).upper() for r in kept]
        sites = {chrom: tss_sites(tss, chrom) for chrom in {r.chrom for r in kept}}
        return cls(kept, seqs, sites)

    def tss_in(self) -> list[tuple[int, int, str]]:
        """(interval index, position, strand) of every TSS inside an interval."""
        found = []
        for i, region in enumerate(self.regions):
            for strand, positions in self.sites[region.chrom].items():
                inside = positions[(positions >= region.start) & (positions < region.end)]
                found.extend((i, int(p), strand) for p in inside)
        return found

    @property
    def bases(self) -> int:
        return sum(len(r) for r in self.regions)


class TileSampler:
    """Training tiles (bases as read, per-base targets) drawn as the module docstring says."""

    def __init__(self, intervals: TrackIntervals, tile: int, *, radius: int = DEFAULT_RADIUS,
                 tss_fraction: float = DEFAULT_TSS_FRACTION, seed: int = 0, max_n: float = 0.1) -> None:
        if not intervals.regions:
            raise ValueError(f"no training interval is as long as a tile ({tile} bases)")
        self.intervals, self.tile, self.radius = intervals, tile, radius
        self.tss_fraction, self.seed, self.max_n = tss_fraction, seed, max_n
        self.tss = intervals.tss_in()
        lengths = np.array([len(r) - tile + 1 for r in intervals.regions], dtype=np.float64)
        self.weights = lengths / lengths.sum()

    def draw(self, index: int) -> tuple[str, np.ndarray, tuple[str, int, int, str]]:
        """Tile ``index``: its bases as read, targets (tile,), and (chrom, start, end, strand)."""
        rng = np.random.default_rng(derived_seed(self.seed, index, TILE_STREAM))
        for _ in range(100):
            if self.tss and rng.random() < self.tss_fraction:
                i, pos, _strand = self.tss[rng.integers(len(self.tss))]
                region = self.intervals.regions[i]
                lo = max(region.start, pos - self.tile + 1)
                hi = min(pos, region.end - self.tile)
                start = int(rng.integers(lo, hi + 1))
            else:
                i = int(rng.choice(len(self.weights), p=self.weights))
                region = self.intervals.regions[i]
                start = int(rng.integers(region.start, region.end - self.tile + 1))
            strand = "-" if rng.random() < 0.5 else "+"
            offset = start - region.start
            seq = self.intervals.seqs[i][offset:offset + self.tile]
            if seq.count("N") <= self.max_n * self.tile:
                break
        targets = tss_targets(self.intervals.sites[region.chrom], start, start + self.tile, strand, self.radius)
        if strand == "-":
            seq = reverse_complement(seq)
        return seq, targets, (region.chrom, start, start + self.tile, strand)
