"""Tile scanning: one pass per long tile per strand, per-base tracks stitched from the tiles' cores.

Axes: B tiles per batch, n tokens of a tile, k bases per token.

A track model (:class:`~seqformer.models.token_classifier.TokenClassifier`) gives every token a
probability. To scan a region it reads tiles of ``tile`` bases; each tile keeps only its **core**,
the middle ``tile - 2·context`` bases, so every kept base had ``context`` bases of sequence on both
sides (less only at a contig's ends, where there is none). Cores tile the region without overlap:
every base is computed once per strand.

- **Plan** (:func:`tile_plan`): core ``i`` is ``[region.start + i·C, min(+C, region.end))`` with
  ``C = tile - 2·context``; its input is the core widened by up to ``context`` bases each side,
  clipped to the contig, the left widening rounded down to whole tokens so that token boundaries
  fall on the core's start, the right widening counted from the end of the core's last token (a
  partial last token reads the genome's bases past the core, not N). The input is padded with N to
  whole tokens (only at a contig's end).
- **Strands**: each input is read as it is (+) and reverse-complemented (-); the - strand's
  per-token values are put back in forward order. A base's score is the **max** of the two
  strands, its strand that of the max (+ on a tie), as in the window scanner.
- **Smoothing**: the per-token max over strands is averaged over a window of ``smooth`` bases
  (the model's ``config.smooth``; 500 in the recipe; all-N tokens left out; the strand is that of
  the larger of the two strands' means over the same window): a
  per-token track is spiky, and thresholding it splits one promoter into many short calls and
  counts every flicker of background as a call. The mean is taken within the tile, so it is the
  whole-contig mean wherever ``context`` covers half the window plus the model's reach.
- **N**: a token whose bases are all N has no score (no track, no call there); a tile whose core is
  all N is not run at all (it is counted as skipped).
- **Segments**: each token of a core becomes a :class:`~seqformer.predict.calls.Segment` of its k
  bases (the last one clipped to the core), so calls, summits, bedGraph and bigWig come out of the
  same code as the window scanner's (:func:`seqformer.predict.scan.scan_region`).

A *track scorer* maps a list of equally long DNA strings (whole tokens) to one array of per-token
probabilities each; :func:`track_scorer` makes one from a model, tests pass plain functions.
Memory holds one batch of tiles: it does not grow with the region.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqformer.errors import InputError
from seqformer.io.regions import Region
from seqformer.io.sequence import reverse_complement
from seqformer.predict.calls import Segment

TrackScorer = Callable[[Sequence[str]], Sequence[np.ndarray]]  # B strings (whole tokens) -> B arrays (n,)


@dataclass(frozen=True)
class TilePlan:
    """One tile: the bases it reads ``[in_start, in_end)`` and the core ``[core_start, core_end)`` it keeps."""

    chrom: str
    in_start: int
    in_end: int
    core_start: int
    core_end: int


def check_tiles(tile: int, context: int, k: int) -> int:
    """The core length ``tile - 2·context``; InputError unless tile and context are whole tokens and a core is left."""
    if tile < 1 or context < 0:
        raise InputError(f"--tile must be positive and --context non-negative, got {tile} and {context}")
    if tile % k or context % k:
        raise InputError(f"--tile ({tile}) and --context ({context}) must be multiples of the model's k-mer "
                         f"length {k}")
    core = tile - 2 * context
    if core < k:
        raise InputError(f"--context ({context}) leaves no core in a {tile}-base tile: it must be less than "
                         f"half the tile")
    return core


def tile_plan(region: Region, contig_length: int, tile: int, context: int, k: int) -> Iterator[TilePlan]:
    """The tiles covering ``region`` (see the module docstring)."""
    core = check_tiles(tile, context, k)
    for core_start in range(region.start, region.end, core):
        core_end = min(core_start + core, region.end)
        back = min(context, core_start) // k * k
        last_token_end = core_end + (core_start - core_end) % k  # a partial last token reads real bases
        yield TilePlan(region.chrom, core_start - back, min(last_token_end + context, contig_length), core_start,
                       core_end)


def _pad(seq: str, k: int) -> str:
    return seq + "N" * (-len(seq) % k)


def _all_n(seq: str, k: int) -> np.ndarray:
    """(n,) True where a token's k bases are all N."""
    arr = np.frombuffer(seq.encode("ascii"), dtype=np.uint8).reshape(-1, k)
    return (arr == ord("N")).all(axis=1)


