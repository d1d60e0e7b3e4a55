"""Promoter calls split by CpG island: where a scanner's recall and its false calls come from.

Most human promoters with an annotated TSS lie at a CpG island, and a sequence model finds those
almost all; the TSSs away from islands are the hard part. Islands without an annotated TSS are
where a scanner's "false" calls gather (many are promoters of unannotated transcripts). This module
reads both off one call set, so that a recall figure can be split into the two kinds of promoter and
a false-call rate into calls at islands and calls elsewhere.

Coordinates are 0-based, half-open, as in :mod:`seqformer.evaluation.scan`. With ``d`` the distance
allowed between a call and a TSS:

- a TSS is **at an island** when some island lies within ``d`` of it (the gap between the TSS and
  the island's nearest base is <= ``d``), else **elsewhere**;
- a false call (no TSS within ``d``) is **at an island** when some island lies within ``d`` of it;
- an island **without a TSS** has no TSS of the contig within ``d``; their number per 100 kb is the
  share of a false-call budget that a scanner calling every island would spend on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from seqformer.errors import InputError
from seqformer.evaluation.scan import intervals_meet, recall_interval
from seqformer.io.regions import Region, missing_contig_message


def _contigs(islands: pd.DataFrame, source: str) -> list[str]:
    """The island BED's contigs in file order; InputError naming ``source`` when it holds no interval."""
    if len(islands) == 0:
        raise InputError(f"{source} has no interval; the split by CpG island needs them")
    return list(dict.fromkeys(islands["chrom"]))


def island_intervals(islands: pd.DataFrame, region: Region, source: str = "the CpG island BED") -> pd.DataFrame:
    """The islands on ``region``'s contig (columns ``start, end``, sorted); InputError for an empty file or
    one without the contig (suggesting ``chr20`` for ``20`` and back)."""
    contigs = _contigs(islands, source)
    if region.chrom not in contigs:
        raise InputError(missing_contig_message(region.chrom, contigs, source))
    on = islands.loc[islands["chrom"] == region.chrom, ["start", "end"]]
    return on.sort_values("start", kind="stable").reset_index(drop=True)


def _stratum(found: np.ndarray) -> dict:
    """TSSs, found, recall and its Wilson interval (None without TSSs) of one stratum."""
    total, hits = len(found), int(found.sum())
    return {"tss": total, "found": hits, "recall": hits / total if total else None,
            "recall_ci95": recall_interval(hits, total)}


def split_by_islands(call_starts: np.ndarray, call_ends: np.ndarray, tss: np.ndarray, islands: pd.DataFrame,
                     region: Region, distance: int = 500) -> dict:
    """One call set's recall and false calls, at CpG islands and elsewhere.

    Args:
        call_starts, call_ends: the calls (0-based, half-open) overlapping ``region``.
        tss: 0-based TSS positions on the region's contig (those outside the region only make calls near
            them not false, as in :func:`seqformer.evaluation.scan.evaluate_calls`).
        islands: :func:`island_intervals` of the region's contig.
        region: the scanned region; distance: bases allowed between a call and a TSS or an island.

    Returns:
        ``at_islands`` and ``elsewhere`` (each ``tss, found, recall, recall_ci95``; recall None without
        TSSs) and ``false_calls_at_islands``, ``false_calls_elsewhere``.
    """
    sites = np.sort(np.asarray(tss, np.int64))
    inside = sites[(sites >= region.start) & (sites < region.end)]
    isl_starts, isl_ends = islands["start"].to_numpy(np.int64), islands["end"].to_numpy(np.int64)
    at_island = intervals_meet(inside, inside + 1, isl_starts, isl_ends, distance)
    found = intervals_meet(inside, inside + 1, call_starts, call_ends, distance)
    false = ~intervals_meet(call_starts, call_ends, sites, sites + 1, distance)
    false_at = intervals_meet(np.asarray(call_starts)[false], np.asarray(call_ends)[false], isl_starts, isl_ends,
                              distance)
    return {"at_islands": _stratum(found[at_island]), "elsewhere": _stratum(found[~at_island]),
            "false_calls_at_islands": int(false_at.sum()), "false_calls_elsewhere": int((~false_at).sum())}


def island_summary(islands: pd.DataFrame, tss: np.ndarray, region: Region, distance: int = 500) -> dict:
    """The islands overlapping ``region``: how many, how many have no TSS of the contig within ``distance``,
    and those per 100 kb of the region."""
    starts, ends = islands["start"].to_numpy(np.int64), islands["end"].to_numpy(np.int64)
    keep = (ends > region.start) & (starts < region.end)
    sites = np.sort(np.asarray(tss, np.int64))
    without = ~intervals_meet(starts[keep], ends[keep], sites, sites + 1, distance)
    return {"in_region": int(keep.sum()), "without_tss": int(without.sum()),
            "without_tss_per_100kb": float(without.sum()) / max(len(region), 1) * 100_000}


