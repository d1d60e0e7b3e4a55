"""Per-base peak tracks of a chromatin data folder: its sequence as contiguous pieces, their targets, training draws.

Axes: N bases of a piece, T targets (the folder's peak files, in its target order).

A chromatin data folder (``seqformer data chromatin``) records in ``dataset.json`` where its sequence
comes from (``sources.sequences``: a FASTA of pre-cut records with coordinates in their headers, or an
indexed genome and ``parameters.regions``), one peak file per target (``peaks``), the contigs held out
(``parameters.holdout_chroms``) and the split ranges. A track model reads that sequence itself, not the
windows (:func:`read_peak_track_data`):

- **Segments**: pre-cut records are placed on the genome's forward strand (a minus-strand record
  is reverse-complemented back) and records that overlap or touch are merged into one contiguous
  segment (in dm3's upstream file 26,454 records of 2,000 bases make 9,032 segments: median 2,000
  bases, longest 19,858). In genome mode the (merged) regions are the segments. Contigs held out,
  and contigs without a peak in any file (unassayed, as the window builder calls them), are dropped.
- **Splits**: a segment is cut at the edges of the validation and test ranges and each part goes to
  the split whose range holds it (test before validation), else to train, so no base is in two
  splits. A range given as a bare contig name (``--val-region chr2R``) is the whole contig.
- **Pieces** (the tiles): a part longer than ``tile`` bases is cut into the fewest near-equal
  pieces of at most ``tile`` bases, at whole tokens (multiples of ``k`` from the part's start). A
  piece is what the model reads in one pass, in training and in evaluation alike. Pieces of only N
  are dropped.
- **Targets** (:func:`~seqformer.data.peaks.peak_targets`): base i of a piece is 1 for target t when
  it lies in a merged peak of file t (half-open BED intervals); read on ``-`` the rows are reversed.
- **Draws** (:class:`PieceSampler`): every training piece once per epoch, in batches of pieces of
  similar length (fewer padding tokens), each read on a random strand; draw ``i`` is a pure
  function of ``(seed, i)``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqformer.data.loader import derived_seed
from seqformer.data.peaks import PeakCoverage, peak_targets
from seqformer.data.windows import WindowData
from seqformer.errors import InputError
from seqformer.io.regions import Region, parse_region
from seqformer.io.sequence import reverse_complement

ORDER_STREAM, FLIP_STREAM = 31, 32  # last part of the seeds: epoch order, strand flips
SORT_POOL = 64  # batches whose pieces are sorted by length together before the batches are shuffled
WHOLE_CONTIG = 2**62  # the end of a range given as a bare contig name


@dataclass(frozen=True)
class Piece:
    """A stretch of sequence the model reads in one pass: where it lies, its split and its bases."""

    chrom: str
    start: int  # 0-based
    end: int  # exclusive
    split: str  # train, val or test
    seq: str  # forward strand, upper case

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class PeakTrackData:
    """The pieces of each split and the merged peaks of each target."""

    targets: tuple[str, ...]
    coverages: list[PeakCoverage]  # one per target, in target order
    pieces: dict[str, list[Piece]]  # split -> pieces, in genome order
    counts: dict[str, Any] = field(default_factory=dict)  # segments, bases and pieces per split, what was dropped

    def targets_of(self, piece: Piece, strand: str = "+") -> np.ndarray:
        """(N, T) float32 0/1 per-base targets of ``piece`` read on ``strand``."""
        return peak_targets(self.coverages, piece.chrom, piece.start, piece.end, strand)

    def positive_bases(self, split: str) -> dict[str, int]:
        """target -> bases of ``split`` lying in a peak of the target."""
        by_chrom: dict[str, list[Piece]] = defaultdict(list)
        for p in self.pieces[split]:
            by_chrom[p.chrom].append(p)
        out = {}
        for name, coverage in zip(self.targets, self.coverages):
            out[name] = sum(int(coverage.covered(chrom, np.array([p.start for p in group], np.int64),
                                                 np.array([p.end for p in group], np.int64)).sum())
                            for chrom, group in by_chrom.items())
        return out


@dataclass(frozen=True)
class PeakTrackInputs:
    """What a chromatin data folder records for a track model, checked to exist."""

    kind: str  # "fasta" (pre-cut records) or "genome"
    sequences: Path
    coords: str  # pre-cut header convention (fasta)
    regions: tuple[str, ...]  # genome mode: the regions tiled
    peaks: tuple[Path, ...]  # one per target
    holdout: tuple[str, ...]
    val: tuple[Region, ...]
    test: tuple[Region, ...]


def _as_tuple(value: Any) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


def _path(value: str, base: Path) -> Path:
    path = Path(value)
    return path if path.is_absolute() else base / path


def _ranges(texts: Iterable[str]) -> tuple[Region, ...]:
    """Split ranges: ``chrom:start-end`` as written, a bare contig name as the whole contig."""
    return tuple(parse_region(t) if ":" in t else Region(t, 0, WHOLE_CONTIG) for t in texts)


def peak_track_inputs(data: WindowData, task: str = "chromatin-track") -> PeakTrackInputs:
    """The sequence source, peak files, held-out contigs and split ranges of a chromatin data folder.

    InputError (one line) for another kind of folder, or a source or peak file that is missing.
    """
    meta = data.meta
    if meta.get("task") != "chromatin":
        raise InputError(f"{task} reads a chromatin data folder (seqformer data chromatin); this one was made "
                         f"for {meta.get('task')!r}", path=data.path)
    params = meta.get("parameters") if isinstance(meta.get("parameters"), dict) else {}
    source = (meta.get("sources") or {}).get("sequences")
    peaks = meta.get("peaks")
    if not isinstance(source, dict) or not isinstance(peaks, list) or len(peaks) != len(data.targets):
        raise InputError("dataset.json records no sequence source or not one peak file per target; rebuild the "
                         "folder with `seqformer data chromatin`", path=data.path)
    kind = source.get("kind")
    if kind not in ("fasta", "genome"):
        raise InputError(f"a chromatin track reads pre-cut records or a genome, not a {kind!r} source",
                         path=data.path)
    sequences = _path(str(source.get("path", "")), data.path)
    if not sequences.is_file():
        raise InputError("the sequences the data folder was built from are missing", path=sequences)
    paths = tuple(_path(str(p), data.path) for p in peaks)
    for name, path in zip(data.targets, paths):
        if not path.is_file():
            raise InputError(f"the peak file of target {name!r} is missing", path=path)
    splits = meta.get("splits") if isinstance(meta.get("splits"), dict) else {}
    ranges = {}
    for split in ("val", "test"):
        texts = _as_tuple(params.get(f"{split}_regions")) or _as_tuple(splits.get(split))
        ranges[split] = _ranges(texts)
    return PeakTrackInputs(kind, sequences, str(source.get("coords", "auto")), _as_tuple(params.get("regions")),
                           paths, _as_tuple(params.get("holdout_chroms")), ranges["val"], ranges["test"])


# --- segments and pieces ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stretch:
    """Bases placed on the forward strand of a contig (a record, a region, or several merged)."""

    chrom: str
    start: int
    seq: str

    @property
    def end(self) -> int:
        return self.start + len(self.seq)


def merge_stretches(stretches: Iterable[Stretch]) -> list[Stretch]:
    """Stretches that overlap or touch joined into contiguous segments, sorted by contig and start.

    Where two stretches overlap the first one's bases are kept (pre-cut records agree there).
    """
    out: list[Stretch] = []
    for s in sorted(stretches, key=lambda s: (s.chrom, s.start, -s.end)):
        last = out[-1] if out else None
        if last is not None and last.chrom == s.chrom and s.start <= last.end:
            if s.end > last.end:
                out[-1] = Stretch(last.chrom, last.start, last.seq + s.seq[last.end - s.start:])
        else:
            out.append(s)
    return out


def split_parts(segment: Stretch, val: Sequence[Region], test: Sequence[Region]) -> list[tuple[Region, str]]:
    """``segment`` cut at the edges of the split ranges: (part, split) in order; test wins over val."""
    cuts = {segment.start, segment.end}
    for r in (*val, *test):
        if r.chrom == segment.chrom:
            cuts.update(x for x in (r.start, r.end) if segment.start < x < segment.end)
    edges = sorted(cuts)
    out = []
    for a, b in zip(edges, edges[1:]):
        inside = [any(r.chrom == segment.chrom and r.start <= a and b <= r.end for r in ranges)
                  for ranges in (test, val)]
        out.append((Region(segment.chrom, a, b), "test" if inside[0] else "val" if inside[1] else "train"))
    return out


def cut_pieces(start: int, end: int, tile: int, k: int) -> list[tuple[int, int]]:
    """[start, end) as the fewest near-equal pieces of at most ``tile`` bases, cut at multiples of ``k`` from start."""
    if tile < k or tile % k:
        raise ValueError(f"tile ({tile}) must be a positive multiple of k ({k})")
    count = math.ceil((end - start) / tile)
    per = math.ceil(math.ceil((end - start) / k) / count) * k  # bases per piece (whole tokens)
    return [(s, min(s + per, end)) for s in range(start, end, per)]


def _records(inputs: PeakTrackInputs) -> list[Stretch]:
    from seqformer.io.precut import read_precut

    records, _ = read_precut(inputs.sequences, inputs.coords)
    return [Stretch(r.chrom, r.start, r.seq if r.strand == "+" else reverse_complement(r.seq)) for r in records]


def _regions(inputs: PeakTrackInputs) -> list[Stretch]:
    from seqformer.io.genome import Genome

    with Genome(inputs.sequences) as genome:
        out = []
        for text in inputs.regions:
            region = genome.region(text)
            out.append(Stretch(region.chrom, region.start, genome.fetch(region.chrom, region.start,
                                                                        region.end).upper()))
    return out


def read_peak_track_data(data: WindowData, tile: int, k: int, task: str = "chromatin-track") -> PeakTrackData:
    """The pieces of every split and the merged peaks of a chromatin data folder (see the module docstring)."""
    from seqformer.io.bed import read_bed

    inputs = peak_track_inputs(data, task)
    coverages = [PeakCoverage(read_bed(path)) for path in inputs.peaks]
    assayed = set().union(*(c.contigs for c in coverages))
    stretches = _records(inputs) if inputs.kind == "fasta" else _regions(inputs)
    dropped = {"holdout_contigs": 0, "unassayed_contigs": 0, "only_n": 0}  # stretches (records or regions), pieces
    kept = []
    for s in stretches:
        if s.chrom in inputs.holdout:
            dropped["holdout_contigs"] += 1
        elif s.chrom not in assayed:
            dropped["unassayed_contigs"] += 1
        else:
            kept.append(s)
    segments = merge_stretches(kept)
    pieces: dict[str, list[Piece]] = {"train": [], "val": [], "test": []}
    for segment in segments:
        for part, split in split_parts(segment, inputs.val, inputs.test):
            for a, b in cut_pieces(part.start, part.end, tile, k):
                seq = segment.seq[a - segment.start:b - segment.start]
                if seq.count("N") == len(seq):
                    dropped["only_n"] += 1
                    continue
                pieces[split].append(Piece(part.chrom, a, b, split, seq))
    counts = {"stretches": len(stretches), "segments": len(segments), "dropped": dropped,
              **{split: {"pieces": len(p), "bases": sum(len(x) for x in p)} for split, p in pieces.items()}}
    return PeakTrackData(tuple(data.targets), coverages, pieces, counts)


# --- training draws -------------------------------------------------------------------------------------
class PieceSampler:
    """Training draws over pieces, as the module docstring says: ``draw(i)`` is (bases as read, targets (N, T),
    (chrom, start, end, strand)).

    An epoch is ``tiles_per_epoch`` draws: every piece once, the last batch filled up with the epoch's first
    pieces; within pools of :data:`SORT_POOL` batches the pieces are sorted by length, then batches shuffled.
    """

    def __init__(self, data: PeakTrackData, pieces: Sequence[Piece], batch_size: int, *, seed: int = 0,
                 rc_augment: bool = True) -> None:
        if not pieces:
            raise ValueError("no pieces to draw from")
        self.data, self.pieces, self.batch_size = data, list(pieces), batch_size
        self.seed, self.rc_augment = seed, rc_augment
        self.lengths = np.array([len(p) for p in self.pieces], dtype=np.int64)
        self.tiles_per_epoch = math.ceil(len(self.pieces) / batch_size) * batch_size
        self._orders: dict[int, np.ndarray] = {}

    def epoch_order(self, epoch: int) -> np.ndarray:
        """(tiles_per_epoch,) piece indices of ``epoch``'s draws."""
        if epoch not in self._orders:
            rng = np.random.default_rng(derived_seed(self.seed, epoch, ORDER_STREAM))
            order = rng.permutation(len(self.pieces))
            order = np.concatenate([order, order[:self.tiles_per_epoch - len(order)]])
            pool = SORT_POOL * self.batch_size
            order = np.concatenate([chunk[np.argsort(self.lengths[chunk], kind="stable")]
                                    for chunk in np.split(order, list(range(pool, len(order), pool)))])
            batches = order.reshape(-1, self.batch_size)
            self._orders = {epoch: batches[rng.permutation(len(batches))].ravel()}  # the latest epoch only
        return self._orders[epoch]

    def draw(self, index: int) -> tuple[str, np.ndarray, tuple[str, int, int, str]]:
        epoch, j = divmod(index, self.tiles_per_epoch)
        piece = self.pieces[int(self.epoch_order(epoch)[j])]
        flip = self.rc_augment and np.random.default_rng(derived_seed(self.seed, index, FLIP_STREAM)).random() < 0.5
        strand = "-" if flip else "+"
        seq = reverse_complement(piece.seq) if flip else piece.seq
        return seq, self.data.targets_of(piece, strand), (piece.chrom, piece.start, piece.end, strand)


def token_positive_weights(data: PeakTrackData, pieces: Sequence[Piece], k: int) -> np.ndarray:
    """(T,) n_negative / n_positive training tokens per target (1 where a target has no positive token);
    a token is positive when one of its k bases is."""
    positive = np.zeros(len(data.targets), dtype=np.float64)
    tokens = 0
    for p in pieces:
        per_token = np.maximum.reduceat(data.targets_of(p), np.arange(0, len(p), k), axis=0)  # (n, T)
        positive += per_token.sum(axis=0)
        tokens += len(per_token)
    return np.where(positive > 0, (tokens - positive) / np.maximum(positive, 1), 1.0)
