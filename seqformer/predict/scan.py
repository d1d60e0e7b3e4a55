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
- **Calls**: maximal contiguous runs of bases with per-base score, rounded to 4 decimals as the track
  shows it, >= ``threshold`` (touching segments merged into one region; the calibration sweeps the same
  rounded scores, so its figures are those of ``evaluate scan`` on the written track), written as BED6: name = the label scored (``promoter``),
  score = round(peak per-base probability x 1000), an int in 0..1000, strand = the strand of the
  highest-scoring window covering the call. Each call has a **summit**: the base of its highest
  per-base score as the track shows it (rounded to 4 decimals): the middle base ``(a + b) // 2`` of
  the first maximal stretch ``[a, b)`` at that score (as :func:`seqformer.evaluation.scan.calls_at`
  finds it on the bedGraph).
- **Outputs** (:mod:`seqformer.predict.calls`, shared with the tile scan of track models; each written to a temporary file beside its target and renamed at the end): the calls
  as BED6, optionally as narrowPeak (BED6+4: signalValue = peak probability, pValue = qValue = -1,
  peak = summit - start), and the track as bedGraph and/or bigWig (through pyBigWig; its header holds
  every contig of the genome, with the lengths of its index).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from seqformer.errors import InputError
from seqformer.io.regions import Region
from seqformer.io.sequence import reverse_complement
from seqformer.predict.calls import (  # noqa: F401  (re-exported: the scan's outputs)
    TRACK_DECIMALS,
    BigWigTrack,
    Call,
    ScanResult,
    Segment,
    call_peaks,
    scan_outputs,
    track_runs,
)
from seqformer.predict.windows import Window, batched, check_tiling, count_windows, tile

Scorer = Callable[[Sequence[str]], np.ndarray]  # list of B window strings -> probabilities (B,)

MAX_N_FRACTION = 0.5  # windows with more N than this are skipped


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


def scan_region(scorer: Scorer, genome, region: Region, window: int, out: str | Path, *,
                bedgraph: str | Path | None = None, narrowpeak: str | Path | None = None,
                bigwig: str | Path | None = None, threshold: float = 0.5, stride: int | None = None,
                batch_size: int = 64, max_n_fraction: float = MAX_N_FRACTION, name: str = "promoter",
                on_batch: Callable[[int, int], None] | None = None) -> ScanResult:
    """Scan ``region`` of ``genome`` with ``scorer``; write calls (BED6, optionally narrowPeak) and
    optionally the track (bedGraph, bigWig), through :func:`scan_outputs`.

    Calls are in start order on one contig, hence sorted.
    """
    stride = max(1, window // 2) if stride is None else stride
    check_tiling(region, window, stride)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    stats: dict = {}
    began = time.perf_counter()
    with scan_outputs(genome, region, out, bedgraph=bedgraph, narrowpeak=narrowpeak, bigwig=bigwig,
                      threshold=threshold, name=name) as write:
        calls, called = write(scan_segments(scorer, tile(genome, region, window, stride), batch_size=batch_size,
                                            max_n_fraction=max_n_fraction, stats=stats, on_batch=on_batch))
    return ScanResult(str(region), len(region), window, stride, count_windows(region.start, region.end, window, stride),
                      stats["scored"], stats["skipped"], calls, called, time.perf_counter() - began,
                      stats["max_batch"], threshold)


def scan_genome(model, genome, region: Region | str, out: str | Path, *, label: str = "promoter",
                window: int | None = None, tile: int | None = None, context: int | None = None,
                smooth: int | None = None, **options) -> ScanResult:
    """Scan ``region`` with a :class:`SequenceClassifier`, a track model
    (:class:`~seqformer.models.token_classifier.TokenClassifier`, scanned tile by tile through
    :mod:`seqformer.predict.tiles`) or any window scorer callable plus ``window``.

    Args:
        model: a loaded classifier (its ``config.window`` sets the window), a track model (its
            ``config.tile`` and ``config.context`` are the defaults of ``tile`` and ``context``), or a
            :data:`Scorer`.
        genome: a :class:`~seqformer.io.Genome`.
        region: a :class:`Region` or a samtools-style string checked against the genome.
        out: the calls' BED6 path.
        label: the model output to scan for.
        window: bases per window; required for a plain scorer, else the model's.
        tile, context, smooth: a track model's tiling and smoothing in bases (default: its config's;
            window models: must be None).
        **options: ``bedgraph``, ``narrowpeak``, ``bigwig``, ``threshold``, ``batch_size``, ``on_batch``,
            and for window models ``stride`` and ``max_n_fraction``, of :func:`scan_region`.
    """
    from torch import nn

    from seqformer.models.token_classifier import TokenClassifier
    from seqformer.predict.scorer import classifier_scorer

    if isinstance(region, str):
        region = genome.region(region)
    if isinstance(model, TokenClassifier):
        from seqformer.predict.tiles import scan_track_region, track_scorer

        for option in ("stride", "max_n_fraction"):
            if options.pop(option, None) is not None:
                raise InputError(f"--{option.replace('_', '-')} applies to window models; a track model "
                                 f"is scanned in tiles (--tile, --context)")
        return scan_track_region(track_scorer(model, label), genome, region, out, name=label,
                                 tile=tile or model.config.tile,
                                 context=model.config.context if context is None else context,
                                 smooth=model.config.smooth if smooth is None else smooth,
                                 k=model.config.k, **options)
    if tile is not None or context is not None or smooth is not None:
        raise InputError("--tile, --context and --smooth apply to track models (seqformer finetune promoter-track); "
                         "this is a window model")
    if isinstance(model, nn.Module):
        scorer, window = classifier_scorer(model, label), window or model.config.window
    else:
        scorer = model
        if window is None:
            raise ValueError("a plain scorer needs window=")
    return scan_region(scorer, genome, region, window, out, name=label, **options)
