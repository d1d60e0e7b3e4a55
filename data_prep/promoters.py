"""A promoter / background window set from a genome and a TSS BED: ``seqformer data promoters``.

Coordinates are 0-based, half-open (region options are samtools style, 1-based, inclusive).

- Positives: one window per TSS (unique position and strand), ``upstream`` bases 5' of the TSS,
  the TSS base, and ``downstream`` bases 3' of it, on the TSS's strand: on ``+`` the window is
  ``[tss - upstream, tss + downstream + 1)``, on ``-`` the mirror ``[tss - downstream, tss + upstream + 1)``
  (read reverse-complemented). Windows off the contig end are dropped and counted.
- Negatives: windows of the same width at least ``min_distance`` bases from every TSS of the BED
  (on any strand), on a random strand, drawn at random inside the region of each split and
  GC-matched to that split's positives: positives' GC fractions are binned, and each bin gets
  ``negatives_per_positive`` negatives per positive (short bins are filled from the nearest GC).
- Windows with more than ``max_n`` N (or other ambiguity codes) are dropped.
- Splits are coordinate ranges: a window inside a test range is ``test``, inside a validation
  range ``val``, outside both ``train``; a window overlapping a range without lying inside it is
  dropped, so no window and no base is shared by two splits. By default validation is the
  second-to-last and test the last 10% of each region.

Writes a labelled-window data folder (:mod:`seqformer.data.windows`, task ``promoter``, one target
``promoter``): ``DATA_DIR/windows.tsv`` (coordinates, strand, split and the 0/1 target, no sequences;
every row's source is the genome) and ``DATA_DIR/dataset.json`` (the genome's absolute path, the
parameters, the split ranges and counts). The folder is written beside the target and renamed
into place, so an error leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.background import Composition, distance_to_nearest, match_gc
from seqformer.errors import InputError
from seqformer.io import Genome, Region, read_bed
from seqformer.data.windows import SPLITS, check_new_data_folder, write_window_data
from seqformer.io.regions import missing_contig_message

COLUMNS = ("chrom", "start", "end", "name", "score", "strand", "label", "split")  # the windows while they are cut
LABEL_NAMES = {1: "promoter", 0: "background"}
TASK = "promoter"
TARGET = "promoter"  # the data folder's one target column
POOL_PER_NEGATIVE = 50  # random candidate windows drawn per negative wanted (at least MIN_POOL)
MIN_POOL = 20_000


@dataclass(frozen=True)
class PromoterDataParams:
    """How windows are cut, filtered, matched and split."""

    upstream: int = 249  # bases 5' of the TSS in a positive window
    downstream: int = 50  # bases 3' of the TSS (the TSS base itself is extra): width = up + down + 1
    region: str | None = None  # samtools-style region to use; None = every contig holding a TSS
    negatives_per_positive: float = 1.0  # background windows per promoter window, per split
    val_region: str | None = None  # validation range; None = second-to-last 10% of each region
    test_region: str | None = None  # test range; None = last 10% of each region
    min_distance: int = 5000  # smallest distance (bases) between a negative window and any TSS
    max_n: float = 0.05  # largest share of N (ambiguous) bases in a kept window
    gc_match: bool = True  # GC-match negatives to positives (False: uniform random windows)
    seed: int = 0  # seeds the negatives' positions and strands

    @property
    def window(self) -> int:
        """Bases per window."""
        return self.upstream + self.downstream + 1

    def check(self) -> None:
        """InputError for an option out of range."""
        if self.upstream < 0 or self.downstream < 0:
            raise InputError("--upstream and --downstream must be 0 or more")
        if self.negatives_per_positive < 0:
            raise InputError("--negatives-per-positive must be 0 or more")
        if self.min_distance < 0:
            raise InputError("--min-distance must be 0 or more")
        if not 0.0 <= self.max_n <= 1.0:
            raise InputError(f"--max-n must be a fraction in [0, 1], got {self.max_n}")


@dataclass
class PromoterDataset:
    """What :func:`build_promoter_dataset` wrote."""

    out: Path  # the data folder
    counts: dict[str, dict[str, int]]  # split -> label name -> windows
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> positive windows dropped


def window_bounds(tss: np.ndarray, strands: np.ndarray, upstream: int, downstream: int) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the strand-aware windows around 0-based TSS positions."""
    minus = strands == "-"
    starts = np.where(minus, tss - downstream, tss - upstream)
    return starts, starts + upstream + downstream + 1


