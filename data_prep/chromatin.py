"""Chromatin-profile windows: one binary target per peak file, DeepSEA style (``seqformer data chromatin``).

Coordinates are 0-based, half-open (region options are samtools style, 1-based, inclusive).

- Windows of ``window`` bases are tiled every ``stride`` bases over either an indexed genome's
  regions (``regions`` given) or each record of a FASTA of pre-cut sequences whose headers carry
  coordinates (:mod:`seqformer.io.precut`; minus-strand records are read reverse-complemented, so every
  window is on the genome's forward strand). A window found twice (overlapping records) is kept once.
- Target ``t`` of a window is 1 when at least ``min_overlap`` bases of its central ``bin`` bases lie
  in a peak of file ``t`` (peaks are merged first); target names are the file names without
  ``.bed``/``.gz``/``.narrowPeak``.
- Contigs in ``holdout_chroms`` (e.g. ``chrX``, whose peaks are withheld) are dropped whole. Contigs on
  which no peak file has a single peak (in dm3: the ``Het`` and ``U`` contigs, which the ChIP peak
  calls did not cover) are dropped too, as unassayed rather than negative, and counted.
  A peak file naming a contig absent from the sequences is an error.
- Windows with more than ``max_n`` N are dropped. Splits are coordinate ranges as in
  :mod:`data_prep.promoters` (a contig name is the whole contig); a window straddling a range
  edge is dropped. By default validation is the second-to-last and test the last tenth of each
  contig's span.

Writes a labelled-window data folder (:mod:`seqformer.data.windows`): ``windows.tsv`` and
``dataset.json``, renamed into place so that an error leaves nothing behind.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqformer.data.peaks import PeakCoverage
from seqformer.data.windows import SPLITS, check_new_data_folder, target_counts, write_window_data
from seqformer.errors import InputError
from seqformer.io import Region, parse_region, read_bed
from seqformer.io.regions import missing_contig_message


@dataclass(frozen=True)
class ChromatinDataParams:
    """How windows are cut, labelled, filtered and split."""

    window: int = 1000  # bases per window
    bin: int = 200  # central bases whose overlap with a peak sets a target
    stride: int = 200  # bases between window starts
    min_overlap: int = 1  # bases of the central bin that must lie in a peak
    regions: tuple[str, ...] = ()  # genome mode: regions to tile; () = pre-cut FASTA records
    holdout_chroms: tuple[str, ...] = ()  # contigs dropped whole (held out from everything)
    val_regions: tuple[str, ...] = ()  # validation ranges; () = second-to-last tenth of each contig's span
    test_regions: tuple[str, ...] = ()  # test ranges; () = last tenth of each contig's span
    max_n: float = 0.05  # largest share of N bases in a kept window
    coords: str = "auto"  # pre-cut header convention: auto, one-based or zero-based

    def check(self) -> None:
        """InputError for an option out of range."""
        if self.window < 1 or self.stride < 1:
            raise InputError("--window and --stride must be positive")
        if not 1 <= self.bin <= self.window:
            raise InputError(f"--bin must be between 1 and the window ({self.window}), got {self.bin}")
        if not 1 <= self.min_overlap <= self.bin:
            raise InputError(f"--min-overlap must be between 1 and the bin ({self.bin}), got {self.min_overlap}")
        if not 0.0 <= self.max_n <= 1.0:
            raise InputError(f"--max-n must be a fraction in [0, 1], got {self.max_n}")


@dataclass
class ChromatinDataset:
    """What :func:`build_chromatin_dataset` wrote."""

    out: Path
    targets: tuple[str, ...]
    counts: dict[str, dict[str, int]]  # split -> windows and positives per target
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> windows (or records) dropped


def target_name(path: str | Path) -> str:
    """A target's name from its file: the file name without .gz and .bed/.narrowPeak/.broadPeak/.fa/.fasta."""
    return re.sub(r"(\.(narrowPeak|broadPeak|bed|fa|fasta|fna))?(\.gz)?$", "", Path(path).name)


