"""Calls and tracks from stitched per-base scores: the outputs every genome scan shares.

A scan (:mod:`seqformer.predict.scan` for window models, :mod:`seqformer.predict.tiles` for track
models) turns a region into :class:`Segment` s: runs of bases with one score, in order. This module
makes the rest from them, the same way for both scanners (conventions in :mod:`seqformer.predict.scan`):

- **Calls** (:func:`call_peaks`): maximal contiguous runs of bases with score >= the threshold, each with
  its peak, strand and summit, as BED6 and narrowPeak lines (:class:`Call`);
- **the track** (:func:`track_runs`): values rounded to :data:`TRACK_DECIMALS`, touching equal runs
  merged, as bedGraph lines and a bigWig (:class:`BigWigTrack`, through pyBigWig);
- **the files** (:func:`scan_outputs`): each written beside its target and renamed at the end, so a
  failed scan leaves none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.regions import Region

TRACK_DECIMALS = 4  # bedGraph values are rounded to this many decimals


def track_value(score: float) -> float:
    """A per-base score as every output sees it: rounded to :data:`TRACK_DECIMALS` decimals.

    Calls, summits, the bedGraph and bigWig, and the calibration's threshold sweep all use this value,
    so ``evaluate scan`` on a written track reproduces the calls and the calibration exactly (on the
    raw scores a threshold near 0.01 could move a few calls across it).
    """
    return round(score, TRACK_DECIMALS)


@dataclass(frozen=True)
class Segment:
    """Bases ``[start, end)`` all covered by the same scored windows."""

    start: int
    end: int
    value: float  # mean score of the covering windows
    best: float  # highest covering window score
    strand: str  # strand of that window


@dataclass(frozen=True)
class Call:
    """One promoter call: a contiguous above-threshold stretch."""

    chrom: str
    start: int
    end: int
    peak: float  # highest per-base probability in the call
    strand: str  # strand of the highest-scoring window covering it
    summit: int  # 0-based: middle of the first stretch at the call's highest (track-rounded) score

    @property
    def bed_score(self) -> int:
        """The peak probability x 1000, rounded, as BED's 0..1000 integer score."""
        return int(min(1000, max(0, round(self.peak * 1000))))

    def bed6(self, name: str) -> str:
        """The call as a BED6 line (with its newline)."""
        return f"{self.chrom}\t{self.start}\t{self.end}\t{name}\t{self.bed_score}\t{self.strand}\n"

    def narrowpeak(self, name: str) -> str:
        """The call as a narrowPeak line (BED6+4: signalValue = peak probability, pValue = qValue = -1,
        peak = summit offset from start), with its newline."""
        return (f"{self.bed6(name)[:-1]}\t{track_value(self.peak):g}\t-1\t-1\t"
                f"{self.summit - self.start}\n")


@dataclass
class ScanResult:
    """Summary of one scan."""

    region: str  # samtools-style, 1-based inclusive
    bases: int  # length of the region
    window: int
    stride: int
    windows: int  # windows tiling the region
    scored: int  # windows scored (both strands each)
    skipped: int  # windows skipped as mostly N
    calls: int
    called_bases: int
    seconds: float
    max_batch: int = 0  # largest batch handed to the scorer (<= batch_size)
    threshold: float = 0.5  # the per-base probability calls were made at

    @property
    def bases_per_s(self) -> float:
        return self.bases / self.seconds if self.seconds else 0.0

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "bases_per_s": self.bases_per_s, "windows_per_s": self.windows_per_s}


