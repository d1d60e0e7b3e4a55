"""Promoter calls against annotated TSSs: sensitivity, precision and false calls per 100 kb.

Coordinates are 0-based, half-open. A TSS is the ``start`` of its BED row (one base). The distance
from a call ``[s, e)`` to a TSS at ``p`` is 0 when ``s <= p < e``, else the gap to the nearest base
of the call (``s - p`` or ``p - (e - 1)``); "within ``distance``" means that gap is <= ``distance``.

- **sensitivity**: TSSs inside the region with a call within ``distance`` / TSSs inside the region.
- **precision**: calls within ``distance`` of a TSS / all calls. Calls are those overlapping the region;
  every TSS on the contig counts here, so a call just beside a TSS outside the region is not false.
- **false calls per 100 kb**: calls farther than ``distance`` from every TSS, per 100,000 region bases.

A scan's *track* (the per-base probabilities of ``predict promoters --bedgraph``, or a bigWig) gives
a call set at every threshold: :func:`threshold_sweep` scores them all (the curve of recall against
false calls per 100 kb), :func:`evaluate_track` reads recall off that curve at 0.5, 1 and 2 false
calls per 100 kb and measures the calls' summits to the nearest TSS. :func:`kmer_scanner` and
:func:`scan_track` scan the same region with the k-mer logistic regression, so that its curve can
be read the same way beside the model's.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from seqformer.errors import InputError
from seqformer.io.regions import Region, missing_contig_message


@dataclass(frozen=True)
class ScanMetrics:
    """Call-vs-TSS metrics of one region (see the module docstring); ratios are NaN when undefined."""

    region: str  # samtools-style, 1-based inclusive
    distance: int  # bases allowed between a call and a TSS
    tss: int  # TSSs inside the region
    tss_found: int  # of those, with a call within distance
    calls: int  # calls overlapping the region
    calls_near_tss: int  # of those, within distance of a TSS on the contig
    false_calls: int  # calls - calls_near_tss
    sensitivity: float
    precision: float
    false_per_100kb: float

    def to_dict(self) -> dict:
        return asdict(self)


def intervals_meet(starts: np.ndarray, ends: np.ndarray, other_starts: np.ndarray, other_ends: np.ndarray,
                   distance: int) -> np.ndarray:
    """(n,) whether some interval ``[other_start, other_end)`` lies within ``distance`` bases of each
    ``[start, end)`` (0 when they overlap, else the gap between their nearest bases). A position ``p``
    is the interval ``[p, p + 1)``."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    if len(other_starts) == 0:
        return np.zeros(len(starts), dtype=bool)
    order = np.argsort(other_starts, kind="stable")
    other_starts = np.asarray(other_starts, np.int64)[order]
    reach = np.maximum.accumulate(np.asarray(other_ends, np.int64)[order] - 1)  # furthest last base so far
    count = np.searchsorted(other_starts, ends - 1 + distance, side="right")  # others starting close enough
    met = np.zeros(len(starts), dtype=bool)
    has = count > 0
    met[has] = reach[count[has] - 1] >= starts[has] - distance
    return met


def overlapping(frame: pd.DataFrame, region: Region) -> pd.DataFrame:
    """The rows of a BED-like frame (``chrom, start, end``) that overlap ``region``."""
    return frame[(frame["chrom"] == region.chrom) & (frame["end"] > region.start) & (frame["start"] < region.end)]