def read_peak_files(paths: Sequence[str | Path]) -> tuple[tuple[str, ...], list[pd.DataFrame]]:
    """Target names and BED tables of the peak files; InputError for duplicate names or an empty file."""
    if not paths:
        raise InputError("give at least one --peaks file")
    names = tuple(target_name(p) for p in paths)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"two peak files give the same target name {twice[0]!r}; rename one")
    tables = []
    for path in paths:
        table = read_bed(path)
        if len(table) == 0:
            raise InputError("no peaks", path=path)
        tables.append(table)
    return names, tables


def parse_ranges(texts: Sequence[str], spans: dict[str, int], source: str) -> list[Region]:
    """Split ranges as given: ``chrom:start-end`` as written, a bare contig name as its whole ``spans`` length."""
    return [parse_region(t) if ":" in t else parse_region(t, spans, source=source) for t in texts]


def _split_ranges(texts: Sequence[str], spans: dict[str, tuple[int, int]], which: int, source: str) -> list[Region]:
    """The ranges of a split: the user's, or the ``which``-th last tenth of every contig's span."""
    if texts:
        return parse_ranges(texts, {c: hi for c, (_, hi) in spans.items()}, source)
    ranges = []
    for chrom, (lo, hi) in spans.items():
        tenth = (hi - lo) // 10
        end = hi - (which - 1) * tenth
        ranges.append(Region(chrom, end - tenth, end))
    return ranges


def assign_splits(chroms: np.ndarray, starts: np.ndarray, ends: np.ndarray, val: list[Region],
                  test: list[Region]) -> np.ndarray:
    """Split name per window: inside a test range ``test``, a validation range ``val``, else ``train``;
    ``""`` for a window overlapping a range without lying inside it."""
    split = np.full(len(starts), "train", dtype=object)
    for name, ranges in (("val", val), ("test", test)):
        for r in ranges:
            on = chroms == r.chrom
            inside = on & (starts >= r.start) & (ends <= r.end)
            overlaps = on & (starts < r.end) & (ends > r.start)
            split[inside & (split == "train")] = name
            split[overlaps & ~inside] = ""
    return split


def _precut_windows(path: Path, params: ChromatinDataParams, dropped: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """Candidate windows of every pre-cut record (forward strand), their N share, and the contigs seen."""
    from seqformer.io.precut import read_precut
    from seqformer.predict.windows import window_starts

    records, coords = read_precut(path, params.coords)
    rows = []
    for rec in records:
        starts = np.asarray(window_starts(rec.start, rec.end, params.window, params.stride), dtype=np.int64)
        if len(starts) == 0:
            dropped["records_shorter_than_window"] += 1
            continue
        ends = starts + params.window
        offsets = starts - rec.start if rec.strand == "+" else rec.end - ends
        n_share = np.array([_n_share(rec.seq[o:o + params.window]) for o in offsets])
        rows.append(pd.DataFrame({"chrom": rec.chrom, "start": starts, "end": ends, "record": rec.id,
                                  "offset": offsets, "strand": rec.strand, "n_share": n_share}))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["chrom", "start", "end", "record", "offset", "strand", "n_share"])
    lengths: dict[str, int] = {}
    for rec in records:
        lengths[rec.chrom] = max(lengths.get(rec.chrom, 0), rec.end)
    source = {"kind": "fasta", "path": str(path.resolve()), "coords": coords}
    return table, {"source": source, "contigs": lengths, "records": len(records)}


def _n_share(seq: str) -> float:
    return 1.0 - sum(seq.count(b) for b in "ACGT") / max(len(seq), 1)


def _genome_windows(path: Path, params: ChromatinDataParams) -> tuple[pd.DataFrame, dict]:
    """Candidate windows tiling the genome regions, and their N share."""
    from seqformer.io import Genome
    from seqformer.predict.windows import tile

    rows = []
    with Genome(path) as genome:
        contigs = dict(genome.contigs)
        for text in params.regions:
            region = genome.region(text)
            for w in tile(genome, region, params.window, params.stride):
                rows.append((w.chrom, w.start, w.end, w.chrom, w.start, "+", _n_share(w.seq)))
    table = pd.DataFrame(rows, columns=["chrom", "start", "end", "record", "offset", "strand", "n_share"])
    if len(table) == 0:
        raise InputError(f"the regions {', '.join(params.regions)} hold no window of {params.window} bases")
    return table, {"source": {"kind": "genome", "path": str(path.resolve())}, "contigs": contigs}