def smooth_tokens(smooth: int, k: int) -> int:
    """Tokens in the moving mean of ``smooth`` bases: ``smooth / k`` rounded, made odd (1 = no smoothing)."""
    if smooth < 0:
        raise InputError(f"--smooth must be 0 (none) or a number of bases, got {smooth}")
    width = max(1, round(smooth / k))
    return width if width % 2 else width + 1


def moving_mean(values: np.ndarray, valid: np.ndarray, width: int) -> np.ndarray:
    """Mean of ``values`` over the ``width`` (odd) tokens centred on each token, counting only ``valid`` ones
    (fewer near the ends); NaN where none is valid."""
    if width <= 1:
        return np.where(valid, values, np.nan)
    half, n = width // 2, len(values)
    lo, hi = np.clip(np.arange(n) - half, 0, n), np.clip(np.arange(n) + half + 1, 0, n)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(valid)])
    total, count = sums[hi] - sums[lo], (counts[hi] - counts[lo]).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0.5, total / np.maximum(count, 1.0), np.nan)


def score_tiles(scorer: TrackScorer, seqs: Sequence[str], k: int,
                width: int = 1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-token (max over strands, strand is +) of each padded forward string; NaN where all N.

    With ``width`` > 1 the max over strands is averaged over ``width`` tokens (:func:`moving_mean`, all-N
    tokens left out), the track a call is made on; the strand is that of the larger mean of the two.
    """
    rcs = [reverse_complement(s) for s in seqs]
    values = scorer(list(seqs) + rcs)
    best, plus_won = [], []
    for i, seq in enumerate(seqs):
        plus = np.asarray(values[i], dtype=np.float64)
        minus = np.asarray(values[len(seqs) + i], dtype=np.float64)[::-1]
        if plus.shape != minus.shape or len(plus) != len(seq) // k:
            raise ValueError(f"a track scorer returned {len(plus)} and {len(minus)} values for "
                             f"{len(seq) // k} tokens")
        valid = ~_all_n(seq, k)
        value = moving_mean(np.maximum(plus, minus), valid, width)
        value[~valid] = np.nan
        best.append(value)
        plus_won.append(moving_mean(plus, valid, width) >= moving_mean(minus, valid, width))
    return best, plus_won


def _segments(plan: TilePlan, values: np.ndarray, plus_won: np.ndarray, k: int) -> Iterator[Segment]:
    first = (plan.core_start - plan.in_start) // k
    for j in range(first, first + -(-(plan.core_end - plan.core_start) // k)):
        value = values[j]
        if value != value:  # NaN: all N
            continue
        start = plan.in_start + j * k
        yield Segment(start, min(start + k, plan.core_end), float(value), float(value), "+" if plus_won[j] else "-")


def track_segments(scorer: TrackScorer, genome, region: Region, *, tile: int, context: int, k: int,
                   smooth: int = 0, batch_size: int = 8, stats: dict | None = None,
                   on_batch: Callable[[int, int], None] | None = None) -> Iterator[Segment]:
    """Scan ``region`` tile by tile and yield its per-token :class:`Segment` s in order, streaming.

    Args:
        scorer: a :data:`TrackScorer` (called with up to ``2 · batch_size`` strings: both strands).
        genome: has ``fetch(chrom, start, end)`` and ``contigs`` (lengths).
        tile, context, k: the tiling (bases); tile and context multiples of k.
        smooth: bases of the moving mean of each strand's values (:func:`smooth_tokens`; 0 = none); exact
            when ``context`` covers half of it plus the model's reach.
        stats: if given, updated with ``tiles`` (scored), ``skipped`` (cores of only N: no score, not run)
            and ``max_batch``.
        on_batch: called as ``on_batch(tiles_done, last_base_done)`` after each batch.
    """
    stats = stats if stats is not None else {}
    stats.update(tiles=0, skipped=0, max_batch=0)
    contig_length = dict(genome.contigs)[region.chrom]
    width = smooth_tokens(smooth, k)
    batch: list[tuple[TilePlan, str]] = []

    def run() -> Iterator[Segment]:
        seqs = [seq for _, seq in batch]
        values, plus_won = score_tiles(scorer, seqs, k, width)
        stats["tiles"] += len(batch)
        stats["max_batch"] = max(stats["max_batch"], len(batch))
        for (plan, _), v, p in zip(batch, values, plus_won):
            yield from _segments(plan, v, p, k)
        if on_batch is not None:
            on_batch(stats["tiles"], batch[-1][0].core_end)
        batch.clear()

    for plan in tile_plan(region, contig_length, tile, context, k):
        seq = _pad(genome.fetch(plan.chrom, plan.in_start, plan.in_end).upper(), k)
        first = plan.core_start - plan.in_start
        if seq.count("N", first, first + plan.core_end - plan.core_start) == plan.core_end - plan.core_start:
            stats["skipped"] += 1  # every token of the core is all N: it would get no score
            continue
        if batch and (len(batch) >= batch_size or len(seq) != len(batch[0][1])):
            yield from run()
        batch.append((plan, seq))
    if batch:
        yield from run()


def track_scorer(model, label: str | None = None, device: torch.device | str | None = None) -> TrackScorer:
    """A :data:`TrackScorer` from a :class:`TokenClassifier`: per-body-token probabilities of ``label``."""
    from seqformer.predict.scorer import label_index

    index = 0 if label is None else label_index(model, label)
    device = next(model.parameters()).device if device is None else torch.device(device)
    tokenizer = model.tokenizer

    @torch.no_grad()
    def score(seqs: Sequence[str]) -> list[np.ndarray]:
        enc = tokenizer.batch_encode(list(seqs), padding="longest")
        logits = model(enc.input_ids.to(device), enc.attention_mask.to(device)).logits  # (B, L, T)
        probs = model.predict_proba(logits[..., index]).float().cpu().numpy()  # (B, L)
        body = tokenizer.token_spans(len(seqs[0]))[:, 0] >= 0  # equal lengths: one layout
        return [row[body] for row in probs]

    return score


def scan_track_region(scorer: TrackScorer, genome, region: Region, out, *, tile: int, context: int, k: int,
                      smooth: int = 0, batch_size: int = 8, threshold: float = 0.5, name: str = "promoter",
                      on_batch: Callable[[int, int], None] | None = None, **outputs):
    """Scan ``region`` tile by tile; the same outputs as the window scanner (:func:`~seqformer.predict.calls.scan_outputs`:
    ``bedgraph``, ``narrowpeak``, ``bigwig``). Returns a :class:`~seqformer.predict.calls.ScanResult` whose
    window is the tile, stride the core, and windows the tiles."""
    import time

    from seqformer.predict.calls import ScanResult, scan_outputs

    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    core = check_tiles(tile, context, k)
    stats: dict = {}
    began = time.perf_counter()
    with scan_outputs(genome, region, out, threshold=threshold, name=name, **outputs) as write:
        calls, called = write(track_segments(scorer, genome, region, tile=tile, context=context, k=k,
                                             smooth=smooth, batch_size=batch_size, stats=stats, on_batch=on_batch))
    tiles = -(-len(region) // core)
    return ScanResult(str(region), len(region), tile, core, tiles, stats["tiles"], stats["skipped"], calls, called,
                      time.perf_counter() - began, stats["max_batch"], threshold)


def track_window_probs(model, genome, rows, *, label: str | None = None, batch_size: int = 8) -> np.ndarray:
    """(N,) each window's score under a track model: the highest per-base probability inside the window
    (both strands), read within its genome context (the model's tile and context around it).

    ``rows`` has ``chrom``, ``start``, ``end`` (0-based half-open); a window of only N scores NaN.
    """
    scorer = track_scorer(model, label)
    config = model.config
    out = np.full(len(rows), np.nan)
    for i, (chrom, start, end) in enumerate(zip(rows["chrom"], rows["start"], rows["end"])):
        values = [s.value for s in track_segments(scorer, genome, Region(str(chrom), int(start), int(end)),
                                                  tile=config.tile, context=config.context, k=config.k,
                                                  smooth=config.smooth, batch_size=batch_size)]
        if values:
            out[i] = max(values)
    return out