def check_scan_inputs(calls: pd.DataFrame, tss: pd.DataFrame, region: Region, *, calls_source: str = "the calls",
                      tss_source: str = "the TSS BED") -> None:
    """InputError when the comparison would be empty: no TSS in ``region``, or contig names that do not meet.

    A TSS BED without the region's contig (``20`` where the region says ``chr20``) or calls on
    none of it name the contigs and suggest the other spelling; a region holding no TSS leaves
    sensitivity undefined and says so. Calls may be none at all (a model that calls nothing).
    """
    if len(tss) == 0:
        raise InputError(f"{tss_source} has no TSS; sensitivity is undefined")
    tss_contigs = list(dict.fromkeys(tss["chrom"]))
    if region.chrom not in tss_contigs:
        raise InputError(missing_contig_message(region.chrom, tss_contigs, tss_source))
    on_contig = tss.loc[tss["chrom"] == region.chrom, "start"]
    if not ((on_contig >= region.start) & (on_contig < region.end)).any():
        raise InputError(f"no TSS of {tss_source} lies in {region}; sensitivity is undefined (choose a region "
                         "that holds annotated TSSs)")
    call_contigs = list(dict.fromkeys(calls["chrom"]))
    if call_contigs and region.chrom not in call_contigs:
        raise InputError(missing_contig_message(region.chrom, call_contigs, calls_source))


def evaluate_calls(calls: pd.DataFrame, tss: pd.DataFrame, region: Region, distance: int = 500, *,
                   calls_source: str = "the calls", tss_source: str = "the TSS BED") -> ScanMetrics:
    """Compare promoter ``calls`` with ``tss`` (both from :func:`~seqformer.io.read_bed`) in ``region``.

    Raises InputError when nothing could be compared (:func:`check_scan_inputs`).
    """
    if distance < 0:
        raise ValueError(f"distance must be >= 0, got {distance}")
    check_scan_inputs(calls, tss, region, calls_source=calls_source, tss_source=tss_source)
    on = overlapping(calls, region)
    starts, ends = on["start"].to_numpy(np.int64), on["end"].to_numpy(np.int64)
    all_tss = np.sort(tss.loc[tss["chrom"] == region.chrom, "start"].to_numpy(np.int64))
    inside = all_tss[(all_tss >= region.start) & (all_tss < region.end)]

    found = intervals_meet(inside, inside + 1, starts, ends, distance)
    near = intervals_meet(starts, ends, all_tss, all_tss + 1, distance)  # calls within distance of some TSS
    n_calls, n_near = len(starts), int(near.sum())
    nan = float("nan")
    return ScanMetrics(
        region=str(region), distance=distance, tss=len(inside), tss_found=int(found.sum()),
        calls=n_calls, calls_near_tss=n_near, false_calls=n_calls - n_near,
        sensitivity=float(found.mean()) if len(inside) else nan,
        precision=n_near / n_calls if n_calls else nan,
        false_per_100kb=(n_calls - n_near) / len(region) * 100_000 if len(region) else nan,
    )


# --- thresholds: every call set a track allows, and the one that meets a false-call rate ----------
SWEEP_COLUMNS = ("threshold", "calls", "false_calls", "false_per_100kb", "tss_found", "recall")


