"""A promoter / background window set from a genome and a TSS BED: ``seqformer data promoters``.

Coordinates are 0-based, half-open (region options are samtools style, 1-based, inclusive).

- Positives: one window per TSS (unique position and strand), ``upstream`` bases 5' of the TSS,
  the TSS base, and ``downstream`` bases 3' of it, on the TSS's strand: on ``+`` the window is
  ``[tss - upstream, tss + downstream + 1)``, on ``-`` the mirror ``[tss - downstream, tss + upstream + 1)``
  (read reverse-complemented). Windows off the contig end are dropped and counted.
- Background: windows of the same width, each on a random strand, ``negatives_per_positive`` per
  positive in each split (and region), shared out between three kinds by ``background_mix``
  (default ``random=1,gc=1,flank=1``: a third each; whole windows by largest remainder, ties in
  the order random, gc, flank), so that the set looks more like what a genome scan meets:

  - ``random``: uniform random windows of the split's part of the region, at least ``min_distance``
    bases from every TSS of the BED (any strand), not GC-matched;
  - ``gc``: windows drawn like ``random`` but GC-matched to the split's positives: positives' GC
    fractions are binned and each bin gets its share (short bins are filled from the nearest GC);
    with ``gc_match=False`` (``--no-gc-match``) the gc share is drawn as ``random`` windows instead
    (the mix recorded in dataset.json then says so);
  - ``flank``: hard negatives for localisation: windows whose centre (base ``start + width // 2``)
    lies ``flank_min..flank_max`` bases (uniform) upstream or downstream of a TSS of the BED, that
    overlap no TSS's promoter window (kept or dropped) and so hold no TSS.

  No window is drawn twice. Where a split has too few candidates of a kind, it gets fewer windows
  of that kind (never made up from another kind); ``dataset.json`` records the shortfall
  (``background.short``). Background names carry the kind: ``bg-random:CHROM_START``,
  ``bg-gc:CHROM_START``, ``bg-flank:CHROM_START:OFFSET`` (OFFSET: the window centre's distance
  from its TSS on the TSS's strand, negative upstream, e.g. ``-1500``); positives keep their BED names.
- Windows with more than ``max_n`` N (or other ambiguity codes) are dropped.
- Splits are coordinate ranges: a window inside a test range is ``test``, inside a validation
  range ``val``, outside both ``train``; a window overlapping a range without lying inside it is
  dropped, so no window and no base is shared by two splits. By default validation is the
  second-to-last and test the last 10% of each region. A split left without a promoter window
  (for instance a default test range past the annotation's last TSS) is an error that names the
  range and the option to set.

Writes a labelled-window data folder (:mod:`seqformer.data.windows`, task ``promoter``, one target
``promoter``): ``DATA_DIR/windows.tsv`` (coordinates, strand, split and the 0/1 target, no sequences;
every row's source is the genome) and ``DATA_DIR/dataset.json`` (the genome's absolute path, the
parameters, the split ranges, the counts per split (``promoter``, ``background`` and
``background_<kind>``), the background mix and flank range). The folder is written beside the target
and renamed into place, so an error leaves nothing behind.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from data_prep.background import (
    Composition,
    allocate,
    distance_to_nearest,
    flank_candidates,
    match_gc,
    overlaps_any,
)
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
BACKGROUND_KINDS = ("random", "gc", "flank")  # the kinds of background window, in allocation order
BACKGROUND_PREFIX = "bg-"  # a background window's name: bg-<kind>:...
DEFAULT_MIX = "random=1,gc=1,flank=1"


def background_kind(name: str) -> str | None:
    """The kind (random, gc, flank) of a background window's name; None for any other name."""
    if not name.startswith(BACKGROUND_PREFIX):
        return None
    kind = name[len(BACKGROUND_PREFIX):].partition(":")[0]
    return kind if kind in BACKGROUND_KINDS else None


def parse_mix(text: str) -> dict[str, float]:
    """{kind: weight} of a ``--background-mix`` text such as ``random=1,gc=1,flank=1`` (a kind left out: 0)."""
    weights = dict.fromkeys(BACKGROUND_KINDS, 0.0)
    seen: set[str] = set()
    kinds = ", ".join(BACKGROUND_KINDS)
    for item in str(text).split(","):
        kind, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not kind:
            raise InputError(f"--background-mix: '{item.strip()}' is not KIND=WEIGHT (e.g. {DEFAULT_MIX})")
        if kind not in weights:
            raise InputError(f"--background-mix: unknown kind '{kind}'; the kinds are {kinds}")
        if kind in seen:
            raise InputError(f"--background-mix: '{kind}' is given twice")
        seen.add(kind)
        try:
            weight = float(value)
        except ValueError:
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise InputError(f"--background-mix: the weight of '{kind}' must be a number, 0 or more, got '{value}'")
        weights[kind] = weight
    if sum(weights.values()) <= 0:
        raise InputError("--background-mix: every weight is 0; give at least one kind a weight above 0")
    return weights


