"""A chromatin track model on a data folder's test split: window scores and per-base metrics.

Axes: N windows, M bases, T targets.

The model reads every test piece of the folder (:mod:`seqformer.data.peak_track`: the test split's
records, merged where they overlap) whole, on both strands averaged or forward only
(:func:`~seqformer.predict.base_tracks.base_tracks`), giving a per-base probability track per target.

- **Window scores** (:func:`bin_max`): a test window scores, for each target, the highest per-base
  probability of its central bin (``dataset.json``'s ``bin`` bases in the middle of its ``window``:
  the bases its label was read from), so the window report (AUROC/AUPRC per target beside the k-mer
  baseline) is the one a window model gets.
- **Per-base metrics** (:func:`per_base_metrics`): AUROC and AUPRC of each target over every base of
  the test pieces against the peaks (N bases left out).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from seqformer.data.peak_track import Piece, read_peak_track_data
from seqformer.data.windows import WindowData
from seqformer.errors import InputError
from seqformer.predict.base_tracks import base_tracks

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class PeakTrackScores:
    """What :func:`peak_track_scores` returns."""

    windows: np.ndarray  # (N, T) the test windows' scores, in row order
    per_base: dict[str, dict[str, float]]  # target -> auroc, auprc, positive and bases (the test pieces')


def bin_max(pieces: Sequence[Piece], tracks: Sequence[np.ndarray], chroms: Sequence[str], lo: np.ndarray,
            hi: np.ndarray) -> np.ndarray:
    """(N, T) the max of the per-base ``tracks`` (one (n, T) per piece) over bases [lo, hi) of each window's
    contig; pieces do not overlap. InputError when a window's bases are not all in the pieces."""
    by_chrom: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(pieces):
        by_chrom[p.chrom].append(i)
    starts = {c: np.array([pieces[i].start for i in idx]) for c, idx in by_chrom.items()}
    for c, idx in by_chrom.items():  # in start order
        order = np.argsort(starts[c], kind="stable")
        by_chrom[c], starts[c] = [idx[j] for j in order], starts[c][order]
    width = tracks[0].shape[1] if len(tracks) else 0
    out = np.full((len(lo), width), np.nan, dtype=np.float32)
    for n, (chrom, a, b) in enumerate(zip(chroms, lo, hi)):
        idx = by_chrom.get(str(chrom), [])
        j = int(np.searchsorted(starts.get(str(chrom), np.zeros(0)), a, side="right")) - 1
        covered, best = a, None
        while 0 <= j < len(idx) and covered < b:
            piece = pieces[idx[j]]
            if piece.start > covered or piece.end <= covered:
                break
            part = tracks[idx[j]][covered - piece.start:min(b, piece.end) - piece.start].max(axis=0)
            best = part if best is None else np.maximum(best, part)
            covered, j = min(b, piece.end), j + 1
        if covered < b or best is None:
            raise InputError(f"the window bases {chrom}:{a + 1}-{b} do not lie in the data folder's test "
                             f"sequence; was the folder built from other files?")
        out[n] = best
    return out


def per_base_metrics(pieces: Sequence[Piece], tracks: Sequence[np.ndarray], truth: Sequence[np.ndarray],
                     targets: Sequence[str]) -> dict[str, dict[str, float]]:
    """target -> AUROC, AUPRC, positive bases and bases over every non-N base of the pieces (NaN metrics for a
    target without both classes)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    keep = np.concatenate([np.frombuffer(p.seq.encode("ascii"), np.uint8) != ord("N") for p in pieces])
    probs = np.concatenate(tracks)[keep]  # (M, T)
    labels = np.concatenate(truth)[keep]
    out = {}
    for t, name in enumerate(targets):
        y = labels[:, t]
        both = 0 < y.sum() < len(y)
        out[name] = {"auroc": float(roc_auc_score(y, probs[:, t])) if both else float("nan"),
                     "auprc": float(average_precision_score(y, probs[:, t])) if both else float("nan"),
                     "positive": int(y.sum()), "bases": int(len(y))}
    return out


def peak_track_scores(model, data: WindowData, rows: pd.DataFrame, *, strands: str = "both", batch_size: int = 8,
                      device: torch.device | str = "cpu") -> PeakTrackScores:
    """Window scores of the test ``rows`` and per-base metrics of a chromatin track model (module docstring)."""
    track_data = read_peak_track_data(data, model.config.tile, model.config.k, task="a chromatin track model")
    test = track_data.pieces["test"]
    if not test:
        raise InputError("the data folder's test split holds no sequence", path=data.path)
    tracks = base_tracks(model, [p.seq for p in test], strands=strands, batch_size=batch_size, device=device)
    bin_size = int(data.meta.get("bin", data.window))
    lo = rows["start"].to_numpy(np.int64) + (data.window - bin_size) // 2  # as the window labels were read
    windows = bin_max(test, tracks, rows["chrom"].tolist(), lo, lo + bin_size)
    truth = [track_data.targets_of(p).astype(np.uint8) for p in test]
    return PeakTrackScores(windows, per_base_metrics(test, tracks, truth, data.targets))