def threshold_sweep(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, tss: np.ndarray, region: Region,
                    distance: int = 500) -> pd.DataFrame:
    """Calls, false calls and TSS recall at every threshold a per-base track allows.

    The track is a list of non-overlapping segments ``[start, end)`` inside ``region`` with a value
    (a scan's bedGraph of that region);
    calls at threshold t are the maximal runs of touching segments with value >= t (as
    :func:`seqformer.predict.scan.call_peaks` makes them). A call is false when no TSS of ``tss``
    (0-based positions on the region's contig) lies within ``distance`` of it; a TSS inside
    ``region`` is found when a call lies within ``distance``. One pass over the segments in
    decreasing value, merging runs with a union-find, gives every threshold at once.

    Returns:
        One row per distinct value, thresholds decreasing: ``threshold, calls, false_calls,
        false_per_100kb, tss_found, recall`` (recall NaN when the region holds no TSS).
    """
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    values = np.asarray(values, np.float64)
    order = np.argsort(starts, kind="stable")
    starts, ends, values = starts[order], ends[order], values[order]
    sites = np.sort(np.asarray(tss, np.int64))
    n = len(starts)
    if n == 0:
        return pd.DataFrame(columns=list(SWEEP_COLUMNS))
    near = intervals_meet(starts, ends, sites, sites + 1, distance)  # (n,) segment within distance of a TSS
    touching = np.zeros(n + 1, dtype=bool)  # touching[i]: segment i-1 ends where segment i starts
    touching[1:n] = ends[:-1] == starts[1:]
    parent = np.arange(n)
    comp_near = near.copy()
    active = np.zeros(n, dtype=bool)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    inside = sites[(sites >= region.start) & (sites < region.end)]
    best_near_tss = _best_within(inside, starts, ends, values, distance)  # (TSS,) highest value within distance
    found_at = np.sort(best_near_tss)[::-1]
    rows, comps, far = [], 0, 0
    by_value = np.argsort(-values, kind="stable")
    length = max(len(region), 1)
    i = 0
    while i < n:
        level = values[by_value[i]]
        while i < n and values[by_value[i]] == level:
            k = int(by_value[i])
            active[k] = True
            comps += 1
            far += not comp_near[k]
            for other, joined in ((k - 1, touching[k]), (k + 1, touching[k + 1] if k + 1 <= n else False)):
                if 0 <= other < n and joined and active[other]:
                    a, b = find(k), find(other)
                    if a != b:
                        far -= (not comp_near[a]) + (not comp_near[b])
                        parent[b] = a
                        comp_near[a] = comp_near[a] or comp_near[b]
                        far += not comp_near[a]
                        comps -= 1
            i += 1
        found = int(np.searchsorted(-found_at, -level, side="right"))  # TSSs whose best nearby value >= level
        rows.append((float(level), comps, far, far / length * 100_000, found,
                     found / len(inside) if len(inside) else float("nan")))
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def _best_within(sites: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray,
                 distance: int) -> np.ndarray:
    """(TSS,) the highest value of the segments within ``distance`` of each site (-inf if none)."""
    out = np.full(len(sites), -np.inf)
    for j, p in enumerate(sites):
        lo = np.searchsorted(ends, p - distance, side="right")  # segments ending after p - distance
        hi = np.searchsorted(starts, p + distance, side="right")  # starting at or before p + distance
        if hi > lo:
            out[j] = values[lo:hi].max()
    return out


def threshold_for_rate(sweep: pd.DataFrame, rate: float) -> tuple[float, float]:
    """(threshold, its false calls per 100 kb): the lowest threshold reached, lowering it from the top,
    before false calls first exceed ``rate`` per 100 kb (the most sensitive calls within the budget).

    If even the highest threshold exceeds the rate, that threshold is returned with its rate.
    """
    if rate <= 0:
        raise InputError(f"the target false-call rate must be above 0 per 100 kb, got {rate:g}")
    if sweep.empty:
        raise InputError("no scored window in the region: nothing to calibrate on")
    over = np.flatnonzero(sweep["false_per_100kb"].to_numpy() > rate)
    last = (over[0] - 1) if len(over) else len(sweep) - 1
    last = max(int(last), 0)
    return float(sweep["threshold"].iloc[last]), float(sweep["false_per_100kb"].iloc[last])


def operating_point(sweep: pd.DataFrame, rate: float) -> pd.Series:
    """The sweep's row at the threshold :func:`threshold_for_rate` picks for ``rate`` (its calls, false
    calls, rate met, TSSs found, recall)."""
    threshold, _ = threshold_for_rate(sweep, rate)
    return sweep[sweep["threshold"] == threshold].iloc[0]


def recall_at_rates(sweep: pd.DataFrame, rates=(0.5, 1.0, 2.0)) -> list[dict]:
    """For each false-call rate: the threshold :func:`threshold_for_rate` picks, the rate met and the recall."""
    out = []
    for rate in rates:
        row = operating_point(sweep, rate)
        out.append({"target_false_per_100kb": rate, "threshold": float(row["threshold"]),
                    "false_per_100kb": float(row["false_per_100kb"]), "recall": float(row["recall"]),
                    "calls": int(row["calls"])})
    return out