@dataclass(frozen=True)
class PromoterDataParams:
    """How windows are cut, filtered, matched and split."""

    upstream: int = 249  # bases 5' of the TSS in a positive window
    downstream: int = 50  # bases 3' of the TSS (the TSS base itself is extra): width = up + down + 1
    region: str | None = None  # samtools-style region to use; None = every contig holding a TSS
    negatives_per_positive: float = 3.0  # background windows per promoter window, per split
    background_mix: str = DEFAULT_MIX  # KIND=WEIGHT,...: shares of random, gc and flank background
    flank_min: int = 1000  # least bases between a flank window's centre and its TSS
    flank_max: int = 3000  # most bases between a flank window's centre and its TSS
    val_region: str | None = None  # validation range; None = second-to-last 10% of each region
    test_region: str | None = None  # test range; None = last 10% of each region
    min_distance: int = 5000  # smallest distance (bases) between a negative window and any TSS
    max_n: float = 0.05  # largest share of N (ambiguous) bases in a kept window
    gc_match: bool = True  # draw the gc share GC-matched (False: as random windows)
    seed: int = 0  # seeds the background windows' positions and strands

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
        if self.flank_min < 0:
            raise InputError(f"--flank-min must be 0 or more, got {self.flank_min}")
        if self.flank_min > self.flank_max:
            raise InputError(f"--flank-min ({self.flank_min}) is more than --flank-max ({self.flank_max})")
        self.mix()

    def mix(self) -> dict[str, float]:
        """The background's share of each kind (summing to 1), the gc share moved to random without gc_match."""
        weights = parse_mix(self.background_mix)
        if not self.gc_match:
            weights["random"] += weights["gc"]
            weights["gc"] = 0.0
        total = sum(weights.values())
        return {kind: weight / total for kind, weight in weights.items()}


@dataclass
class PromoterDataset:
    """What :func:`build_promoter_dataset` wrote."""

    out: Path  # the data folder
    counts: dict[str, dict[str, int]]  # split -> promoter, background, background_<kind> -> windows
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> positive windows dropped
    short: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> kind -> background windows missing


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


@dataclass
class _Cut:
    """One region's promoter windows and the background candidates that passed every filter."""

    chrom: str
    positives: pd.DataFrame  # COLUMNS and gc
    pool: pd.DataFrame  # start, gc, split: candidates for random and gc windows
    flanks: pd.DataFrame  # start, offset, split: candidates for flank windows


