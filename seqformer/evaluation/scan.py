"""Promoter calls against annotated TSSs: sensitivity, precision and false calls per 100 kb.

Coordinates are 0-based, half-open. A TSS is the ``start`` of its BED row (one base). The distance
from a call ``[s, e)`` to a TSS at ``p`` is 0 when ``s <= p < e``, else the gap to the nearest base
of the call (``s - p`` or ``p - (e - 1)``); "within ``distance``" means that gap is <= ``distance``.

- **sensitivity**: TSSs inside the region with a call within ``distance`` / TSSs inside the region.
- **precision**: calls within ``distance`` of a TSS / all calls. Calls are those overlapping the region;
  every TSS on the contig counts here, so a call just beside a TSS outside the region is not false.
- **false calls per 100 kb**: calls farther than ``distance`` from every TSS, per 100,000 region bases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

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


def _near(positions: np.ndarray, starts: np.ndarray, ends: np.ndarray, distance: int) -> np.ndarray:
    """For each position, whether some interval ``[start, end)`` lies within ``distance`` of it."""
    if len(starts) == 0:
        return np.zeros(len(positions), dtype=bool)
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    reach = np.maximum.accumulate(ends - 1)  # furthest last base among intervals sorted by start
    count = np.searchsorted(starts, positions + distance, side="right")  # intervals starting <= p + d
    found = np.zeros(len(positions), dtype=bool)
    has = count > 0
    found[has] = reach[count[has] - 1] >= positions[has] - distance
    return found


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
    on = calls[(calls["chrom"] == region.chrom) & (calls["end"] > region.start) & (calls["start"] < region.end)]
    starts, ends = on["start"].to_numpy(np.int64), on["end"].to_numpy(np.int64)
    all_tss = np.sort(tss.loc[tss["chrom"] == region.chrom, "start"].to_numpy(np.int64))
    inside = all_tss[(all_tss >= region.start) & (all_tss < region.end)]

    found = _near(inside, starts, ends, distance)
    # a call is near a TSS when some TSS p satisfies s - d <= p <= e - 1 + d
    first = np.searchsorted(all_tss, starts - distance, side="left")
    near = (first < len(all_tss)) & (all_tss[np.minimum(first, max(len(all_tss) - 1, 0))] <= ends - 1 + distance) \
        if len(all_tss) else np.zeros(len(starts), dtype=bool)
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
    near = _near_any(starts, ends, sites, distance)  # (n,) segment within distance of a TSS
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


def _near_any(starts: np.ndarray, ends: np.ndarray, sites: np.ndarray, distance: int) -> np.ndarray:
    """(n,) whether some site p satisfies start - distance <= p <= end - 1 + distance."""
    if len(sites) == 0:
        return np.zeros(len(starts), dtype=bool)
    first = np.searchsorted(sites, starts - distance, side="left")
    return (first < len(sites)) & (sites[np.minimum(first, len(sites) - 1)] <= ends - 1 + distance)


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


def recall_at_rates(sweep: pd.DataFrame, rates=(0.5, 1.0, 2.0)) -> list[dict]:
    """For each false-call rate: the threshold :func:`threshold_for_rate` picks, the rate met and the recall."""
    out = []
    for rate in rates:
        threshold, met = threshold_for_rate(sweep, rate)
        row = sweep[sweep["threshold"] == threshold].iloc[0]
        out.append({"target_false_per_100kb": rate, "threshold": threshold, "false_per_100kb": met,
                    "recall": float(row["recall"]), "calls": int(row["calls"])})
    return out
