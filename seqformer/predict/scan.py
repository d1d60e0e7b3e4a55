"""Genome scanning: score overlapping windows on both strands, stitch them, call promoters.

Axes: B windows per batch, T model outputs (labels). The core works on any *scorer*: a callable
that takes a list of at most ``batch_size`` DNA strings (all ``window`` bases long) and returns
their probabilities, shape (B,). :func:`classifier_scorer` makes one from a
:class:`~seqformer.models.classifier.SequenceClassifier`; tests pass plain functions.

Conventions (0-based, half-open coordinates):

- **Tiling**: :mod:`seqformer.predict.windows` (step ``stride``, the last window flush with the end).
- **N windows**: a window whose fraction of N bases exceeds ``max_n_fraction`` (0.5) is not scored
  and covers nothing.
- **Strands**: each window is scored as read (+) and reverse-complemented (-). Its score is the
  **max** of the two; its strand is the strand of that max (+ on a tie).
- **Stitching**: the per-base score is the **mean** of the scores of the scored windows covering
  the base; bases no scored window covers have no score. The track is reported as maximal runs of
  bases whose covering windows are the same (breakpoints at window starts and ends), merged with
  their neighbours when the value, rounded to 4 decimals, is equal.
- **Calls**: maximal contiguous runs of bases with per-base score >= ``threshold`` (touching
  segments merged into one region), written as BED6: name = the label scored (``promoter``),
  score = round(peak per-base probability x 1000), an int in 0..1000, strand = the strand of the
  highest-scoring window covering the call. Each call has a **summit**: the base of its highest
  per-base score as the track shows it (rounded to 4 decimals): the middle base ``(a + b) // 2`` of
  the first maximal stretch ``[a, b)`` at that score (as :func:`seqformer.evaluation.scan.calls_at`
  finds it on the bedGraph).
- **Outputs** (each written to a temporary file beside its target and renamed at the end): the calls
  as BED6, optionally as narrowPeak (BED6+4: signalValue = peak probability, pValue = qValue = -1,
  peak = summit - start), and the track as bedGraph and/or bigWig (through pyBigWig; its header holds
  every contig of the genome, with the lengths of its index).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqformer.errors import InputError
from seqformer.io.atomic import atomic_open, atomic_path
from seqformer.io.regions import Region
from seqformer.io.sequence import reverse_complement
from seqformer.predict.windows import Window, batched, check_tiling, count_windows, tile

Scorer = Callable[[Sequence[str]], np.ndarray]  # list of B window strings -> probabilities (B,)

MAX_N_FRACTION = 0.5  # windows with more N than this are skipped
TRACK_DECIMALS = 4  # bedGraph values are rounded to this many decimals


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
        return (f"{self.bed6(name)[:-1]}\t{round(self.peak, TRACK_DECIMALS):g}\t-1\t-1\t"
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


class Stitcher:
    """Turns scored windows, added in start order, into :class:`Segment` s (see module docstring).

    Only the windows still covering the current position are kept (at most window/stride + 1).
    """

    def __init__(self) -> None:
        self.active: deque[tuple[int, int, float, str]] = deque()  # (start, end, score, strand)
        self.pos: int | None = None

    def add(self, start: int, end: int, score: float, strand: str) -> Iterator[Segment]:
        """Add a window (its start >= every earlier start); yield the segments now final."""
        if self.pos is not None and start < self.pos:
            raise ValueError(f"windows must come in start order: {start} after {self.pos}")
        yield from self.flush(start)
        self.pos = start
        self.active.append((start, end, score, strand))

    def flush(self, upto: int | None = None) -> Iterator[Segment]:
        """Yield the segments before ``upto`` (everything when None)."""
        while self.active and (upto is None or self.pos < upto):
            nxt = min(w[1] for w in self.active)
            if upto is not None:
                nxt = min(nxt, upto)
            scores = [w[2] for w in self.active]
            best = max(self.active, key=lambda w: (w[2], w[3] == "+"))
            yield Segment(self.pos, nxt, float(np.mean(scores)), best[2], best[3])
            self.pos = nxt
            while self.active and self.active[0][1] <= self.pos:
                self.active.popleft()
        if upto is not None and self.pos is not None:
            self.pos = max(self.pos, upto)


class _Run:
    """A call being built: its bounds, raw peak, best window and first stretch at the top rounded score."""

    __slots__ = ("start", "end", "peak", "best", "strand", "top", "top_start", "top_end", "top_open")

    def __init__(self, seg: Segment) -> None:
        self.start, self.end, self.peak, self.best, self.strand = seg.start, seg.end, seg.value, seg.best, seg.strand
        self.top, self.top_start, self.top_end = round(seg.value, TRACK_DECIMALS), seg.start, seg.end
        self.top_open = True  # the first stretch at top is still growing

    def extend(self, seg: Segment) -> None:
        self.end = seg.end
        self.peak = max(self.peak, seg.value)
        if seg.best > self.best:
            self.best, self.strand = seg.best, seg.strand
        value = round(seg.value, TRACK_DECIMALS)
        if value > self.top:
            self.top, self.top_start, self.top_end, self.top_open = value, seg.start, seg.end, True
        elif value == self.top and self.top_open:
            self.top_end = seg.end
        else:
            self.top_open = False

    def call(self, chrom: str) -> Call:
        return Call(chrom, self.start, self.end, self.peak, self.strand, (self.top_start + self.top_end) // 2)


def call_peaks(chrom: str, segments: Iterator[Segment], threshold: float) -> Iterator[Call]:
    """Maximal contiguous runs of segments with value >= ``threshold`` as :class:`Call` s (with summits)."""
    run: _Run | None = None
    for seg in segments:
        above = seg.value >= threshold
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


def score_strands(scorer: Scorer, windows: Sequence[Window]) -> tuple[np.ndarray, list[str]]:
    """Each window's score (max over + and -) and its strand."""
    seqs = [w.seq for w in windows]
    plus = np.asarray(scorer(seqs), dtype=np.float64).reshape(len(seqs))
    minus = np.asarray(scorer([reverse_complement(s) for s in seqs]), dtype=np.float64).reshape(len(seqs))
    strands = ["+" if p >= m else "-" for p, m in zip(plus, minus)]
    return np.maximum(plus, minus), strands


