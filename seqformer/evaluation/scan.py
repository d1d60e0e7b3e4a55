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