def build_promoter_dataset(genome_path: str | Path, tss_path: str | Path, out: str | Path,
                           params: PromoterDataParams = PromoterDataParams()) -> PromoterDataset:
    """Cut promoter and background windows, split them, and write ``out`` (see the module docstring)."""
    params.check()
    mix = params.mix()
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
        cuts, dropped = [], {"off_contig": 0, "outside_region": 0, "too_many_n": 0, "straddling_splits": 0}
        tss_splits: list[np.ndarray] = []  # the split of every TSS inside a region ('' on a range edge)
        for region in regions:
            rows = tss[(tss["chrom"] == region.chrom) & (tss["start"] >= region.start) & (tss["start"] < region.end)]
            if len(rows) == 0:
                continue
            sites = rows["start"].to_numpy(np.int64)
            tss_splits.append(_assign_splits(region.chrom, sites, sites + 1, val, test))
            cuts.append(_cut_region(genome, region, rows, tss, val, test, params, mix, rng, dropped))
        if not cuts:
            where = params.region or ", ".join(r.chrom for r in regions) or "the genome"
            raise InputError(f"no TSS of the BED lies in {where}", path=tss_path)
    positives = pd.concat([cut.positives for cut in cuts], ignore_index=True)
    if len(positives) == 0:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in dropped.items() if n)
        raise InputError(f"no windows left: every positive window was dropped ({reasons})", path=tss_path)
    _check_splits(positives, np.concatenate(tss_splits), regions, val, test, Path(tss_path).name)
    tables, short = [], {s: dict.fromkeys(BACKGROUND_KINDS, 0) for s in SPLITS}
    for cut in cuts:
        tables.append(cut.positives.assign(kind=""))
        tables.append(_background(cut, params.window, params.negatives_per_positive, mix, rng, short))
    table = pd.concat(tables, ignore_index=True)
    counts = {}
    for s in SPLITS:
        rows = table[table["split"] == s]
        counts[s] = {"promoter": int((rows["label"] == 1).sum()), "background": int((rows["label"] == 0).sum()),
                     **{f"background_{kind}": int((rows["kind"] == kind).sum()) for kind in BACKGROUND_KINDS}}
    short = {s: {k: n for k, n in kinds.items() if n} for s, kinds in short.items()}
    short = {s: kinds for s, kinds in short.items() if kinds}
    genome_file = str(Path(genome_path).resolve())
    meta = {"task": TASK, "targets": [TARGET], "genome": genome_file,
            "tss": str(Path(tss_path).resolve()), "window": params.window, "parameters": asdict(params),
            "splits": {"val": [str(r) for r in val], "test": [str(r) for r in test],
                       "train": "everything else in " + ", ".join(str(r) for r in regions)},
            "counts": counts, "dropped_positives": dropped,
            "background": {"per_positive": params.negatives_per_positive, "mix": mix,
                           "flank": {"min": params.flank_min, "max": params.flank_max},
                           "min_distance": params.min_distance, "short": short,
                           "names": "bg-random:CHROM_START, bg-gc:CHROM_START, bg-flank:CHROM_START:OFFSET "
                                    "(window centre minus TSS on the TSS's strand)"},
            "sources": {"genome": {"kind": "genome", "path": genome_file}}}
    _write(out, table, meta)
    return PromoterDataset(out, counts, dropped, short)


def _check_splits(positives: pd.DataFrame, tss_splits: np.ndarray, regions: list[Region], val: list[Region],
                  test: list[Region], tss_name: str) -> None:
    """InputError for a split left without a promoter window, naming its range and the option to set."""
    for split in SPLITS:
        if (positives["split"] == split).any():
            continue
        if split == "train":
            what = ("the training part of " + ", ".join(str(r) for r in regions)
                    + " (outside the validation and test ranges)")
            option = "--region, --val-region or --test-region so that it does"
        else:
            ranges = val if split == "val" else test
            what = f"the {'validation' if split == 'val' else 'test'} range " + ", ".join(str(r) for r in ranges)
            option = f"--{split}-region to a range that does"
        held = int((tss_splits == split).sum())
        if held == 0:
            raise InputError(f"{what} holds no TSS of {tss_name}; set {option}")
        raise InputError(f"{what} holds {held} TSS(s) of {tss_name} but none of their windows was kept (off the "
                         f"contig, too many N, or across a split edge); set {option.replace('does', 'keeps one')}")


