"""TF-binding windows: ChIP-seq peak sequences against background (``seqformer data tf-binding``).

Coordinates are 0-based, half-open (region options are samtools style, 1-based, inclusive).

- Positives: the records of a FASTA of peak sequences whose headers carry their coordinates
  (:mod:`seqformer.io.precut`), centre-cropped to ``window`` bases (default: the most common record
  length; shorter records are dropped and counted). One target, named after the file or ``name``.
- Background, one of:
  - ``gc-matched``: windows of the same width cut from an indexed genome at random, at least
    ``min_distance`` bases from every peak on that genome, with at most ``max_n`` N, GC-matched to
    the positives of the same split (as :mod:`data_prep.promoters` does);
  - ``shuffled``: each positive dinucleotide-shuffled (Altschul–Erickson,
    :mod:`seqformer.data.shuffle`), in its positive's split; the shuffled bases are not stored but
    redrawn from a seed when the folder is read.
- Splits: positives by coordinate ranges (``val_regions``, ``test_regions``; contig names allowed;
  default: validation chr7, test chr8 and chr9 (those of them the peaks use), whole chromosomes
  held out as DeepSEA did). The
  genome's background windows by their own ranges (``background_val_regions`` and
  ``background_test_regions``; default: the second-to-last and last tenth of each genome contig),
  so that no background base is in two splits either.

Writes a labelled-window data folder (:mod:`seqformer.data.windows`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data_prep.background import Composition, distance_to_nearest, match_gc
from data_prep.chromatin import assign_splits, parse_ranges, target_name
from seqformer.data.windows import SPLITS, check_new_data_folder, target_counts, write_window_data
from seqformer.errors import InputError
from seqformer.io import Region, parse_region

BACKGROUNDS = ("gc-matched", "shuffled")
DEFAULT_VAL = ("chr7",)  # whole chromosomes held out for validation unless told otherwise
DEFAULT_TEST = ("chr8", "chr9")  # and for testing (DeepSEA's held-out chromosomes)
POOL_PER_NEGATIVE = 50  # random candidate windows drawn per background window wanted (at least MIN_POOL)
MIN_POOL = 20_000


@dataclass(frozen=True)
class TFBindingDataParams:
    """How peaks are cut, background is drawn and windows are split."""

    background: str = "gc-matched"  # "gc-matched" (windows of the genome) or "shuffled" (dinucleotide shuffles)
    negatives_per_positive: float = 1.0  # background windows per peak (shuffled: a whole number of copies)
    window: int | None = None  # bases per window; None = the most common peak length
    name: str | None = None  # the target's name; None = the peak file's name
    val_regions: tuple[str, ...] = ()  # positives' validation ranges; () = DEFAULT_VAL's contigs that have peaks
    test_regions: tuple[str, ...] = ()  # positives' test ranges; () = DEFAULT_TEST's contigs that have peaks
    background_val_regions: tuple[str, ...] = ()  # genome background's validation ranges; () = second-to-last tenth
    background_test_regions: tuple[str, ...] = ()  # genome background's test ranges; () = last tenth
    min_distance: int = 1000  # least bases between a background window and any peak on the genome
    max_n: float = 0.05  # largest share of N in a background window
    seed: int = 0  # background positions, strands and shuffles
    coords: str = "auto"  # peak header convention: auto, one-based or zero-based

    def check(self) -> None:
        """InputError for an option out of range."""
        if self.background not in BACKGROUNDS:
            raise InputError(f"--background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if self.negatives_per_positive < 0:
            raise InputError("--negatives-per-positive must be 0 or more")
        if self.background == "shuffled" and self.negatives_per_positive != int(self.negatives_per_positive):
            raise InputError("with --background shuffled, --negatives-per-positive is a whole number of copies")
        if self.window is not None and self.window < 1:
            raise InputError("--window must be positive")
        if not 0.0 <= self.max_n <= 1.0:
            raise InputError(f"--max-n must be a fraction in [0, 1], got {self.max_n}")


@dataclass
class TFBindingDataset:
    """What :func:`build_tf_binding_dataset` wrote."""

    out: Path
    target: str
    counts: dict[str, dict[str, int]]  # split -> windows and positives
    dropped: dict[str, int] = field(default_factory=dict)


def _positives(peaks_path: Path, params: TFBindingDataParams, dropped: dict[str, int]):
    """The peak windows (centre-cropped), the window width and the header convention."""
    from seqformer.io.precut import read_precut

    records, coords = read_precut(peaks_path, params.coords)
    window = params.window or Counter(len(r.seq) for r in records).most_common(1)[0][0]
    rows = []
    for r in records:
        excess = len(r.seq) - window
        if excess < 0:
            dropped["peaks_shorter_than_window"] += 1
            continue
        left = excess // 2
        start = r.start + (left if r.strand == "+" else excess - left)
        rows.append((r.chrom, start, start + window, r.id, r.id, left, "+"))
    table = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "record", "offset", "strand"])
    before = len(table)
    table = table.drop_duplicates(["chrom", "start", "end"]).reset_index(drop=True)
    dropped["duplicate_peaks"] = before - len(table)
    return table, window, coords


def _gc(seqs: list[str]) -> np.ndarray:
    """GC fraction of the A/C/G/T bases of each sequence."""
    out = np.zeros(len(seqs))
    for i, s in enumerate(seqs):
        acgt = sum(s.count(b) for b in "ACGT")
        out[i] = (s.count("G") + s.count("C")) / max(acgt, 1)
    return out


def _genome_background(genome_path: Path, positives: pd.DataFrame, pos_gc: np.ndarray, window: int,
                       params: TFBindingDataParams, rng: np.random.Generator) -> pd.DataFrame:
    """GC-matched background windows of the genome, split by the background ranges."""
    from seqformer.io import Genome

    parts = []
    with Genome(genome_path) as genome:
        contigs = genome.contigs
        val = [parse_region(t, contigs) for t in params.background_val_regions] or _tenths(contigs, 2)
        test = [parse_region(t, contigs) for t in params.background_test_regions] or _tenths(contigs, 1)
        total = sum(contigs.values())
        wanted = {s: round(int((positives["split"] == s).sum()) * params.negatives_per_positive) for s in SPLITS}
        for chrom, length in contigs.items():
            if length < window:
                continue
            region = Region(chrom, 0, length)
            composition = Composition(region, genome.fetch(chrom, 0, length))
            share = length / total
            pool = max(int(sum(wanted.values()) * share * POOL_PER_NEGATIVE), MIN_POOL)
            cand = np.unique(rng.integers(0, length - window + 1, size=pool))
            cand_end = cand + window
            cand_gc, cand_n = composition.stats(cand, cand_end)
            sites = np.sort(positives.loc[positives["chrom"] == chrom, ["start", "end"]].to_numpy().ravel())
            ok = (distance_to_nearest(cand, cand_end, sites) >= params.min_distance) & (cand_n <= params.max_n)
            cand_split = assign_splits(np.full(len(cand), chrom, dtype=object), cand, cand_end, val, test)
            for split in SPLITS:
                targets = pos_gc[(positives["split"] == split).to_numpy()]
                in_split = np.flatnonzero(ok & (cand_split == split))
                per_positive = params.negatives_per_positive * share
                picked = in_split[match_gc(targets, cand_gc[in_split], per_positive, True, rng)]
                parts.append(pd.DataFrame({"chrom": chrom, "start": cand[picked], "end": cand_end[picked],
                                           "record": chrom, "offset": cand[picked], "split": split,
                                           "strand": np.where(rng.random(len(picked)) < 0.5, "+", "-")}))
    table = pd.concat(parts, ignore_index=True)
    table["name"] = [f"bg_{c}_{s}" for c, s in zip(table["chrom"], table["start"])]
    table["source"] = "genome"
    return table


def _tenths(contigs: dict[str, int], which: int) -> list[Region]:
    """The ``which``-th last tenth of every contig."""
    out = []
    for chrom, length in contigs.items():
        tenth = length // 10
        end = length - (which - 1) * tenth
        out.append(Region(chrom, end - tenth, end))
    return out


def _shuffled_background(positives: pd.DataFrame, copies: int) -> pd.DataFrame:
    """``copies`` shuffled rows per positive, in its split (bases drawn when read)."""
    rows = []
    for copy in range(copies):
        rows.append(pd.DataFrame({"chrom": ".", "start": 0, "end": positives["end"] - positives["start"],
                                  "name": [f"shuffled_{n}_{copy}" for n in positives["name"]],
                                  "record": positives["record"], "offset": positives["offset"],
                                  "strand": "+", "split": positives["split"], "source": "shuffled"}))
    return pd.concat(rows, ignore_index=True) if rows else positives.iloc[:0].assign(source="shuffled")


def build_tf_binding_dataset(peaks: str | Path, out: str | Path, params: TFBindingDataParams = TFBindingDataParams(),
                             genome: str | Path | None = None) -> TFBindingDataset:
    """Cut peak windows and background, split them, and write the data folder ``out`` (see the module docstring)."""
    params.check()
    check_new_data_folder(out)
    peaks = Path(peaks)
    if params.background == "gc-matched" and genome is None:
        raise InputError("--background gc-matched cuts background from a genome: give --genome "
                         "(or use --background shuffled)")
    dropped = {"peaks_shorter_than_window": 0, "duplicate_peaks": 0, "straddling_splits": 0}
    positives, window, coords = _positives(peaks, params, dropped)
    spans = {str(c): int(e) for c, e in positives.groupby("chrom")["end"].max().items()}
    source = f"{peaks.name} (its headers)"
    val = parse_ranges(params.val_regions or [c for c in DEFAULT_VAL if c in spans], spans, source)
    test = parse_ranges(params.test_regions or [c for c in DEFAULT_TEST if c in spans], spans, source)
    split = assign_splits(positives["chrom"].to_numpy(), positives["start"].to_numpy(),
                          positives["end"].to_numpy(), val, test)
    dropped["straddling_splits"] = int((split == "").sum())
    positives = positives.assign(split=split, source="peaks")[split != ""].reset_index(drop=True)
    for name in SPLITS:
        if not (positives["split"] == name).any():
            raise InputError(f"no peak lies in the {name} split; choose --val-region / --test-region on "
                             "contigs the peaks use", path=peaks)
    sources = {"peaks": {"kind": "fasta", "path": str(peaks.resolve()), "coords": coords}}
    rng = np.random.default_rng(params.seed)
    if params.background == "shuffled":
        background = _shuffled_background(positives, int(params.negatives_per_positive))
        sources["shuffled"] = {"kind": "dinucleotide-shuffle", "of": "peaks", "seed": params.seed}
    else:
        from seqformer.data.windows import SourceReader

        reader = SourceReader(sources, peaks.parent)
        try:
            pos_gc = _gc(reader.read(positives))
        finally:
            reader.close()
        background = _genome_background(Path(genome), positives, pos_gc, window, params, rng)
        sources["genome"] = {"kind": "genome", "path": str(Path(genome).resolve())}
    target = params.name or target_name(peaks)
    table = pd.concat([positives.assign(**{target: 1}), background.assign(**{target: 0})], ignore_index=True)
    table = table.sort_values(["split", target, "chrom", "start"], ascending=[True, False, True, True],
                              kind="stable").reset_index(drop=True)
    counts = target_counts(table, [target])
    meta = {"task": "tf-binding", "targets": [target], "window": window, "sources": sources,
            "parameters": asdict(params),
            "splits": {"val": [str(r) for r in val], "test": [str(r) for r in test], "train": "everything else"},
            "counts": counts, "dropped": dropped}
    write_window_data(out, table, meta)
    return TFBindingDataset(Path(out), target, counts, dropped)