# --- a scan's track (bedGraph or bigWig): its curve, operating points and summits -----------------
RATES = (0.5, 1.0, 2.0)  # false calls per 100 kb at which recall is read off a track's curve
SUMMIT_WITHIN = (100, 250, 500)  # summit-to-TSS distances whose shares are reported
TRACK_COLUMNS = ("chrom", "start", "end", "value")
BIGWIG_SUFFIXES = (".bw", ".bigwig")
BIGWIG_DECIMALS = 6  # bigWig values are float32 (about 7 digits); rounded so that 0.8 reads back as 0.8
_WHOLE = re.compile(r"[0-9]+")


def read_track(path: str | Path, region: Region) -> pd.DataFrame:
    """The intervals of a bedGraph (plain or gzip) or bigWig (``.bw``, ``.bigwig``) on ``region``'s contig.

    A bedGraph is ``chrom start end value`` per line (tabs or spaces), after optional ``track``,
    ``browser`` and ``#`` lines; coordinates 0-based, half-open. A bigWig's float32 values are rounded
    to :data:`BIGWIG_DECIMALS` decimals. Returns the rows overlapping
    ``region`` (columns :data:`TRACK_COLUMNS`), clipped to it and sorted by start.
    Raises InputError naming the file (and line) for a malformed line, overlapping intervals, or a
    file without the region's contig (suggesting ``chr20`` for ``20`` and back).
    """
    from seqformer.io._files import require_file

    path = require_file(path, allow_empty=True)
    if path.suffix.lower() in BIGWIG_SUFFIXES:
        frame = _read_bigwig(path, region)
    else:
        frame = _read_bedgraph(path, region)
    frame = frame[(frame["end"] > region.start) & (frame["start"] < region.end)]
    frame = frame.assign(start=frame["start"].clip(lower=region.start), end=frame["end"].clip(upper=region.end))
    frame = frame.sort_values("start", kind="stable").reset_index(drop=True)
    starts, ends = frame["start"].to_numpy(np.int64), frame["end"].to_numpy(np.int64)
    clash = np.flatnonzero(starts[1:] < ends[:-1])
    if len(clash):
        i = int(clash[0])
        raise InputError(f"intervals {region.chrom}:{starts[i]}-{ends[i]} and {region.chrom}:{starts[i + 1]}-"
                         f"{ends[i + 1]} overlap; a track gives each base one value", path=path)
    return frame


def _read_bedgraph(path: Path, region: Region) -> pd.DataFrame:
    """The rows of a bedGraph on ``region.chrom`` (every line checked); InputError naming file and line."""
    from seqformer.io._files import open_text

    contigs: dict[str, None] = {}
    chroms, starts, ends, values = [], [], [], []
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip() or line.startswith("#") or line.split(None, 1)[0] in ("track", "browser"):
                continue
            fields = line.split()
            if len(fields) != 4:
                raise InputError(f"line {number}: {len(fields)} columns, expected 4 (chrom start end value) "
                                 "in a bedGraph", path=path)
            chrom, start, end, value = fields
            for column, text in (("start", start), ("end", end)):
                if not _WHOLE.fullmatch(text):
                    raise InputError(f"line {number}: {column} {text!r} is not a whole number >= 0", path=path)
            if int(end) <= int(start):
                raise InputError(f"line {number}: end {end} is not above start {start}", path=path)
            try:
                number_value = float(value)
            except ValueError:
                number_value = float("nan")
            if not np.isfinite(number_value):
                raise InputError(f"line {number}: value {value!r} is not a finite number", path=path)
            contigs.setdefault(chrom)
            if chrom == region.chrom:
                chroms.append(chrom)
                starts.append(int(start))
                ends.append(int(end))
                values.append(number_value)
    if contigs and region.chrom not in contigs:
        raise InputError(missing_contig_message(region.chrom, list(contigs), path.name))
    return pd.DataFrame({"chrom": pd.Series(chroms, dtype=object), "start": np.asarray(starts, np.int64),
                         "end": np.asarray(ends, np.int64), "value": np.asarray(values, np.float64)})