def _region_list(genome: Genome, text: str | None, contigs_with_tss: list[str]) -> list[Region]:
    if text is not None:
        return [genome.region(text)]
    contigs = genome.contigs
    return [Region(name, 0, contigs[name]) for name in contigs if name in contigs_with_tss]


def _split_ranges(genome: Genome, text: str | None, regions: list[Region], which: int) -> list[Region]:
    """The ranges of a split: the user's, or the ``which``-th last tenth of every region."""
    if text is not None:
        return [genome.region(text)]
    ranges = []
    for region in regions:
        tenth = len(region) // 10
        end = region.end - (which - 1) * tenth
        ranges.append(Region(region.chrom, end - tenth, end))
    return ranges


def _assign_splits(chrom: str, starts: np.ndarray, ends: np.ndarray, val: list[Region],
                   test: list[Region]) -> np.ndarray:
    """Split name per window ('' for a window straddling a range edge)."""
    split = np.full(len(starts), "train", dtype=object)
    for name, ranges in (("val", val), ("test", test)):
        for r in ranges:
            if r.chrom != chrom:
                continue
            inside = (starts >= r.start) & (ends <= r.end)
            overlaps = (starts < r.end) & (ends > r.start)
            split[inside & (split == "train")] = name
            split[overlaps & ~inside] = ""
    return split


def build_promoter_dataset(genome_path: str | Path, tss_path: str | Path, out: str | Path,
                           params: PromoterDataParams = PromoterDataParams()) -> PromoterDataset:
    """Cut positive and GC-matched negative windows, split them, and write ``out`` (see the module docstring)."""
    params.check()
    out = Path(out)
    check_new_data_folder(out)
    genome = Genome(genome_path)
    with genome:
        tss = read_bed(tss_path)
        if "strand" not in tss:
            raise InputError("the TSS BED needs a strand column (column 6)", path=tss_path)
        contigs = genome.contigs
        for chrom in tss["chrom"].unique():
            if chrom not in contigs:
                raise InputError(missing_contig_message(chrom, contigs, genome.path.name), path=tss_path)
        tss = tss.drop_duplicates(["chrom", "start", "strand"]).reset_index(drop=True)
        regions = _region_list(genome, params.region, list(tss["chrom"].unique()))
        val = _split_ranges(genome, params.val_region, regions, 2)
        test = _split_ranges(genome, params.test_region, regions, 1)
        for v in val:
            for t in test:
                if v.chrom == t.chrom and v.start < t.end and t.start < v.end:
                    raise InputError(f"the validation range {v} and the test range {t} overlap; "
                                     "give --val-region and --test-region apart")
        rng = np.random.default_rng(params.seed)
        tables, dropped = [], {"off_contig": 0, "outside_region": 0, "too_many_n": 0, "straddling_splits": 0}
        any_tss = False
        for region in regions:
            rows = tss[(tss["chrom"] == region.chrom) & (tss["start"] >= region.start) & (tss["start"] < region.end)]
            if len(rows) == 0:
                continue
            any_tss = True
            tables.append(_region_windows(genome, region, rows, tss, val, test, params, rng, dropped))
        if not any_tss:
            where = params.region or ", ".join(r.chrom for r in regions) or "the genome"
            raise InputError(f"no TSS of the BED lies in {where}", path=tss_path)
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)
    positives = int((table["label"] == 1).sum())
    if positives == 0:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise InputError(f"no windows left: every positive window was dropped ({reasons})", path=tss_path)
    counts = {s: {LABEL_NAMES[label]: int(((table["split"] == s) & (table["label"] == label)).sum())
                  for label in (1, 0)} for s in SPLITS}
    genome_file = str(Path(genome_path).resolve())
    meta = {"task": TASK, "targets": [TARGET], "genome": genome_file,
            "tss": str(Path(tss_path).resolve()), "window": params.window, "parameters": asdict(params),
            "splits": {"val": [str(r) for r in val], "test": [str(r) for r in test],
                       "train": "everything else in " + ", ".join(str(r) for r in regions)},
            "counts": counts, "dropped_positives": dropped,
            "sources": {"genome": {"kind": "genome", "path": genome_file}}}
    _write(out, table, meta)
    return PromoterDataset(out, counts, dropped)