class _Run:
    """A call being built: its bounds, raw peak, best window and first stretch at the top rounded score."""

    __slots__ = ("start", "end", "peak", "best", "strand", "top", "top_start", "top_end", "top_open")

    def __init__(self, seg: Segment) -> None:
        self.start, self.end, self.peak, self.best, self.strand = seg.start, seg.end, seg.value, seg.best, seg.strand
        self.top, self.top_start, self.top_end = track_value(seg.value), seg.start, seg.end
        self.top_open = True  # the first stretch at top is still growing

    def extend(self, seg: Segment) -> None:
        self.end = seg.end
        self.peak = max(self.peak, seg.value)
        if seg.best > self.best:
            self.best, self.strand = seg.best, seg.strand
        value = track_value(seg.value)
        if value > self.top:
            self.top, self.top_start, self.top_end, self.top_open = value, seg.start, seg.end, True
        elif value == self.top and self.top_open:
            self.top_end = seg.end
        else:
            self.top_open = False

    def call(self, chrom: str) -> Call:
        return Call(chrom, self.start, self.end, self.peak, self.strand, (self.top_start + self.top_end) // 2)


def call_peaks(chrom: str, segments: Iterator[Segment], threshold: float) -> Iterator[Call]:
    """Maximal contiguous runs of segments whose :func:`track_value` is >= ``threshold``, as :class:`Call` s
    (with summits)."""
    run: _Run | None = None
    for seg in segments:
        above = track_value(seg.value) >= threshold
        if run is not None and (not above or seg.start != run.end):
            yield run.call(chrom)
            run = None
        if not above:
            continue
        if run is None:
            run = _Run(seg)
        else:
            run.extend(seg)
    if run is not None:
        yield run.call(chrom)


class BigWigTrack:
    """A bigWig file written through pyBigWig, entries added in order in batches of ``buffer``."""

    def __init__(self, path: str | Path, contigs: dict[str, int], buffer: int = 10_000) -> None:
        import pyBigWig

        self.handle = pyBigWig.open(str(path), "w")
        if self.handle is None:
            raise InputError("cannot write a bigWig here", path=path)
        self.handle.addHeader(list(contigs.items()), maxZooms=10)
        self.buffer = buffer
        self.chroms: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.values: list[float] = []

    def add(self, chrom: str, start: int, end: int, value: float) -> None:
        self.chroms.append(chrom)
        self.starts.append(start)
        self.ends.append(end)
        self.values.append(float(value))
        if len(self.starts) >= self.buffer:
            self.flush()

    def flush(self) -> None:
        if self.starts:
            self.handle.addEntries(self.chroms, self.starts, ends=self.ends, values=self.values)
            self.chroms, self.starts, self.ends, self.values = [], [], [], []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.handle.close()


def track_runs(segments: Iterator[Segment], on_run: Callable[[int, int, float], None]) -> Iterator[Segment]:
    """Pass ``segments`` through, calling ``on_run(start, end, value)`` for each run of the track as
    bedGraph and bigWig hold it: values rounded to :data:`TRACK_DECIMALS`, touching segments of equal
    rounded value merged (the last run when the segments end)."""
    run: list | None = None  # [start, end, value]
    for seg in segments:
        value = track_value(seg.value)
        if run is not None and run[1] == seg.start and run[2] == value:
            run[1] = seg.end
        else:
            if run is not None:
                on_run(*run)
            run = [seg.start, seg.end, value]
        yield seg
    if run is not None:
        on_run(*run)


def _tee_outputs(chrom: str, segments: Iterator[Segment], threshold: float, name: str, bed, bedgraph,
                 narrowpeak=None, bigwig: BigWigTrack | None = None) -> tuple[int, int]:
    """Write calls to ``bed`` (and ``narrowpeak``) and the merged track to ``bedgraph`` and ``bigwig``
    (each optional), as segments stream by."""
    calls = bases = 0

    def write_track(start: int, end: int, value: float) -> None:
        if bedgraph is not None:
            bedgraph.write(f"{chrom}\t{start}\t{end}\t{value:g}\n")
        if bigwig is not None:
            bigwig.add(chrom, start, end, value)

    for call in call_peaks(chrom, track_runs(segments, write_track), threshold):
        bed.write(call.bed6(name))
        if narrowpeak is not None:
            narrowpeak.write(call.narrowpeak(name))
        calls += 1
        bases += call.end - call.start
    return calls, bases


@contextlib.contextmanager
def scan_outputs(genome, region: Region, out: str | Path, *, bedgraph: str | Path | None = None,
                 narrowpeak: str | Path | None = None, bigwig: str | Path | None = None, threshold: float = 0.5,
                 name: str = "promoter"):
    """A context whose value writes a stream of segments of ``region`` to the scan's outputs.

    Yields ``write(segments) -> (calls, called_bases)``. Every file is written to a temporary file
    beside its target and renamed into place when the context exits cleanly, so a failed scan
    leaves no outputs. The bigWig's header takes the contig lengths from ``genome.contigs``.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be a probability in [0, 1], got {threshold}")
    with contextlib.ExitStack() as stack:
        bed = stack.enter_context(atomic_open(out))
        track = None
        if bedgraph is not None:
            track = stack.enter_context(atomic_open(bedgraph))
            track.write(f'track type=bedGraph name="{name}" description="{name} probability, {region}"\n')
        peaks = stack.enter_context(atomic_open(narrowpeak)) if narrowpeak is not None else None
        big = None
        if bigwig is not None:
            contigs = dict(getattr(genome, "contigs", None) or {region.chrom: region.end})
            big_path = stack.enter_context(atomic_path(bigwig))
            big = BigWigTrack(big_path, contigs)
            stack.callback(big.close)  # closed (and so complete) before the rename above runs

        def write(segments: Iterator[Segment]) -> tuple[int, int]:
            return _tee_outputs(region.chrom, segments, threshold, name, bed, track, peaks, big)

        yield write