def split_track_by_islands(evaluation, tss: pd.DataFrame, islands: pd.DataFrame, region: Region) -> list[dict]:
    """:func:`split_by_islands` of the calls at each operating point of a
    :class:`~seqformer.evaluation.scan.TrackEvaluation` (one dict per rate, in its order)."""
    sites = tss.loc[tss["chrom"] == region.chrom, "start"].to_numpy(np.int64)
    return [split_by_islands(calls["start"].to_numpy(np.int64), calls["end"].to_numpy(np.int64), sites, islands,
                             region, evaluation.distance) for calls in evaluation.calls]


def windows_at_islands(rows: pd.DataFrame, islands: pd.DataFrame, source: str | None = None) -> np.ndarray:
    """(N,) whether each window of a data folder's rows (``chrom, start, end``) overlaps a CpG island.

    Windows without coordinates (``.``, shuffled sequences) are never at an island. InputError for an
    empty island BED, or one sharing no contig with the windows (suggesting ``chr20`` for ``20``), naming
    ``source`` (default: the frame's ``attrs["source"]``, else "the CpG island BED").
    """
    source = source or islands.attrs.get("source", "the CpG island BED")
    contigs = _contigs(islands, source)
    chroms = rows["chrom"].astype(str).to_numpy()
    placed = sorted(set(chroms) - {"."})
    if placed and not set(placed) & set(contigs):
        raise InputError(missing_contig_message(placed[0], contigs, source))
    starts, ends = rows["start"].to_numpy(np.int64), rows["end"].to_numpy(np.int64)
    out = np.zeros(len(rows), dtype=bool)
    for chrom in placed:
        on = chroms == chrom
        isl = islands[islands["chrom"] == chrom]
        out[on] = intervals_meet(starts[on], ends[on], isl["start"].to_numpy(np.int64), isl["end"].to_numpy(np.int64),
                                 0)
    return out


def _tss_at_islands(evaluation, islands: pd.DataFrame) -> np.ndarray:
    """(TSS,) whether each TSS of a track evaluation lies within its distance of an island."""
    sites = evaluation.sites
    return intervals_meet(sites, sites + 1, islands["start"].to_numpy(np.int64), islands["end"].to_numpy(np.int64),
                          evaluation.distance)


def stratum_sweeps(evaluation, islands: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The curve of a :class:`~seqformer.evaluation.scan.TrackEvaluation` for each stratum of TSSs.

    Returns ``at_islands`` and ``elsewhere``, each with the sweep's ``threshold`` and ``false_per_100kb``
    (false calls count over all calls) and ``tss_found`` and ``recall`` of that stratum's TSSs at each
    threshold (recall NaN for a stratum without TSSs): a TSS is found at threshold t when its best value
    within the distance is >= t.
    """
    return _sweeps_by_mask(evaluation, _tss_at_islands(evaluation, islands))


def _sweeps_by_mask(evaluation, at: np.ndarray) -> dict[str, pd.DataFrame]:
    """:func:`stratum_sweeps` given the (TSS,) at-island mask."""
    thresholds = evaluation.sweep["threshold"].to_numpy(np.float64)
    out = {}
    for stratum, mask in (("at_islands", at), ("elsewhere", ~at)):
        best = np.sort(evaluation.best_near[mask])  # ascending
        found = len(best) - np.searchsorted(best, thresholds, side="left")  # best >= threshold
        recall = found / len(best) if len(best) else np.full(len(thresholds), np.nan)
        out[stratum] = pd.DataFrame({"threshold": thresholds,
                                     "false_per_100kb": evaluation.sweep["false_per_100kb"].to_numpy(np.float64),
                                     "tss_found": found, "recall": recall})
    return out


def stratum_curves(evaluations, islands: pd.DataFrame) -> tuple[dict, dict, dict]:
    """What :func:`seqformer.figures.scan.plot_island_curves` draws for some predictors' track evaluations.

    Returns:
        ``(sweeps, points, tss)``: stratum → predictor → :func:`stratum_sweeps`' curve; stratum → predictor
        → operating points with the stratum's recall (None without TSSs); stratum → its TSSs.
    """
    sweeps: dict = {"at_islands": {}, "elsewhere": {}}
    points: dict = {"at_islands": {}, "elsewhere": {}}
    tss: dict = {}
    for name, evaluation in evaluations.items():
        at = _tss_at_islands(evaluation, islands)
        for stratum, curve in _sweeps_by_mask(evaluation, at).items():
            mask = at if stratum == "at_islands" else ~at
            sweeps[stratum][name] = curve
            tss[stratum] = int(mask.sum())
            points[stratum][name] = [{"target_false_per_100kb": point["target_false_per_100kb"],
                                      "false_per_100kb": point["false_per_100kb"],
                                      "recall": float(found[mask].mean()) if mask.any() else None}
                                     for point, found in zip(evaluation.operating_points, evaluation.found)]
    return sweeps, points, tss