def _cut_region(genome: Genome, region: Region, rows: pd.DataFrame, all_tss: pd.DataFrame,
                val: list[Region], test: list[Region], params: PromoterDataParams, mix: dict[str, float],
                rng: np.random.Generator, dropped: dict[str, int]) -> _Cut:
    """One region's positive windows and its background candidates (filtered, not yet chosen)."""
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
                              "split": split[keep], "gc": gc[keep]})

    width = params.window
    wanted = len(positives) * max(params.negatives_per_positive, 0)
    contig_tss = all_tss[all_tss["chrom"] == region.chrom]
    sites = np.sort(contig_tss["start"].to_numpy(np.int64))

    def usable(cand: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mask of candidates inside the region with few N on no split edge, their GC, their split)."""
        inside = (cand >= region.start) & (cand + width <= region.end)
        cand_gc, cand_n = np.zeros(len(cand)), np.ones(len(cand))
        cand_gc[inside], cand_n[inside] = composition.stats(cand[inside], cand[inside] + width)
        cand_split = _assign_splits(region.chrom, cand, cand + width, val, test)
        return inside & (cand_n <= params.max_n) & (cand_split != ""), cand_gc, cand_split

    pool = pd.DataFrame({"start": np.empty(0, np.int64), "gc": np.empty(0), "split": np.empty(0, object)})
    drawn = wanted * (mix["random"] + mix["gc"])
    if region.end - region.start >= width and drawn > 0:
        cand = np.unique(rng.integers(region.start, region.end - width + 1,
                                      size=max(int(drawn * POOL_PER_NEGATIVE), MIN_POOL)))
        ok, cand_gc, cand_split = usable(cand)
        ok &= distance_to_nearest(cand, cand + width, sites) >= params.min_distance
        pool = pd.DataFrame({"start": cand[ok], "gc": cand_gc[ok], "split": cand_split[ok]})

    flanks = pd.DataFrame({"start": np.empty(0, np.int64), "offset": np.empty(0, np.int64),
                           "split": np.empty(0, object)})
    drawn = wanted * mix["flank"]
    if drawn > 0:
        anchors = rows["start"].to_numpy(np.int64)
        cand, anchor, offset = flank_candidates(anchors, width, params.flank_min, params.flank_max,
                                                max(int(drawn * POOL_PER_NEGATIVE), MIN_POOL), rng)
        offset = np.where(strands[anchor] == "-", -offset, offset)  # on the TSS's strand: negative = upstream
        cand, first = np.unique(cand, return_index=True)  # one candidate per window (its first draw)
        offset = offset[first]
        ok, _, cand_split = usable(cand)
        p_starts, p_ends = window_bounds(contig_tss["start"].to_numpy(np.int64), contig_tss["strand"].to_numpy(),
                                         params.upstream, params.downstream)
        ok &= ~overlaps_any(cand, cand + width, p_starts, p_ends)
        flanks = pd.DataFrame({"start": cand[ok], "offset": offset[ok], "split": cand_split[ok]})
    return _Cut(region.chrom, positives, pool, flanks)


def _background(cut: _Cut, width: int, per_positive: float, mix: dict[str, float], rng: np.random.Generator,
                short: dict[str, dict[str, int]]) -> pd.DataFrame:
    """One region's background windows: each split's share of each kind, chosen from the candidates.

    GC-matched windows are chosen first, random ones from the candidates left, flank windows last
    (none the same window as one already chosen); ``short`` gains what a kind could not fill.
    """
    starts, flank_starts = cut.pool["start"].to_numpy(np.int64), cut.flanks["start"].to_numpy(np.int64)
    chosen = []
    for split in SPLITS:
        targets = cut.positives.loc[cut.positives["split"] == split, "gc"].to_numpy()
        want = allocate(round(len(targets) * max(per_positive, 0)), mix)
        if not sum(want.values()):
            continue
        in_split = np.flatnonzero((cut.pool["split"] == split).to_numpy())
        pool_gc = cut.pool["gc"].to_numpy()[in_split]
        gc_picked = (in_split[match_gc(targets, pool_gc, 0.0, True, rng, total=want["gc"])] if want["gc"]
                     else np.empty(0, dtype=np.int64))
        rest = np.setdiff1d(in_split, gc_picked)
        random_picked = np.sort(rng.permutation(rest)[: want["random"]])
        taken = np.concatenate([starts[gc_picked], starts[random_picked]])
        flank_ok = np.flatnonzero((cut.flanks["split"] == split).to_numpy() & ~np.isin(flank_starts, taken))
        flank_picked = np.sort(rng.permutation(flank_ok)[: want["flank"]])
        for kind, picked_starts, labels in (
                ("gc", starts[gc_picked], None),
                ("random", starts[random_picked], None),
                ("flank", flank_starts[flank_picked], cut.flanks["offset"].to_numpy()[flank_picked])):
            short[split][kind] += want[kind] - len(picked_starts)
            if not len(picked_starts):
                continue
            names = [f"{BACKGROUND_PREFIX}{kind}:{cut.chrom}_{s}" for s in picked_starts]
            if labels is not None:
                names = [f"{name}:{o:+d}" for name, o in zip(names, labels)]
            chosen.append(pd.DataFrame({
                "chrom": cut.chrom, "start": picked_starts, "end": picked_starts + width, "name": names,
                "score": 0, "strand": np.where(rng.random(len(picked_starts)) < 0.5, "+", "-"), "label": 0,
                "split": split, "kind": kind}))
    columns = [*COLUMNS, "kind"]
    return pd.concat(chosen, ignore_index=True)[columns] if chosen else pd.DataFrame(columns=columns)


def _write(out: Path, table: pd.DataFrame, meta: dict[str, Any]) -> None:
    """The cut windows as a labelled-window data folder (every row read from the genome)."""
    table = table.sort_values(["chrom", "start", "end", "label"], kind="stable").reset_index(drop=True)
    rows = pd.DataFrame({"chrom": table["chrom"], "start": table["start"], "end": table["end"],
                         "name": table["name"], "strand": table["strand"], "source": "genome",
                         "record": table["chrom"], "offset": table["start"], "split": table["split"],
                         TARGET: table["label"].astype(np.int64)})
    write_window_data(out, rows, meta)