def scan_segments(scorer: Scorer, windows: Iterator[Window], *, batch_size: int = 64,
                  max_n_fraction: float = MAX_N_FRACTION, stats: dict | None = None,
                  on_batch: Callable[[int, int], None] | None = None) -> Iterator[Segment]:
    """Score ``windows`` (in start order) in batches and yield the stitched segments, streaming.

    Args:
        scorer: window strings -> probabilities (B,); called with at most ``batch_size`` strings.
        windows: e.g. from :func:`~seqformer.predict.windows.tile`.
        batch_size: windows per scorer call.
        max_n_fraction: windows with a larger fraction of N are skipped.
        stats: if given, updated with ``scored``, ``skipped``, ``max_batch``.
        on_batch: called as ``on_batch(windows_done, last_base_done)`` after each batch.
    """
    stats = stats if stats is not None else {}
    stats.update(scored=0, skipped=0, max_batch=0)
    stitcher = Stitcher()
    seen = 0

    def keep(items: Iterator[Window]) -> Iterator[Window]:
        nonlocal seen
        for w in items:
            seen += 1
            if w.n_fraction > max_n_fraction:
                stats["skipped"] += 1
                continue
            yield w

    for batch in batched(keep(windows), batch_size):
        scores, strands = score_strands(scorer, batch)
        stats["scored"] += len(batch)
        stats["max_batch"] = max(stats["max_batch"], len(batch))
        for w, score, strand in zip(batch, scores, strands):
            yield from stitcher.add(w.start, w.end, float(score), strand)
        if on_batch is not None:
            on_batch(seen, batch[-1].end)
    yield from stitcher.flush()


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
        value = round(seg.value, TRACK_DECIMALS)
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


def scan_region(scorer: Scorer, genome, region: Region, window: int, out: str | Path, *,
                bedgraph: str | Path | None = None, narrowpeak: str | Path | None = None,
                bigwig: str | Path | None = None, threshold: float = 0.5, stride: int | None = None,
                batch_size: int = 64, max_n_fraction: float = MAX_N_FRACTION, name: str = "promoter",
                on_batch: Callable[[int, int], None] | None = None) -> ScanResult:
    """Scan ``region`` of ``genome`` with ``scorer``; write calls (BED6, optionally narrowPeak) and
    optionally the track (bedGraph, bigWig).

    Every file is written to a temporary file beside its target as the scan goes and renamed into
    place at the end, so a failed scan leaves no outputs. Calls are in start order on one contig,
    hence sorted. The bigWig's header takes the contig lengths from ``genome.contigs`` (the index).
    """
    stride = max(1, window // 2) if stride is None else stride
    check_tiling(region, window, stride)
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be a probability in [0, 1], got {threshold}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    stats: dict = {}
    began = time.perf_counter()
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
        segments = scan_segments(scorer, tile(genome, region, window, stride), batch_size=batch_size,
                                 max_n_fraction=max_n_fraction, stats=stats, on_batch=on_batch)
        calls, called = _tee_outputs(region.chrom, segments, threshold, name, bed, track, peaks, big)
    return ScanResult(str(region), len(region), window, stride, count_windows(region.start, region.end, window, stride),
                      stats["scored"], stats["skipped"], calls, called, time.perf_counter() - began,
                      stats["max_batch"], threshold)


def scan_genome(model, genome, region: Region | str, out: str | Path, *, label: str = "promoter",
                window: int | None = None, **options) -> ScanResult:
    """Scan ``region`` with a :class:`SequenceClassifier` (or any scorer callable plus ``window``).

    Args:
        model: a loaded classifier (its ``config.window`` sets the window), or a :data:`Scorer`.
        genome: a :class:`~seqformer.io.Genome`.
        region: a :class:`Region` or a samtools-style string checked against the genome.
        out: the calls' BED6 path.
        label: the model output to scan for.
        window: bases per window; required for a plain scorer, else the model's.
        **options: ``bedgraph``, ``narrowpeak``, ``bigwig``, ``threshold``, ``stride``, ``batch_size``,
            ``max_n_fraction``, ``on_batch`` of :func:`scan_region`.
    """
    from torch import nn

    from seqformer.predict.scorer import classifier_scorer

    if isinstance(region, str):
        region = genome.region(region)
    if isinstance(model, nn.Module):
        scorer, window = classifier_scorer(model, label), window or model.config.window
    else:
        scorer = model
        if window is None:
            raise ValueError("a plain scorer needs window=")
    return scan_region(scorer, genome, region, window, out, name=label, **options)