def _region_windows(genome: Genome, region: Region, rows: pd.DataFrame, all_tss: pd.DataFrame,
                    val: list[Region], test: list[Region], params: PromoterDataParams,
                    rng: np.random.Generator, dropped: dict[str, int]) -> pd.DataFrame:
    """Positive and negative windows of one region."""
    length = genome.contigs[region.chrom]
    composition = Composition(region, genome.fetch(region.chrom, region.start, region.end))
    strands = rows["strand"].to_numpy()
    if (strands == ".").any():
        raise InputError("every TSS needs a strand (+ or -), found '.'")
    starts, ends = window_bounds(rows["start"].to_numpy(np.int64), strands, params.upstream, params.downstream)
    off_contig = (starts < 0) | (ends > length)
    outside = ~off_contig & ((starts < region.start) | (ends > region.end))
    dropped["off_contig"] += int(off_contig.sum())
    dropped["outside_region"] += int(outside.sum())
    keep = ~(off_contig | outside)
    gc, n_share = np.zeros(len(starts)), np.ones(len(starts))
    gc[keep], n_share[keep] = composition.stats(starts[keep], ends[keep])
    too_n = keep & (n_share > params.max_n)
    dropped["too_many_n"] += int(too_n.sum())
    keep &= ~too_n
    split = _assign_splits(region.chrom, starts, ends, val, test)
    dropped["straddling_splits"] += int((keep & (split == "")).sum())
    keep &= split != ""
    names = rows["name"].to_numpy() if "name" in rows else np.array(
        [f"TSS_{region.chrom}_{s}_{d}" for s, d in zip(rows["start"], strands)], dtype=object)
    positives = pd.DataFrame({"chrom": region.chrom, "start": starts[keep], "end": ends[keep],
                              "name": names[keep], "score": 0, "strand": strands[keep], "label": 1,
                              "split": split[keep]})

    width = params.window
    sites = np.sort(all_tss.loc[all_tss["chrom"] == region.chrom, "start"].to_numpy(np.int64))
    wanted = len(positives) * max(params.negatives_per_positive, 0)
    pool = max(int(wanted * POOL_PER_NEGATIVE), MIN_POOL)
    negatives = []
    if region.end - region.start >= width and wanted > 0:
        cand = np.unique(rng.integers(region.start, region.end - width + 1, size=pool))
        cand_end = cand + width
        cand_gc, cand_n = composition.stats(cand, cand_end)
        ok = (distance_to_nearest(cand, cand_end, sites) >= params.min_distance) & (cand_n <= params.max_n)
        cand_split = _assign_splits(region.chrom, cand, cand_end, val, test)
        for name in SPLITS:
            targets = gc[keep][split[keep] == name]
            in_split = np.flatnonzero(ok & (cand_split == name))
            picked = in_split[match_gc(targets, cand_gc[in_split], params.negatives_per_positive,
                                        params.gc_match, rng)]
            negatives.append(pd.DataFrame({
                "chrom": region.chrom, "start": cand[picked], "end": cand_end[picked], "name": "",
                "score": 0, "strand": np.where(rng.random(len(picked)) < 0.5, "+", "-"), "label": 0,
                "split": name}))
    table = pd.concat([positives, *negatives], ignore_index=True)
    neg = table["label"] == 0
    table.loc[neg, "name"] = [f"bg_{region.chrom}_{s}" for s in table.loc[neg, "start"]]
    return table


def _write(out: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """The cut windows as a labelled-window data folder (every row read from the genome)."""
    table = table.sort_values(["chrom", "start", "end", "label"], kind="stable").reset_index(drop=True)
    rows = pd.DataFrame({"chrom": table["chrom"], "start": table["start"], "end": table["end"],
                         "name": table["name"], "strand": table["strand"], "source": "genome",
                         "record": table["chrom"], "offset": table["start"], "split": table["split"],
                         TARGET: table["label"].astype(np.int64)})
    write_window_data(out, rows, meta)