def _read_bigwig(path: Path, region: Region) -> pd.DataFrame:
    """The intervals of a bigWig overlapping ``region``; InputError for an unreadable file or missing contig."""
    import pyBigWig

    try:
        handle = pyBigWig.open(str(path))
    except RuntimeError:
        handle = None
    if handle is None or not handle.isBigWig():
        raise InputError("not a readable bigWig file", path=path)
    try:
        contigs = handle.chroms()
        if region.chrom not in contigs:
            raise InputError(missing_contig_message(region.chrom, list(contigs), path.name))
        end = min(region.end, int(contigs[region.chrom]))
        rows = (handle.intervals(region.chrom, region.start, end) or ()) if end > region.start else ()
    finally:
        handle.close()
    rows = list(rows)
    return pd.DataFrame({"chrom": pd.Series([region.chrom] * len(rows), dtype=object),
                         "start": np.asarray([r[0] for r in rows], np.int64),
                         "end": np.asarray([r[1] for r in rows], np.int64),
                         "value": np.round(np.asarray([r[2] for r in rows], np.float64), BIGWIG_DECIMALS)})


def track_from_segments(chrom: str, segments) -> pd.DataFrame:
    """A scan's :class:`~seqformer.predict.scan.Segment` s as a track, the way ``predict promoters --bedgraph``
    writes one (:func:`seqformer.predict.scan.track_runs`: values rounded to ``TRACK_DECIMALS``,
    touching neighbours of equal value merged)."""
    from seqformer.predict.scan import track_runs

    starts, ends, values = [], [], []

    def keep(start: int, end: int, value: float) -> None:
        starts.append(start)
        ends.append(end)
        values.append(value)

    for _ in track_runs(segments, keep):
        pass
    return pd.DataFrame({"chrom": pd.Series([chrom] * len(starts), dtype=object),
                         "start": np.asarray(starts, np.int64), "end": np.asarray(ends, np.int64),
                         "value": np.asarray(values, np.float64)})


def calls_at(starts: np.ndarray, ends: np.ndarray, values: np.ndarray, threshold: float) -> pd.DataFrame:
    """The calls of a track at ``threshold``, each with its summit.

    Calls are maximal runs of touching segments with value >= ``threshold`` (as
    :func:`seqformer.predict.scan.call_peaks` makes them; segments sorted by start). A call's
    **summit** is the middle base, ``(start + end) // 2``, of its highest segment (the leftmost
    one on a tie).

    Returns:
        Columns ``start, end, peak, summit``, one row per call in start order.
    """
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    values = np.asarray(values, np.float64)
    keep = np.flatnonzero(values >= threshold)
    if len(keep) == 0:
        return pd.DataFrame({"start": np.zeros(0, np.int64), "end": np.zeros(0, np.int64),
                             "peak": np.zeros(0), "summit": np.zeros(0, np.int64)})
    new = np.ones(len(keep), dtype=bool)  # segment keep[i] starts a call
    new[1:] = (np.diff(keep) != 1) | (starts[keep[1:]] != ends[keep[:-1]])
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(keep)) - 1
    peaks, summits = np.empty(len(first)), np.empty(len(first), np.int64)
    for c, (a, b) in enumerate(zip(first, last)):
        run = keep[a:b + 1]
        top = run[int(np.argmax(values[run]))]
        peaks[c] = values[top]
        summits[c] = (starts[top] + ends[top]) // 2
    return pd.DataFrame({"start": starts[keep[first]], "end": ends[keep[last]], "peak": peaks, "summit": summits})


def nearest_tss_distance(positions: np.ndarray, tss: np.ndarray) -> np.ndarray:
    """(n,) bases from each position to the nearest of ``tss`` (0-based positions; inf when none)."""
    positions = np.asarray(positions, np.int64)
    sites = np.sort(np.asarray(tss, np.int64))
    if len(sites) == 0:
        return np.full(len(positions), np.inf)
    right = np.searchsorted(sites, positions, side="left")
    after = np.abs(sites[np.minimum(right, len(sites) - 1)] - positions)
    before = np.abs(positions - sites[np.maximum(right - 1, 0)])
    return np.minimum(after, before).astype(np.float64)