def build_chromatin_dataset(sequences: str | Path, peak_paths: Sequence[str | Path], out: str | Path,
                            params: ChromatinDataParams = ChromatinDataParams()) -> ChromatinDataset:
    """Tile, label, filter and split windows (see the module docstring); write the data folder ``out``."""
    params.check()
    check_new_data_folder(out)
    sequences = Path(sequences)
    names, peaks = read_peak_files(peak_paths)
    dropped = {"records_shorter_than_window": 0, "duplicate_windows": 0, "holdout_contigs": 0,
               "unassayed_contigs": 0, "too_many_n": 0, "straddling_splits": 0}
    if params.regions:
        table, found = _genome_windows(sequences, params)
    else:
        table, found = _precut_windows(sequences, params, dropped)
    contigs = found["contigs"]
    for path, bed in zip(peak_paths, peaks):
        for chrom in bed["chrom"].unique():
            if chrom not in contigs and chrom not in params.holdout_chroms:
                raise InputError(missing_contig_message(chrom, contigs, sequences.name), path=path)
    before = len(table)
    table = table.drop_duplicates(["chrom", "start", "end"]).reset_index(drop=True)
    dropped["duplicate_windows"] = before - len(table)
    held = table["chrom"].isin(params.holdout_chroms).to_numpy()
    dropped["holdout_contigs"] = int(held.sum())
    assayed = set().union(*(set(bed["chrom"]) for bed in peaks))
    unassayed = ~held & ~table["chrom"].isin(assayed).to_numpy()
    dropped["unassayed_contigs"] = int(unassayed.sum())
    too_n = ~held & ~unassayed & (table["n_share"].to_numpy() > params.max_n)
    dropped["too_many_n"] = int(too_n.sum())
    table = table[~(held | unassayed | too_n)].reset_index(drop=True)
    spans = {c: (int(g["start"].min()), int(g["end"].max())) for c, g in table.groupby("chrom", sort=False)}
    val = _split_ranges(params.val_regions, spans, 2, sequences.name)
    test = _split_ranges(params.test_regions, spans, 1, sequences.name)
    chroms, starts, ends = table["chrom"].to_numpy(), table["start"].to_numpy(), table["end"].to_numpy()
    split = assign_splits(chroms, starts, ends, val, test)
    dropped["straddling_splits"] = int((split == "").sum())
    table["split"] = split
    table = table[split != ""].reset_index(drop=True)
    if len(table) == 0:
        reasons = ", ".join(f"{n:,} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise InputError(f"no windows left ({reasons})", path=sequences)
    bin_lo = table["start"].to_numpy() + (params.window - params.bin) // 2
    for name, bed in zip(names, peaks):
        coverage = PeakCoverage(bed)
        labels = np.zeros(len(table), dtype=np.int64)
        for chrom, idx in table.groupby("chrom", sort=False).indices.items():
            covered = coverage.covered(str(chrom), bin_lo[idx], bin_lo[idx] + params.bin)
            labels[idx] = covered >= params.min_overlap
        table[name] = labels
    table["name"] = [f"{c}:{s + 1}-{e}" for c, s, e in zip(table["chrom"], table["start"], table["end"])]
    table["source"] = "sequences"
    table = table.sort_values(["chrom", "start"], kind="stable").reset_index(drop=True)
    counts = target_counts(table, names)
    meta = {"task": "chromatin", "targets": list(names), "window": params.window, "bin": params.bin,
            "sources": {"sequences": found["source"]}, "peaks": [str(Path(p).resolve()) for p in peak_paths],
            "parameters": asdict(params),
            "splits": {"val": [str(r) for r in val], "test": [str(r) for r in test], "train": "everything else"},
            "counts": counts, "dropped": dropped}
    write_window_data(out, table, meta)
    return ChromatinDataset(Path(out), names, counts, dropped)


__all__ = ["SPLITS", "ChromatinDataParams", "ChromatinDataset", "PeakCoverage", "assign_splits",
           "build_chromatin_dataset", "read_peak_files", "target_name"]