def summit_summary(distances: np.ndarray, within=SUMMIT_WITHIN) -> dict:
    """``calls``, ``median`` (bases) and ``within_<d>`` (share of calls with a summit <= d bases from a TSS);
    None where there is no call."""
    distances = np.asarray(distances, np.float64)
    n = len(distances)
    out = {"calls": n, "median": float(np.median(distances)) if n else None}
    for d in within:
        out[f"within_{d}"] = float((distances <= d).mean()) if n else None
    return out


@dataclass
class TrackEvaluation:
    """A scan track against annotated TSSs: the whole curve and the calls at a few false-call rates."""

    region: str  # samtools-style, 1-based inclusive
    distance: int  # bases allowed between a call and a TSS
    tss: int  # TSSs inside the region
    bases: int  # region length
    segments: int  # track intervals inside the region
    sweep: pd.DataFrame  # threshold_sweep's rows
    operating_points: list[dict]  # one per rate: threshold, rate met, recall and its CI, calls, summit distances
    found: list[np.ndarray] = field(default_factory=list)  # per rate: (TSS,) found at its threshold
    calls: list[pd.DataFrame] = field(default_factory=list)  # per rate: calls_at its threshold
    sites: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (TSS,) positions inside, sorted
    best_near: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (TSS,) highest value within distance

    def to_dict(self) -> dict:
        """Every field but the sweep."""
        return {"region": self.region, "distance": self.distance, "tss": self.tss, "bases": self.bases,
                "segments": self.segments, "operating_points": self.operating_points}


def evaluate_track(track: pd.DataFrame, tss: pd.DataFrame, region: Region, distance: int = 500,
                   rates=RATES, *, track_source: str = "the track",
                   tss_source: str = "the TSS BED") -> TrackEvaluation:
    """Read recall off a track's curve at each false-call rate of ``rates`` (per 100 kb).

    ``track`` has columns ``chrom, start, end, value`` (:func:`read_track`,
    :func:`track_from_segments`), non-overlapping. The sweep (:func:`threshold_sweep`) gives calls,
    false calls per 100 kb and recall at every threshold; the threshold for a rate is the lowest one
    reached before false calls first exceed it (:func:`threshold_for_rate`: the curve read from its
    strict end), so two tracks of one region are compared at the same false-call rates, each with
    its own threshold. At each threshold the calls' summits (:func:`calls_at`) are measured to the
    nearest TSS on the contig (:func:`summit_summary`). Raises InputError when nothing could be
    compared (:func:`check_scan_inputs`) or no interval lies in the region.
    """
    if distance < 0:
        raise ValueError(f"distance must be >= 0, got {distance}")
    check_scan_inputs(track, tss, region, calls_source=track_source, tss_source=tss_source)
    on = overlapping(track, region)
    on = on.sort_values("start", kind="stable")
    starts = on["start"].to_numpy(np.int64).clip(region.start, None)
    ends = on["end"].to_numpy(np.int64).clip(None, region.end)
    values = on["value"].to_numpy(np.float64)
    if len(starts) == 0:
        raise InputError(f"{track_source} has no interval in {region}: nothing to calibrate on")
    sites = np.sort(tss.loc[tss["chrom"] == region.chrom, "start"].to_numpy(np.int64))
    inside_sites = sites[(sites >= region.start) & (sites < region.end)]
    inside = len(inside_sites)
    sweep = threshold_sweep(starts, ends, values, sites, region, distance)
    best_near = _best_within(inside_sites, starts, ends, values, distance)  # (TSS,) found at t iff >= t
    points, call_sets = [], []
    for rate in rates:
        row = operating_point(sweep, rate)
        threshold, met = float(row["threshold"]), float(row["false_per_100kb"])
        calls = calls_at(starts, ends, values, threshold)
        call_sets.append(calls)
        points.append({"target_false_per_100kb": float(rate), "threshold": threshold, "false_per_100kb": met,
                       "met": bool(met <= rate), "calls": int(row["calls"]), "false_calls": int(row["false_calls"]),
                       "tss_found": int(row["tss_found"]), "recall": float(row["recall"]),
                       "recall_ci95": recall_interval(int(row["tss_found"]), inside),
                       "summit_to_tss": summit_summary(nearest_tss_distance(calls["summit"].to_numpy(), sites))})
    found = [best_near >= point["threshold"] for point in points]
    return TrackEvaluation(str(region), distance, inside, len(region), len(starts), sweep, points, found, call_sets,
                           inside_sites, best_near)


def recall_interval(found: int, total: int) -> list[float] | None:
    """The 95% Wilson interval of a recall of ``found`` of ``total`` TSSs; None (undefined) without TSSs.

    It treats the TSSs as independent draws at a fixed threshold, so it shows how far one region's count
    can move by chance, not the threshold's own uncertainty.
    """
    if total <= 0:
        return None
    from scipy.stats import binomtest

    interval = binomtest(found, total).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(interval.low), float(interval.high)]


def paired_recall(found: list[np.ndarray], other: list[np.ndarray], rates=RATES) -> list[dict]:
    """Two predictors' TSSs found at each rate, paired TSS by TSS: how many only one of them found and the
    two-sided exact McNemar p-value (a binomial test on those discordant TSSs; 1.0 when there are none)."""
    from scipy.stats import binomtest

    out = []
    for rate, a, b in zip(rates, found, other):
        only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
        p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
        out.append({"target_false_per_100kb": float(rate), "only_first": only_a, "only_second": only_b,
                    "both": int((a & b).sum()), "mcnemar_p": float(p)})
    return out


# --- the k-mer logistic regression as a scanner, beside a model's track ---------------------------
def kmer_scanner(data, k: int = 4, target: str = "promoter"):
    """A k-mer logistic regression trained on a data folder's train split, as a scan scorer.

    Returns ``(scorer, window, about)``: the scorer maps window strings to probabilities (as
    :mod:`seqformer.predict.scan` takes them), ``window`` is the data folder's, ``about`` says what
    was trained (k, C, training windows, the folder). The folder's only target, or ``target``.
    """
    from seqformer.data.windows import WindowData, check_both_classes, load_window_splits, read_window_data
    from seqformer.evaluation.baselines import KmerLogisticRegression

    if not isinstance(data, WindowData):
        data = read_window_data(data)
    targets = data.targets
    if len(targets) != 1 and target not in targets:
        raise InputError(f"the data folder has targets {list(targets)}; the scan baseline needs {target!r}",
                         path=data.path)
    column = 0 if len(targets) == 1 else targets.index(target)
    train = load_window_splits(data, ("train",))["train"]
    check_both_classes(train, "train", (targets[column],), data.path)
    fitted = KmerLogisticRegression(k=k).fit(train.seqs, train.labels[:, column])

    def scorer(seqs):
        return fitted.predict_proba(list(seqs))

    about = {"k": k, "C": fitted.C, "train_windows": len(train.seqs), "window": data.window,
             "data": str(Path(data.path).resolve()), "target": targets[column]}
    return scorer, data.window, about


def scan_track(scorer, genome, region: Region, window: int, stride: int | None = None, *, batch_size: int = 256,
               on_batch=None) -> pd.DataFrame:
    """Scan ``region`` with ``scorer`` as ``predict promoters`` scans with a model (tiles every ``stride``,
    default window // 2; both strands, the max of the two; mean over covering windows) and return the
    track (:func:`track_from_segments`)."""
    from seqformer.predict.scan import scan_segments
    from seqformer.predict.windows import check_tiling, tile

    stride = max(1, window // 2) if stride is None else stride
    check_tiling(region, window, stride)
    segments = scan_segments(scorer, tile(genome, region, window, stride), batch_size=batch_size, on_batch=on_batch)
    return track_from_segments(region.chrom, segments)
